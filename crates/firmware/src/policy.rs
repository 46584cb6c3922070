//! Pure decisions of the wake cycle: whether to connect, and what an answer means for the data
//! that was sent. No IO; the wake cycle applies them.

use smartbox_protocol::DeviceConfig;

use crate::link::Backoff;

/// Deep-sleep timer period: the device wakes this often to do local work.
pub const TIMER_WAKE_MS: u64 = 30 * 60 * 1_000;
/// Spacing of link-failure retries on timer wakes: 5 min doubling to 6 h.
pub const FAILURE_HOLD: Backoff = Backoff {
    base_ms: 5 * 60 * 1_000,
    max_ms: 6 * 3_600 * 1_000,
};
/// Wait after a 429 without `Retry-After`.
pub const DEFAULT_RETRY_AFTER_S: u32 = 3_600;

/// Why the device woke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The IR sensor saw mail.
    Mail,
    /// The 30-minute timer.
    Timer,
}

/// State kept across deep sleep (RTC memory on the board).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holds {
    /// No upload before this (the server said 402, 429 or kept refusing our signature).
    pub server_hold_until_ms: u64,
    /// Timer wakes do not retry a failed link before this.
    pub link_retry_at_ms: u64,
    /// Wakes in a row whose link or uploads failed.
    pub failures: u32,
    /// When the last heartbeat was answered.
    pub last_checkin_ms: Option<u64>,
}

/// Whether this wake connects. Mail wakes connect unless the server asked us to hold off;
/// timer wakes connect only when a check-in is due or the SD queue holds events, and not before
/// a failed link's retry time.
pub fn should_connect(
    wake: Wake,
    now_ms: u64,
    holds: &Holds,
    config: &DeviceConfig,
    queued: u32,
) -> bool {
    if now_ms < holds.server_hold_until_ms {
        return false;
    }
    match wake {
        Wake::Mail => true,
        Wake::Timer => {
            let interval_ms = u64::from(config.checkin_interval_s) * 1_000;
            let checkin_due = holds
                .last_checkin_ms
                .is_none_or(|last| now_ms.saturating_sub(last) >= interval_ms);
            (checkin_due || queued > 0) && now_ms >= holds.link_retry_at_ms
        }
    }
}

/// What an HTTP status means for an event or photo upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Stored by the server (new or already there).
    Done,
    /// Keep it on SD and try at a later wake; hold uploads until the given time if set.
    Keep {
        /// No upload before this.
        hold_until_ms: Option<u64>,
    },
    /// The server understood the request and said why it will never take it (400 not a JPEG,
    /// 413 too large, 404 unknown event, each with the API's JSON error body): drop it, so one
    /// bad record cannot block the queue forever.
    Drop,
}

/// The verdict on an upload answered with `status` (401 is handled by the caller first: it
/// resyncs the clock and retries once before treating it as `Keep`). `explained` says whether
/// the answer's body is the API's JSON error (`{"error": "<code>", ...}`): only such a 4xx
/// proves a permanent refusal. A 4xx without it comes from a request mangled on the way (a byte
/// lost on the UART: no such route, no such method) or from a status the modem's report
/// mangled; the same request sent again may well succeed, so it is kept.
pub fn verdict(
    status: u16,
    retry_after_s: Option<u32>,
    explained: bool,
    now_ms: u64,
    config: &DeviceConfig,
) -> Verdict {
    match status {
        200..=299 => Verdict::Done,
        // Suspended: nothing will be accepted before the customer pays; look again at the next
        // check-in (the heartbeat tells us the service state).
        402 => Verdict::Keep {
            hold_until_ms: Some(now_ms + u64::from(config.checkin_interval_s) * 1_000),
        },
        429 => {
            let wait_s = retry_after_s.unwrap_or(DEFAULT_RETRY_AFTER_S);
            Verdict::Keep {
                hold_until_ms: Some(now_ms + u64::from(wait_s) * 1_000),
            }
        }
        401 | 408 => Verdict::Keep {
            hold_until_ms: None,
        },
        400..=499 if explained => Verdict::Drop,
        _ => Verdict::Keep {
            hold_until_ms: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    fn config() -> DeviceConfig {
        DeviceConfig::default()
    }

    #[test]
    fn mail_wakes_connect_unless_the_server_holds_us_off() {
        let holds = Holds {
            link_retry_at_ms: 10 * HOUR,
            ..Holds::default()
        };
        assert!(should_connect(Wake::Mail, HOUR, &holds, &config(), 0));
        let held = Holds {
            server_hold_until_ms: 2 * HOUR,
            ..Holds::default()
        };
        assert!(!should_connect(Wake::Mail, HOUR, &held, &config(), 0));
        assert!(should_connect(Wake::Mail, 2 * HOUR, &held, &config(), 0));
    }

    #[test]
    fn timer_wakes_connect_every_checkin_interval() {
        let holds = Holds {
            last_checkin_ms: Some(HOUR),
            ..Holds::default()
        };
        assert!(!should_connect(
            Wake::Timer,
            HOUR + 30 * 60_000,
            &holds,
            &config(),
            0
        ));
        assert!(!should_connect(
            Wake::Timer,
            7 * HOUR - 1,
            &holds,
            &config(),
            0
        ));
        assert!(should_connect(Wake::Timer, 7 * HOUR, &holds, &config(), 0));
        let fresh = DeviceConfig {
            checkin_interval_s: 1_800,
            ..config()
        };
        assert!(should_connect(
            Wake::Timer,
            HOUR + 30 * 60_000,
            &holds,
            &fresh,
            0
        ));
    }

    #[test]
    fn timer_wakes_connect_when_the_queue_holds_events_or_nothing_was_ever_sent() {
        let holds = Holds {
            last_checkin_ms: Some(HOUR),
            ..Holds::default()
        };
        assert!(should_connect(
            Wake::Timer,
            HOUR + 60_000,
            &holds,
            &config(),
            1
        ));
        assert!(should_connect(
            Wake::Timer,
            0,
            &Holds::default(),
            &config(),
            0
        ));
    }

    #[test]
    fn timer_wakes_wait_for_the_link_retry_time() {
        let holds = Holds {
            last_checkin_ms: Some(0),
            link_retry_at_ms: 2 * HOUR,
            ..Holds::default()
        };
        assert!(!should_connect(Wake::Timer, HOUR, &holds, &config(), 3));
        assert!(should_connect(Wake::Timer, 2 * HOUR, &holds, &config(), 3));
    }

    #[test]
    fn verdicts_per_status() {
        let now = 1_000;
        assert_eq!(verdict(201, None, false, now, &config()), Verdict::Done);
        assert_eq!(verdict(200, None, false, now, &config()), Verdict::Done);
        assert_eq!(
            verdict(402, None, true, now, &config()),
            Verdict::Keep {
                hold_until_ms: Some(now + 21_600_000)
            }
        );
        assert_eq!(
            verdict(429, Some(60), true, now, &config()),
            Verdict::Keep {
                hold_until_ms: Some(now + 60_000)
            }
        );
        assert_eq!(
            verdict(429, None, true, now, &config()),
            Verdict::Keep {
                hold_until_ms: Some(now + HOUR)
            }
        );
        assert_eq!(
            verdict(503, None, true, now, &config()),
            Verdict::Keep {
                hold_until_ms: None
            }
        );
        assert_eq!(
            verdict(401, None, true, now, &config()),
            Verdict::Keep {
                hold_until_ms: None
            }
        );
        assert_eq!(verdict(400, None, true, now, &config()), Verdict::Drop);
        assert_eq!(verdict(413, None, true, now, &config()), Verdict::Drop);
    }

    /// Issue 13: a byte lost on the UART turned requests into 404s and 415s, or a 201 into a
    /// "20", and each was dropped from the SD queue for good.
    #[test]
    fn only_a_4xx_the_server_explains_drops_an_upload() {
        let now = 1_000;
        let retry = Verdict::Keep {
            hold_until_ms: None,
        };
        for status in [404, 405, 415, 400, 20, 21, 1, 0, 999, 601, 714] {
            assert_eq!(
                verdict(status, None, false, now, &config()),
                retry,
                "{status}"
            );
        }
        for status in [20, 601, 714, 999] {
            assert_eq!(
                verdict(status, None, true, now, &config()),
                retry,
                "{status}"
            );
        }
        assert_eq!(verdict(404, None, true, now, &config()), Verdict::Drop);
        assert_eq!(verdict(408, None, true, now, &config()), retry);
    }
}
