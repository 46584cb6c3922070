//! What is notified: one mail event ([`Notification`]), several at once ([`Summary`]: the morning
//! digest and the release of what quiet hours held), and the titles and lines every channel
//! renders from them.

use serde::{Deserialize, Serialize};
use smartbox_domain::{MailCategory, Serial};
use time::macros::format_description;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// What the device saw (the protocol's event kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    MailArrived,
    MailRemoved,
}

impl EventKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::MailArrived => "mail_arrived",
            EventKind::MailRemoved => "mail_removed",
        }
    }
}

/// JPEG bytes of a photo's thumbnail, checked to start with a JPEG SOI marker.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbnail(Vec<u8>);

impl Thumbnail {
    /// `None` when `bytes` is not a JPEG: mail clients would show a broken image.
    pub fn from_jpeg(bytes: Vec<u8>) -> Option<Thumbnail> {
        bytes
            .starts_with(&[0xFF, 0xD8, 0xFF])
            .then_some(Thumbnail(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Thumbnail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Thumbnail({} bytes)", self.0.len())
    }
}

/// One completed mail event, as the customer is told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub event_id: Uuid,
    pub serial: Serial,
    /// The name the customer gave the mailbox ("Front gate").
    pub mailbox_name: String,
    pub kind: EventKind,
    /// What arrived, when the photos told (a delivery's category).
    pub category: Option<MailCategory>,
    /// When the device saw it, already in the customer's UTC offset: channels print it as is.
    pub occurred_at: OffsetDateTime,
    /// The event's page in the portal (`SMARTBOX_PUBLIC_URL` + path).
    pub link: String,
    /// The first photo's thumbnail, when the event has photos and the thumbnail is made.
    pub thumbnail: Option<Thumbnail>,
}

impl Notification {
    pub fn title(&self) -> String {
        match (self.kind, self.category) {
            (EventKind::MailArrived, Some(category)) => {
                format!("{} arrived in {}", a_noun(category), self.mailbox_name)
            }
            (EventKind::MailArrived, None) => format!("Mail arrived in {}", self.mailbox_name),
            (EventKind::MailRemoved, _) => format!("Mail taken from {}", self.mailbox_name),
        }
    }

    /// One sentence for bodies and push notifications.
    pub fn sentence(&self) -> String {
        match (self.kind, self.category) {
            (EventKind::MailArrived, Some(category)) => format!(
                "{} arrived in {} at {}.",
                a_noun(category),
                self.mailbox_name,
                clock(self.occurred_at)
            ),
            (EventKind::MailArrived, None) => format!(
                "{} received mail at {}.",
                self.mailbox_name,
                clock(self.occurred_at)
            ),
            (EventKind::MailRemoved, _) => format!(
                "Mail was taken from {} at {}.",
                self.mailbox_name,
                clock(self.occurred_at)
            ),
        }
    }
}

/// "A package", "An envelope": the category with its article, capitalised.
fn a_noun(category: MailCategory) -> String {
    let noun = category.noun();
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "An"
    } else {
        "A"
    };
    format!("{article} {noun}")
}

/// Which several-at-once message a [`Summary`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryKind {
    /// Every mail piece of the last 24 hours, sent in the morning (like USPS Informed Delivery).
    MorningDigest,
    /// What quiet hours held, released as one message when they end.
    QuietHoursRelease,
}

/// Several notifications told in one message, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub kind: SummaryKind,
    pub from: OffsetDateTime,
    pub until: OffsetDateTime,
    pub items: Vec<Notification>,
    /// Where to see them all (the gallery).
    pub link: String,
}

impl Summary {
    /// The morning digest at `now`: mail arrivals of the 24 hours before `now`, oldest first.
    /// Removals are left out: the digest lists mail pieces.
    pub fn morning_digest(
        now: OffsetDateTime,
        link: impl Into<String>,
        events: impl IntoIterator<Item = Notification>,
    ) -> Summary {
        let from = now - Duration::hours(24);
        let mut items: Vec<Notification> = events
            .into_iter()
            .filter(|n| n.kind == EventKind::MailArrived)
            .filter(|n| n.occurred_at > from && n.occurred_at <= now)
            .collect();
        items.sort_by_key(|n| n.occurred_at);
        Summary {
            kind: SummaryKind::MorningDigest,
            from,
            until: now,
            items,
            link: link.into(),
        }
    }

    pub fn mail_pieces(&self) -> usize {
        self.items
            .iter()
            .filter(|n| n.kind == EventKind::MailArrived)
            .count()
    }

    pub fn title(&self) -> String {
        let pieces = self.mail_pieces();
        let plural = if pieces == 1 { "" } else { "s" };
        match self.kind {
            SummaryKind::MorningDigest => {
                format!("Your mail digest: {pieces} piece{plural} in the last 24 hours")
            }
            SummaryKind::QuietHoursRelease => {
                format!("During quiet hours: {pieces} mail piece{plural}")
            }
        }
    }

    /// The opening sentence.
    pub fn sentence(&self) -> String {
        match self.kind {
            SummaryKind::MorningDigest => format!(
                "Mail from {} to {}.",
                day_clock(self.from),
                day_clock(self.until)
            ),
            SummaryKind::QuietHoursRelease => format!(
                "We held these notifications during your quiet hours ({} to {}).",
                day_clock(self.from),
                day_clock(self.until)
            ),
        }
    }

    /// One line per item: "Tue 25 Nov 08:14 — Mail arrived in Front gate".
    pub fn item_line(item: &Notification) -> String {
        format!("{} — {}", day_clock(item.occurred_at), item.title())
    }
}

/// What one delivery sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Event(Notification),
    Summary(Summary),
}

impl Outgoing {
    pub fn title(&self) -> String {
        match self {
            Outgoing::Event(n) => n.title(),
            Outgoing::Summary(s) => s.title(),
        }
    }

    pub fn link(&self) -> &str {
        match self {
            Outgoing::Event(n) => &n.link,
            Outgoing::Summary(s) => &s.link,
        }
    }

    /// A short body for channels without room for a list (push).
    pub fn short_body(&self) -> String {
        match self {
            Outgoing::Event(n) => n.sentence(),
            Outgoing::Summary(s) => s.sentence(),
        }
    }
}

pub(crate) fn clock(t: OffsetDateTime) -> String {
    t.format(format_description!("[hour]:[minute]"))
        .unwrap_or_default()
}

pub(crate) fn day_clock(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[weekday repr:short] [day padding:none] [month repr:short] [hour]:[minute]"
    ))
    .unwrap_or_default()
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use time::macros::datetime;

    pub fn jpeg() -> Thumbnail {
        Thumbnail::from_jpeg(vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9]).unwrap()
    }

    pub fn arrival(at: OffsetDateTime) -> Notification {
        Notification {
            event_id: Uuid::from_u128(at.unix_timestamp() as u128),
            serial: Serial::parse("SB-0001").unwrap(),
            mailbox_name: "Front gate".into(),
            kind: EventKind::MailArrived,
            category: None,
            occurred_at: at,
            link: "http://127.0.0.1:8080/events/1".into(),
            thumbnail: Some(jpeg()),
        }
    }

    pub fn morning() -> OffsetDateTime {
        datetime!(2026-11-25 07:00 +01:00)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_thumbnail_must_be_a_jpeg() {
        assert!(Thumbnail::from_jpeg(b"\x89PNG\r\n".to_vec()).is_none());
        assert!(Thumbnail::from_jpeg(vec![0xFF, 0xD8, 0xFF, 0xDB]).is_some());
    }

    #[test]
    fn the_title_names_the_mailbox_and_the_sentence_the_local_time() {
        let n = arrival(datetime!(2026-11-25 08:14 +01:00));
        assert_eq!(n.title(), "Mail arrived in Front gate");
        assert_eq!(n.sentence(), "Front gate received mail at 08:14.");
    }

    #[test]
    fn a_delivery_read_from_the_photos_says_what_arrived() {
        let mut n = arrival(datetime!(2026-11-25 08:14 +01:00));
        n.category = Some(MailCategory::Package);
        assert_eq!(n.title(), "A package arrived in Front gate");
        assert_eq!(n.sentence(), "A package arrived in Front gate at 08:14.");
        n.category = Some(MailCategory::LargeEnvelope);
        assert_eq!(n.title(), "A large envelope arrived in Front gate");
    }

    #[test]
    fn the_digest_keeps_the_arrivals_of_the_last_24_hours_oldest_first() {
        let now = morning();
        let mut removed = arrival(now - Duration::hours(2));
        removed.kind = EventKind::MailRemoved;
        let events = vec![
            arrival(now - Duration::hours(3)),
            arrival(now - Duration::hours(25)),
            removed,
            arrival(now - Duration::hours(20)),
            arrival(now + Duration::minutes(1)),
        ];
        let digest = Summary::morning_digest(now, "http://x/gallery", events);
        let times: Vec<_> = digest.items.iter().map(|n| n.occurred_at).collect();
        assert_eq!(
            times,
            vec![now - Duration::hours(20), now - Duration::hours(3)]
        );
        assert_eq!(
            digest.title(),
            "Your mail digest: 2 pieces in the last 24 hours"
        );
        assert_eq!(
            Summary::item_line(&digest.items[0]),
            "Tue 24 Nov 11:00 — Mail arrived in Front gate"
        );
    }
}
