//! Where records go in the ring: free space between the live region's end and its start.
//!
//! Records never straddle the end of the ring. When the next record does not fit before the end,
//! the writer puts a wrap record at `head` (if there is room for one) and continues at offset 0;
//! when fewer than [`MIN_RECORD_LEN`] bytes remain, both writer and reader continue at 0 without
//! a wrap record. The live region `[tail, head)` is never written into.

use super::record::MIN_RECORD_LEN;

/// The free space of a ring while records are being planned into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Space {
    pub capacity: u32,
    /// Start of the live region.
    pub tail: u32,
    /// Where the next record goes.
    pub head: u32,
    /// Whether anything is live; with `head == tail` this tells a full ring from an empty one.
    pub live: bool,
}

/// Where one record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    /// A wrap record to write first, at this offset.
    pub wrap_at: Option<u32>,
    /// The record's offset.
    pub at: u32,
}

impl Space {
    /// Places a record of `len` bytes after everything placed so far, or `None` when it would run
    /// into the live region. On success the space is updated as if the record were written.
    pub fn place(&mut self, len: u32) -> Option<Placement> {
        let wrapped = self.live && self.head <= self.tail;
        let end = if wrapped { self.tail } else { self.capacity };
        let placement = if self.head.checked_add(len)? <= end {
            Placement {
                wrap_at: None,
                at: self.head,
            }
        } else if wrapped {
            return None;
        } else if !self.live {
            // Nothing to keep: start over at 0. No wrap record is needed, since the superblock
            // written after these records points at them.
            if len > self.capacity {
                return None;
            }
            Placement {
                wrap_at: None,
                at: 0,
            }
        } else {
            // Continue at 0: everything before the live region's start is free.
            if len > self.tail {
                return None;
            }
            let room_for_wrap = self.head + MIN_RECORD_LEN <= self.capacity;
            Placement {
                wrap_at: room_for_wrap.then_some(self.head),
                at: 0,
            }
        };
        if !self.live {
            self.tail = placement.wrap_at.unwrap_or(placement.at);
            self.live = true;
        }
        self.head = placement.at + len;
        if self.head + MIN_RECORD_LEN > self.capacity {
            self.head = 0;
        }
        Some(placement)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty(capacity: u32, head: u32) -> Space {
        Space {
            capacity,
            tail: head,
            head,
            live: false,
        }
    }

    #[test]
    fn records_follow_each_other_from_the_head() {
        let mut space = empty(1000, 100);
        assert_eq!(
            space.place(50),
            Some(Placement {
                wrap_at: None,
                at: 100
            })
        );
        assert_eq!(
            space.place(60),
            Some(Placement {
                wrap_at: None,
                at: 150
            })
        );
        assert_eq!(space.head, 210);
        assert_eq!(space.tail, 100);
    }

    #[test]
    fn a_record_that_does_not_fit_before_the_end_wraps_with_a_marker() {
        let mut space = Space {
            capacity: 1000,
            tail: 500,
            head: 900,
            live: true,
        };
        assert_eq!(
            space.place(200),
            Some(Placement {
                wrap_at: Some(900),
                at: 0
            })
        );
        assert_eq!(space.head, 200);
    }

    #[test]
    fn a_record_may_not_run_into_the_tail_after_wrapping() {
        let mut space = Space {
            capacity: 1000,
            tail: 500,
            head: 900,
            live: true,
        };
        assert_eq!(space.place(501), None);
        assert_eq!(
            space.place(500).map(|p| p.at),
            Some(0),
            "exactly up to the tail fits"
        );
        assert_eq!(space.place(32), None, "the ring is now full");
    }

    #[test]
    fn in_a_wrapped_ring_only_the_gap_before_the_tail_is_free() {
        let mut space = Space {
            capacity: 1000,
            tail: 500,
            head: 100,
            live: true,
        };
        assert_eq!(space.place(401), None);
        assert_eq!(space.place(400).map(|p| p.at), Some(100));
    }

    #[test]
    fn near_the_end_the_head_continues_at_zero_without_a_marker() {
        let mut space = empty(1000, 0);
        space.place(980);
        assert_eq!(space.head, 0, "20 bytes cannot hold a record");
        let mut space = empty(1000, 0);
        space.place(968);
        assert_eq!(space.head, 968, "32 bytes can hold a wrap record");
    }

    #[test]
    fn an_empty_ring_starts_over_at_zero_for_a_record_as_long_as_itself() {
        let mut space = empty(1000, 700);
        assert_eq!(
            space.place(1000),
            Some(Placement {
                wrap_at: None,
                at: 0
            })
        );
        assert_eq!(space.tail, 0);
        assert_eq!(empty(1000, 700).place(1001), None);
    }

    #[test]
    fn a_wrap_record_is_never_overwritten_by_the_record_after_it() {
        for head in (0..1000).step_by(7) {
            for tail in (0..1000).step_by(13) {
                for len in [32, 100, 499, 900] {
                    let mut space = Space {
                        capacity: 1000,
                        tail,
                        head,
                        live: true,
                    };
                    if let Some(Placement {
                        wrap_at: Some(wrap),
                        at,
                    }) = space.place(len)
                    {
                        assert!(at + len <= wrap, "head {head} tail {tail} len {len}");
                    }
                }
            }
        }
    }
}
