//! The SD queue as the wake cycle sees it: [`UploadQueue`], oldest event first.

use embedded_sdmmc::BlockDevice;
use smartbox_protocol::EventRequest;

use super::{QueueError, SdQueue};
use crate::ports::UploadQueue;

impl<D: BlockDevice, const N: usize> UploadQueue for SdQueue<D, N> {
    type Error = QueueError<D::Error>;

    async fn push(&mut self, event: &EventRequest, photos: &[&[u8]]) -> Result<(), Self::Error> {
        SdQueue::push(self, event, photos)
    }

    async fn pending(&mut self) -> Result<u32, Self::Error> {
        Ok(self.len() as u32)
    }

    async fn oldest(&mut self) -> Result<Option<EventRequest>, Self::Error> {
        Ok(SdQueue::oldest(self).map(|queued| queued.event))
    }

    /// The whole photo; `out` must hold it ([`QueueError::BufferTooSmall`] otherwise).
    async fn read_photo(&mut self, index: u8, out: &mut [u8]) -> Result<usize, Self::Error> {
        let oldest = SdQueue::oldest(self).ok_or(QueueError::Empty)?;
        let id = oldest.event.event_id;
        let len = oldest
            .photo_len(index)
            .ok_or(QueueError::UnknownEvent(id))? as usize;
        let target = out
            .get_mut(..len)
            .ok_or(QueueError::BufferTooSmall { needed: len as u32 })?;
        SdQueue::read_photo(self, id, index, 0, target)
    }

    async fn pop_oldest(&mut self) -> Result<(), Self::Error> {
        match SdQueue::oldest(self) {
            Some(oldest) => self.ack(oldest.event.event_id),
            None => Ok(()),
        }
    }
}
