//! Quiet hours: whether a notification goes out now or is held until they end, and the merge of
//! everything held into one message.
//!
//! Time zones: a customer's quiet hours are wall-clock times read in one fixed UTC offset stored
//! with the preference (the portal sends the browser's current offset when the settings are
//! saved). A fixed offset keeps this crate free of a time-zone database; the price is that a
//! daylight-saving change shifts the window by an hour until the customer saves settings again.

use time::{Duration, OffsetDateTime, Time, UtcOffset};

use crate::message::{Notification, Summary, SummaryKind};

/// A daily window, `start` inclusive to `end` exclusive, in `offset`. A window whose end is not
/// after its start runs over midnight (22:00 to 07:00); `start == end` is an empty window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: Time,
    pub end: Time,
    pub offset: UtcOffset,
}

/// What to do with a notification now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    DeliverNow,
    /// Hold it; release everything held at this instant (the window's end, in the customer's
    /// offset).
    HoldUntil(OffsetDateTime),
}

impl QuietHours {
    pub fn decide(&self, now: OffsetDateTime) -> Decision {
        let local = now.to_offset(self.offset);
        let (date, t) = (local.date(), local.time());
        let end_on = |days: i64| {
            (date + Duration::days(days))
                .with_time(self.end)
                .assume_offset(self.offset)
        };
        if self.start < self.end {
            if self.start <= t && t < self.end {
                return Decision::HoldUntil(end_on(0));
            }
        } else if self.start > self.end {
            if t >= self.start {
                return Decision::HoldUntil(end_on(1));
            }
            if t < self.end {
                return Decision::HoldUntil(end_on(0));
            }
        }
        Decision::DeliverNow
    }
}

/// The one message that releases what was held between `from` and `until`: each event once
/// (a retried job may have held one twice), oldest first. `None` when nothing was held.
pub fn release_held(
    from: OffsetDateTime,
    until: OffsetDateTime,
    link: impl Into<String>,
    held: impl IntoIterator<Item = Notification>,
) -> Option<Summary> {
    let mut items: Vec<Notification> = held.into_iter().collect();
    items.sort_by_key(|n| (n.occurred_at, n.event_id));
    items.dedup_by_key(|n| n.event_id);
    if items.is_empty() {
        return None;
    }
    Some(Summary {
        kind: SummaryKind::QuietHoursRelease,
        from,
        until,
        items,
        link: link.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fixtures::arrival;
    use time::macros::{datetime, offset, time};

    fn night() -> QuietHours {
        QuietHours {
            start: time!(22:00),
            end: time!(07:00),
            offset: offset!(+01:00),
        }
    }

    #[test]
    fn a_window_over_midnight_holds_until_the_next_morning_in_the_customers_offset() {
        // 21:30 UTC is 22:30 at +01:00.
        assert_eq!(
            night().decide(datetime!(2026-11-25 21:30 UTC)),
            Decision::HoldUntil(datetime!(2026-11-26 07:00 +01:00))
        );
        // 02:00 UTC is 03:00 local, the same night.
        assert_eq!(
            night().decide(datetime!(2026-11-26 02:00 UTC)),
            Decision::HoldUntil(datetime!(2026-11-26 07:00 +01:00))
        );
    }

    #[test]
    fn the_window_includes_its_start_and_excludes_its_end() {
        assert!(matches!(
            night().decide(datetime!(2026-11-25 22:00 +01:00)),
            Decision::HoldUntil(_)
        ));
        assert_eq!(
            night().decide(datetime!(2026-11-26 07:00 +01:00)),
            Decision::DeliverNow
        );
        assert_eq!(
            night().decide(datetime!(2026-11-26 21:59:59 +01:00)),
            Decision::DeliverNow
        );
    }

    #[test]
    fn a_window_within_one_day_holds_until_its_end_the_same_day() {
        let siesta = QuietHours {
            start: time!(13:00),
            end: time!(15:30),
            offset: offset!(-05:00),
        };
        assert_eq!(
            siesta.decide(datetime!(2026-11-25 19:00 UTC)),
            Decision::HoldUntil(datetime!(2026-11-25 15:30 -05:00))
        );
        assert_eq!(
            siesta.decide(datetime!(2026-11-25 17:59 UTC)),
            Decision::DeliverNow
        );
        assert_eq!(
            siesta.decide(datetime!(2026-11-25 20:30 UTC)),
            Decision::DeliverNow
        );
    }

    #[test]
    fn an_empty_window_never_holds() {
        let off = QuietHours {
            start: time!(08:00),
            end: time!(08:00),
            offset: UtcOffset::UTC,
        };
        assert_eq!(
            off.decide(datetime!(2026-11-25 08:00 UTC)),
            Decision::DeliverNow
        );
    }

    #[test]
    fn what_was_held_is_released_once_per_event_oldest_first() {
        let early = arrival(datetime!(2026-11-25 23:10 +01:00));
        let late = arrival(datetime!(2026-11-26 05:40 +01:00));
        let summary = release_held(
            datetime!(2026-11-25 22:00 +01:00),
            datetime!(2026-11-26 07:00 +01:00),
            "http://x/gallery",
            vec![late.clone(), early.clone(), late.clone()],
        )
        .expect("held");
        assert_eq!(summary.items, vec![early, late]);
        assert_eq!(summary.title(), "During quiet hours: 2 mail pieces");
    }

    #[test]
    fn nothing_held_releases_nothing() {
        let t = datetime!(2026-11-26 07:00 UTC);
        assert_eq!(release_held(t, t, "http://x", Vec::new()), None);
    }
}
