//! The HTML and plain-text bodies of notification emails. Images are referenced by Content-ID;
//! `compose` attaches them.

use crate::message::{Notification, Outgoing, Summary};

/// The Content-ID of the n-th inline image (without angle brackets).
pub(crate) fn content_id(index: usize) -> String {
    format!("photo-{index}@smartbox")
}

pub(crate) fn text(outgoing: &Outgoing) -> String {
    match outgoing {
        Outgoing::Event(n) => format!(
            "{}\n\nSee the photos: {}\n\n{}",
            n.sentence(),
            n.link,
            FOOTER_TEXT
        ),
        Outgoing::Summary(s) => {
            let mut body = format!("{}\n\n", s.sentence());
            if s.items.is_empty() {
                body.push_str("No mail.\n");
            }
            for item in &s.items {
                body.push_str(&format!(
                    "- {}\n  {}\n",
                    Summary::item_line(item),
                    item.link
                ));
            }
            body.push_str(&format!("\nAll photos: {}\n\n{}", s.link, FOOTER_TEXT));
            body
        }
    }
}

/// The HTML body; the n-th item with a thumbnail shows `cid:` [`content_id`]`(n)`, numbered over
/// the items that have one, in order.
pub(crate) fn html(outgoing: &Outgoing) -> String {
    let mut images = 0;
    let mut image = |n: &Notification| {
        n.thumbnail.as_ref().map(|_| {
            let cid = content_id(images);
            images += 1;
            format!(
                r#"<a href="{}"><img src="cid:{cid}" alt="Photo of the mail" width="320" style="max-width:100%;border-radius:6px"></a>"#,
                escape(&n.link)
            )
        })
    };
    let content = match outgoing {
        Outgoing::Event(n) => format!(
            r#"<h1 style="font-size:20px">{}</h1><p>{}</p>{}<p><a href="{}">See the photos</a></p>"#,
            escape(&n.title()),
            escape(&n.sentence()),
            image(n).unwrap_or_default(),
            escape(&n.link)
        ),
        Outgoing::Summary(s) => {
            let mut rows = String::new();
            for item in &s.items {
                rows.push_str(&format!(
                    r#"<tr><td style="padding:8px 0">{}<p><a href="{}">{}</a></p></td></tr>"#,
                    image(item).unwrap_or_default(),
                    escape(&item.link),
                    escape(&Summary::item_line(item))
                ));
            }
            if s.items.is_empty() {
                rows.push_str("<tr><td>No mail.</td></tr>");
            }
            format!(
                r#"<h1 style="font-size:20px">{}</h1><p>{}</p><table role="presentation">{rows}</table><p><a href="{}">All photos</a></p>"#,
                escape(&s.title()),
                escape(&s.sentence()),
                escape(&s.link)
            )
        }
    };
    format!(
        r#"<!doctype html><html><body style="font-family:sans-serif;color:#222">{content}<p style="color:#777;font-size:12px">{FOOTER_TEXT}</p></body></html>"#
    )
}

const FOOTER_TEXT: &str =
    "You get this because email notifications are on for this mailbox; change it in Settings.";

fn escape(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fixtures::*;
    use time::Duration;

    #[test]
    fn a_mailbox_name_cannot_inject_html() {
        let mut n = arrival(morning());
        n.mailbox_name = "<script>alert(1)</script>".into();
        let body = html(&Outgoing::Event(n));
        assert!(!body.contains("<script>"));
        assert!(body.contains("&lt;script&gt;"));
    }

    #[test]
    fn a_summary_numbers_its_images_over_the_items_that_have_one() {
        let mut without = arrival(morning() - Duration::hours(2));
        without.thumbnail = None;
        let items = vec![
            arrival(morning() - Duration::hours(3)),
            without,
            arrival(morning() - Duration::hours(1)),
        ];
        let digest = Summary::morning_digest(morning(), "http://x/gallery", items);
        let body = html(&Outgoing::Summary(digest));
        assert!(body.contains("cid:photo-0@smartbox"));
        assert!(body.contains("cid:photo-1@smartbox"));
        assert!(!body.contains("cid:photo-2@smartbox"));
    }
}
