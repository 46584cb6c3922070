//! Building the MIME message: `multipart/alternative` of the text and a `multipart/related`
//! holding the HTML and its inline thumbnails, each with a Content-ID the HTML refers to.

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

use super::html;
use crate::delivery::DeliveryId;
use crate::message::{Notification, Outgoing};

/// The message for one delivery. Its Message-ID is the delivery key, so a copy sent again by a
/// retried job is recognisably the same message.
pub fn compose(
    from: &Mailbox,
    to: &Mailbox,
    key: DeliveryId,
    outgoing: &Outgoing,
) -> Result<Message, lettre::error::Error> {
    let thumbnails: Vec<&[u8]> = items(outgoing)
        .filter_map(|n| n.thumbnail.as_ref().map(|t| t.as_bytes()))
        .collect();
    let text = SinglePart::plain(html::text(outgoing));
    let html_part = SinglePart::html(html::html(outgoing));
    let body = if thumbnails.is_empty() {
        MultiPart::alternative()
            .singlepart(text)
            .singlepart(html_part)
    } else {
        let jpeg = ContentType::parse("image/jpeg").unwrap_or(ContentType::TEXT_PLAIN);
        let related = thumbnails.into_iter().enumerate().fold(
            MultiPart::related().singlepart(html_part),
            |related, (index, bytes)| {
                related.singlepart(
                    Attachment::new_inline(html::content_id(index))
                        .body(bytes.to_vec(), jpeg.clone()),
                )
            },
        );
        MultiPart::alternative().singlepart(text).multipart(related)
    };
    Message::builder()
        .from(from.clone())
        .to(to.clone())
        .subject(outgoing.title())
        .message_id(Some(format!("<{key}@{}>", from.email.domain())))
        .multipart(body)
}

/// A plain-text message under the Message-ID `key`.
pub fn compose_text(
    from: &Mailbox,
    to: &Mailbox,
    key: DeliveryId,
    subject: &str,
    body: &str,
) -> Result<Message, lettre::error::Error> {
    Message::builder()
        .from(from.clone())
        .to(to.clone())
        .subject(subject)
        .message_id(Some(format!("<{key}@{}>", from.email.domain())))
        .singlepart(SinglePart::plain(body.to_owned()))
}

fn items(outgoing: &Outgoing) -> Box<dyn Iterator<Item = &Notification> + '_> {
    match outgoing {
        Outgoing::Event(n) => Box::new(std::iter::once(n)),
        Outgoing::Summary(s) => Box::new(s.items.iter()),
    }
}
