//! The upload queue the wake cycle gets: the SD card's journal, or nothing when the card is
//! missing or unreadable.
//!
//! A mailbox with a dead card must still deliver mail while it has a link, so a card failure
//! does not stop the wake: [`BoardQueue::Missing`] is empty and refuses pushes, and the core
//! counts such events as lost and reports the queue length as 0.

use embedded_sdmmc::BlockDevice;
use smartbox_firmware::ports::UploadQueue;
use smartbox_firmware::sd_queue::{QueueError, SdQueue};
use smartbox_protocol::EventRequest;

/// Why the queue could not serve a request.
#[derive(Debug)]
pub enum QueueFault<E: core::error::Error> {
    /// The SD journal failed.
    Sd(QueueError<E>),
    /// No card was mounted at boot.
    NoCard,
}

/// The SD journal, or its absence.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value for the whole wake, on the main task; there is no heap to box it on"
)]
pub enum BoardQueue<D: BlockDevice> {
    /// The journal on the card.
    Sd(SdQueue<D>),
    /// No card (or no FAT volume on it).
    Missing,
}

impl<D: BlockDevice> UploadQueue for BoardQueue<D> {
    type Error = QueueFault<D::Error>;

    async fn push(&mut self, event: &EventRequest, photos: &[&[u8]]) -> Result<(), Self::Error> {
        match self {
            Self::Sd(queue) => UploadQueue::push(queue, event, photos)
                .await
                .map_err(QueueFault::Sd),
            Self::Missing => Err(QueueFault::NoCard),
        }
    }

    async fn pending(&mut self) -> Result<u32, Self::Error> {
        match self {
            Self::Sd(queue) => UploadQueue::pending(queue).await.map_err(QueueFault::Sd),
            Self::Missing => Ok(0),
        }
    }

    async fn oldest(&mut self) -> Result<Option<EventRequest>, Self::Error> {
        match self {
            Self::Sd(queue) => UploadQueue::oldest(queue).await.map_err(QueueFault::Sd),
            Self::Missing => Ok(None),
        }
    }

    async fn read_photo(&mut self, index: u8, out: &mut [u8]) -> Result<usize, Self::Error> {
        match self {
            Self::Sd(queue) => UploadQueue::read_photo(queue, index, out)
                .await
                .map_err(QueueFault::Sd),
            Self::Missing => Err(QueueFault::NoCard),
        }
    }

    async fn pop_oldest(&mut self) -> Result<(), Self::Error> {
        match self {
            Self::Sd(queue) => UploadQueue::pop_oldest(queue).await.map_err(QueueFault::Sd),
            Self::Missing => Ok(()),
        }
    }
}
