//! The SD upload queue on a FAT16 card image in RAM: what is pushed survives reboots and power
//! cuts at every byte, is offered oldest first, and makes room by dropping the oldest events.

mod disk;
mod fuzz_seeds;

use disk::{DiskError, PowerCutDisk, SMALL_CARD, card, metadata_end};
use embassy_futures::block_on;
use smartbox_firmware::ports::UploadQueue;
use smartbox_firmware::sd_queue::ram_disk::RamDisk;
use smartbox_firmware::sd_queue::{QueueConfig, QueueError, QueuedEvent, SdQueue};
use smartbox_protocol::{EventKind, EventRequest, MAX_PHOTO_BYTES, Uuid};

type Queue = SdQueue<PowerCutDisk, 16>;

fn config(journal_bytes: u32) -> QueueConfig {
    QueueConfig { journal_bytes }
}

fn event(n: u8, photo_count: u8) -> EventRequest {
    EventRequest {
        event_id: Uuid::from_bytes([n; 16]),
        kind: if n.is_multiple_of(2) {
            EventKind::MailArrived
        } else {
            EventKind::MailRemoved
        },
        occurred_at: 1_700_000_000 + i64::from(n),
        photo_count,
    }
}

/// Distinct, recognisable photo bytes for event `n`, photo `index`.
fn photo(n: u8, index: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ n.wrapping_mul(7) ^ index)
        .collect()
}

/// An event with its photos, as pushed.
struct Pushed {
    event: EventRequest,
    photos: Vec<Vec<u8>>,
}

impl Pushed {
    fn new(n: u8, photo_lens: &[usize]) -> Self {
        Self {
            event: event(n, photo_lens.len() as u8),
            photos: photo_lens
                .iter()
                .enumerate()
                .map(|(i, len)| photo(n, i as u8, *len))
                .collect(),
        }
    }

    fn push(&self, queue: &mut Queue) -> Result<(), QueueError<DiskError>> {
        let photos: Vec<&[u8]> = self.photos.iter().map(Vec::as_slice).collect();
        queue.push(&self.event, &photos)
    }
}

fn open(image: Vec<u8>, journal_bytes: u32) -> (Queue, PowerCutDisk) {
    let disk = PowerCutDisk::new(image);
    let queue = Queue::open(disk.clone(), config(journal_bytes)).expect("opens");
    (queue, disk)
}

/// Mounts the card again, as after a reboot.
fn reboot(disk: &PowerCutDisk, journal_bytes: u32) -> (Queue, PowerCutDisk) {
    let disk = disk.snapshot();
    let queue = Queue::open(disk.clone(), config(journal_bytes)).expect("opens again");
    (queue, disk)
}

fn read_whole_photo(queue: &mut Queue, queued: &QueuedEvent, index: u8) -> Vec<u8> {
    let len = queued.photo_len(index).expect("photo exists") as usize;
    let mut out = vec![0; len];
    // Odd-sized reads, as the modem's upload chunks are.
    let mut offset = 0;
    while offset < len {
        let end = (offset + 333).min(len);
        let read = queue
            .read_photo(
                queued.event.event_id,
                index,
                offset as u32,
                &mut out[offset..end],
            )
            .expect("reads");
        assert!(read > 0);
        offset += read;
    }
    out
}

/// Asserts that `queue` holds exactly `expected`, in order, photos byte for byte.
fn assert_holds(queue: &mut Queue, expected: &[&Pushed]) {
    let pending: Vec<QueuedEvent> = queue.events().collect();
    let ids: Vec<Uuid> = pending.iter().map(|q| q.event.event_id).collect();
    let expected_ids: Vec<Uuid> = expected.iter().map(|p| p.event.event_id).collect();
    assert_eq!(ids, expected_ids);
    assert_eq!(queue.len(), expected.len());
    for (queued, pushed) in pending.iter().zip(expected) {
        assert_eq!(queued.event, pushed.event);
        for (index, bytes) in pushed.photos.iter().enumerate() {
            assert_eq!(&read_whole_photo(queue, queued, index as u8), bytes);
        }
        assert_eq!(queued.photo_len(pushed.photos.len() as u8), None);
    }
}

const JOURNAL: u32 = 64 * 1024;

#[test]
fn an_event_with_three_photos_survives_a_reboot() {
    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    let mail = Pushed::new(1, &[5_000, 1, 700]);
    mail.push(&mut queue).expect("pushed");
    assert_holds(&mut queue, &[&mail]);

    let (mut queue, _) = reboot(&disk, JOURNAL);
    assert_holds(&mut queue, &[&mail]);
    assert_eq!(queue.evicted(), 0);
}

#[test]
fn events_are_offered_oldest_first_and_an_ack_removes_the_oldest_for_good() {
    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    let mails: Vec<Pushed> = (1..=3).map(|n| Pushed::new(n, &[300, 200])).collect();
    for mail in &mails {
        mail.push(&mut queue).expect("pushed");
    }
    assert_eq!(queue.oldest().map(|q| q.event), Some(mails[0].event));

    queue.ack(mails[0].event.event_id).expect("acked");
    assert_eq!(queue.oldest().map(|q| q.event), Some(mails[1].event));

    let (mut queue, _) = reboot(&disk, JOURNAL);
    assert_holds(&mut queue, &[&mails[1], &mails[2]]);
}

#[test]
fn an_ack_of_a_later_event_survives_a_reboot_and_the_older_one_stays() {
    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    let mails: Vec<Pushed> = (1..=3).map(|n| Pushed::new(n, &[100])).collect();
    for mail in &mails {
        mail.push(&mut queue).expect("pushed");
    }
    queue.ack(mails[1].event.event_id).expect("acked");
    assert_holds(&mut queue, &[&mails[0], &mails[2]]);

    let (mut queue, disk2) = reboot(&disk, JOURNAL);
    assert_holds(&mut queue, &[&mails[0], &mails[2]]);
    // Acking the oldest now also releases the acked one behind it.
    queue.ack(mails[0].event.event_id).expect("acked");
    let (mut queue, _) = reboot(&disk2, JOURNAL);
    assert_holds(&mut queue, &[&mails[2]]);
}

#[test]
fn acking_an_unknown_or_already_acked_event_changes_nothing() {
    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    let mail = Pushed::new(1, &[10]);
    mail.push(&mut queue).expect("pushed");
    queue.ack(Uuid::from_bytes([99; 16])).expect("ignored");
    assert_holds(&mut queue, &[&mail]);
    queue.ack(mail.event.event_id).expect("acked");
    let before = disk.written();
    queue.ack(mail.event.event_id).expect("ignored");
    assert_eq!(disk.written(), before, "nothing written for a repeated ack");
    assert!(queue.is_empty());
}

#[test]
fn pushing_the_same_event_twice_stores_it_once() {
    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    let mail = Pushed::new(1, &[100, 100]);
    mail.push(&mut queue).expect("pushed");
    let before = disk.written();
    mail.push(&mut queue).expect("pushed again");
    assert_eq!(disk.written(), before);
    assert_holds(&mut queue, &[&mail]);
}

#[test]
fn an_event_without_photos_is_queued() {
    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    let removed = Pushed::new(2, &[]);
    removed.push(&mut queue).expect("pushed");
    let (mut queue, _) = reboot(&disk, JOURNAL);
    assert_holds(&mut queue, &[&removed]);
}

#[test]
fn photos_that_do_not_match_the_event_are_refused() {
    let (mut queue, _) = open(card(SMALL_CARD), JOURNAL);
    let one = [0u8; 10];
    assert!(matches!(
        queue.push(&event(1, 2), &[&one]),
        Err(QueueError::Invalid(_))
    ));
    let too_large = vec![0u8; MAX_PHOTO_BYTES as usize + 1];
    assert!(matches!(
        queue.push(&event(1, 1), &[&too_large]),
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        queue.push(&event(1, 4), &[&one, &one, &one, &one]),
        Err(QueueError::Invalid(_))
    ));
    assert!(queue.is_empty());
}

#[test]
fn a_two_mib_photo_is_stored_and_read_back() {
    let journal = 3 * 1024 * 1024;
    let (mut queue, disk) = open(card(8 * 1024 * 1024), journal);
    let big = Pushed::new(1, &[MAX_PHOTO_BYTES as usize]);
    big.push(&mut queue).expect("pushed");
    let (mut queue, _) = reboot(&disk, journal);
    assert_holds(&mut queue, &[&big]);
}

#[test]
fn a_full_journal_drops_the_oldest_events_whole_and_counts_them() {
    let journal = 8 * 1024;
    let (mut queue, disk) = open(card(SMALL_CARD), journal);
    // Each event takes 3 * (41 + 1000 + 8) + 58 = 3205 journal bytes: two fit, not three.
    let mails: Vec<Pushed> = (1..=5)
        .map(|n| Pushed::new(n, &[1000, 1000, 1000]))
        .collect();
    for mail in &mails {
        mail.push(&mut queue).expect("pushed");
    }
    assert_holds(&mut queue, &[&mails[3], &mails[4]]);
    assert_eq!(queue.evicted(), 3);

    let (mut queue, _) = reboot(&disk, journal);
    assert_holds(&mut queue, &[&mails[3], &mails[4]]);
    assert_eq!(queue.evicted(), 3, "the count is kept on the card");
}

#[test]
fn acked_events_make_room_without_counting_as_dropped() {
    let journal = 8 * 1024;
    let (mut queue, _) = open(card(SMALL_CARD), journal);
    for n in 1..=20 {
        let mail = Pushed::new(n, &[1000, 1000, 1000]);
        mail.push(&mut queue).expect("pushed");
        assert_holds(&mut queue, &[&mail]);
        queue.ack(mail.event.event_id).expect("acked");
    }
    assert_eq!(queue.evicted(), 0);
    assert!(queue.is_empty());
}

#[test]
fn the_event_count_is_bounded_by_the_index_and_the_oldest_go_first() {
    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    let mails: Vec<Pushed> = (1..=20).map(|n| Pushed::new(n, &[])).collect();
    for mail in &mails {
        mail.push(&mut queue).expect("pushed");
    }
    let newest: Vec<&Pushed> = mails[4..].iter().collect();
    assert_holds(&mut queue, &newest);
    assert_eq!(queue.evicted(), 4);
    let (mut queue, _) = reboot(&disk, JOURNAL);
    assert_holds(&mut queue, &newest);
}

#[test]
fn an_event_larger_than_the_journal_is_refused_and_nothing_is_dropped() {
    let journal = 8 * 1024;
    let (mut queue, disk) = open(card(SMALL_CARD), journal);
    let small = Pushed::new(1, &[100]);
    small.push(&mut queue).expect("pushed");
    let huge = Pushed::new(2, &[9_000]);
    assert!(matches!(
        huge.push(&mut queue),
        Err(QueueError::TooLarge { capacity: 8192, .. })
    ));
    assert_holds(&mut queue, &[&small]);
    assert_eq!(queue.evicted(), 0);
    let (mut queue, _) = reboot(&disk, journal);
    assert_holds(&mut queue, &[&small]);
}

#[test]
fn a_card_without_room_for_the_journal_is_refused_with_a_clear_error() {
    let disk = PowerCutDisk::new(card(SMALL_CARD));
    let error = Queue::open(disk.clone(), config(4 * 1024 * 1024)).expect_err("refused");
    match &error {
        QueueError::CardFull { needed, available } => {
            assert_eq!(*needed, 4 * 1024 * 1024 + 1024);
            assert!(
                *available > 1_000_000 && *available < *needed,
                "{available}"
            );
        }
        other => panic!("expected CardFull, got {other:?}"),
    }
    assert!(error.to_string().contains("sd card full"), "{error}");
    // A smaller journal still fits on the same card, after the aborted attempt.
    let mut queue = Queue::open(disk.clone(), config(JOURNAL)).expect("opens");
    let mail = Pushed::new(1, &[100]);
    mail.push(&mut queue).expect("pushed");
    let (mut queue, _) = reboot(&disk, JOURNAL);
    assert_holds(&mut queue, &[&mail]);
}

#[test]
fn an_existing_journal_keeps_its_size_and_contents_whatever_the_config_says() {
    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    let mail = Pushed::new(1, &[100]);
    mail.push(&mut queue).expect("pushed");
    let (mut queue, _) = reboot(&disk, 1024 * 1024);
    assert_eq!(queue.capacity(), JOURNAL);
    assert_holds(&mut queue, &[&mail]);
}

#[test]
fn once_made_the_journal_never_touches_the_fat_or_the_directory() {
    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    let metadata = metadata_end(&disk.image());
    let made = disk.written_blocks().len();
    for n in 1..=60 {
        let mail = Pushed::new(n, &[900, 1300]);
        mail.push(&mut queue).expect("pushed");
        if n.is_multiple_of(3) {
            queue.ack(mail.event.event_id).expect("acked");
        }
    }
    let later = &disk.written_blocks()[made..];
    assert!(!later.is_empty());
    assert!(
        later.iter().all(|block| *block as usize * 512 >= metadata),
        "a block below {} was written",
        metadata / 512
    );
    let before = disk.written();
    let _ = Queue::open(disk.clone(), config(JOURNAL)).expect("opens");
    assert_eq!(
        disk.written(),
        before,
        "opening an existing journal writes nothing"
    );
}

#[test]
fn the_journal_wraps_around_the_ring_many_times_without_losing_an_event() {
    let journal = 24 * 1024;
    let (mut queue, mut disk) = open(card(SMALL_CARD), journal);
    let mut waiting: Vec<Pushed> = Vec::new();
    for n in 1..=150u8 {
        let lens = [(n as usize * 37) % 1500, (n as usize * 101) % 900];
        let mail = Pushed::new(n, &lens[..(n % 3) as usize]);
        mail.push(&mut queue).expect("pushed");
        waiting.push(mail);
        // Deliver in bursts, as wakes with and without coverage would.
        if n.is_multiple_of(4) {
            while waiting.len() > 2 {
                let oldest = waiting.remove(0);
                queue.ack(oldest.event.event_id).expect("acked");
            }
        }
        if n.is_multiple_of(9) {
            (queue, disk) = reboot(&disk, journal);
        }
    }
    let expected: Vec<&Pushed> = waiting.iter().collect();
    assert_eq!(queue.evicted(), 0, "the ring never overflowed");
    assert_holds(&mut queue, &expected);
}

/// Runs `operation` on a queue over `image` once in full to learn how many bytes it writes, then
/// once for every cut point: power fails after that many bytes, the card is mounted again, and
/// `check` judges what is there (`complete` tells whether every byte was persisted). After each
/// recovery, the queue must take a new event and keep everything across another reboot.
fn cut_at_every_byte(
    image: &[u8],
    journal: u32,
    operation: impl Fn(&mut Queue),
    check: impl Fn(&mut Queue, usize, bool),
) {
    let card = PowerCutDisk::new(image.to_vec());
    let (mut queue, disk) = reboot(&card, journal);
    let start = disk.written();
    operation(&mut queue);
    let total = disk.written() - start;
    assert!(total > 0);
    let follow_up = Pushed::new(200, &[50]);
    for cut in 0..=total {
        let (mut queue, disk) = reboot(&card, journal);
        disk.cut_after(cut);
        operation(&mut queue);
        let (mut recovered, _) = reboot(&disk, journal);
        check(&mut recovered, cut, cut == total);

        let before: Vec<EventRequest> = recovered.events().map(|q| q.event).collect();
        let evicted_before = recovered.evicted();
        drop(recovered);
        let (mut queue, recovered_disk) = reboot(&disk, journal);
        follow_up.push(&mut queue).expect("pushes after recovery");
        let (after, _) = reboot(&recovered_disk, journal);
        // The follow-up may have had to drop the oldest events; nothing else may change.
        let dropped = (after.evicted() - evicted_before) as usize;
        let mut expected = before[dropped..].to_vec();
        expected.push(follow_up.event);
        let after: Vec<EventRequest> = after.events().map(|q| q.event).collect();
        assert_eq!(
            after, expected,
            "cut {cut}: the recovered queue did not keep working"
        );
    }
}

/// A card whose journal already holds `earlier`.
fn card_holding(earlier: &[Pushed], journal: u32) -> Vec<u8> {
    let (mut queue, disk) = open(card(SMALL_CARD), journal);
    for mail in earlier {
        mail.push(&mut queue).expect("pushed");
    }
    disk.image()
}

#[test]
fn a_power_cut_at_any_byte_of_a_push_keeps_earlier_events_and_never_yields_a_torn_one() {
    let earlier = [Pushed::new(1, &[600, 20]), Pushed::new(2, &[])];
    let image = card_holding(&earlier, JOURNAL);
    let new = Pushed::new(3, &[700, 1, 300]);
    cut_at_every_byte(
        &image,
        JOURNAL,
        |queue| {
            let _ = new.push(queue);
        },
        |queue, cut, complete| {
            let present = queue.len() == 3;
            if present {
                assert_holds(queue, &[&earlier[0], &earlier[1], &new]);
            } else {
                assert_holds(queue, &[&earlier[0], &earlier[1]]);
            }
            assert!(present || !complete, "cut {cut}: a complete push was lost");
            assert_eq!(queue.evicted(), 0);
        },
    );
}

#[test]
fn a_power_cut_at_any_byte_of_a_push_that_wraps_the_ring_keeps_every_event() {
    let journal = 8 * 1024;
    // Fill most of the ring, deliver the first events, so the next push wraps to offset 0.
    let (mut queue, disk) = open(card(SMALL_CARD), journal);
    let first = [Pushed::new(1, &[2500]), Pushed::new(2, &[2500])];
    let kept = Pushed::new(3, &[1500]);
    for mail in first.iter().chain([&kept]) {
        mail.push(&mut queue).expect("pushed");
    }
    for mail in &first {
        queue.ack(mail.event.event_id).expect("acked");
    }
    let image = disk.image();
    let new = Pushed::new(4, &[1200, 900]);
    cut_at_every_byte(
        &image,
        journal,
        |queue| {
            let _ = new.push(queue);
        },
        |queue, cut, complete| {
            if queue.len() == 2 {
                assert_holds(queue, &[&kept, &new]);
            } else {
                assert!(!complete, "cut {cut}: a complete push was lost");
                assert_holds(queue, &[&kept]);
            }
            assert_eq!(queue.evicted(), 0);
        },
    );
}

#[test]
fn a_power_cut_at_any_byte_of_a_push_that_evicts_drops_only_the_oldest_and_counts_it() {
    let journal = 8 * 1024;
    let earlier = [
        Pushed::new(1, &[2000]),
        Pushed::new(2, &[2000]),
        Pushed::new(3, &[2000]),
    ];
    let image = card_holding(&earlier, journal);
    let new = Pushed::new(4, &[2000]);
    cut_at_every_byte(
        &image,
        journal,
        |queue| {
            let _ = new.push(queue);
        },
        |queue, cut, complete| {
            let ids: Vec<u8> = queue
                .events()
                .map(|q| q.event.event_id.as_bytes()[0])
                .collect();
            match ids.as_slice() {
                [1, 2, 3] => {
                    assert!(!complete, "cut {cut}");
                    assert_eq!(queue.evicted(), 0);
                }
                [2, 3] => {
                    assert!(!complete, "cut {cut}");
                    assert_eq!(queue.evicted(), 1);
                }
                [2, 3, 4] => {
                    assert_eq!(queue.evicted(), 1);
                    assert_holds(queue, &[&earlier[1], &earlier[2], &new]);
                }
                other => panic!("cut {cut}: unexpected queue {other:?}"),
            }
        },
    );
}

#[test]
fn a_power_cut_at_any_byte_of_an_ack_leaves_the_event_either_acked_or_queued() {
    let earlier = [
        Pushed::new(1, &[300]),
        Pushed::new(2, &[300]),
        Pushed::new(3, &[300]),
    ];
    let image = card_holding(&earlier, JOURNAL);
    for acked in [0, 1] {
        cut_at_every_byte(
            &image,
            JOURNAL,
            |queue| {
                let _ = queue.ack(earlier[acked].event.event_id);
            },
            |queue, cut, complete| {
                let rest: Vec<&Pushed> = earlier
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != acked)
                    .map(|(_, p)| p)
                    .collect();
                if queue.len() == 3 {
                    assert!(!complete, "cut {cut}: a completed ack was lost");
                    assert_holds(queue, &earlier.iter().collect::<Vec<_>>());
                } else {
                    assert_holds(queue, &rest);
                }
            },
        );
    }
}

#[test]
fn a_power_cut_while_the_journal_is_first_made_leaves_a_card_that_opens() {
    // The FAT layer underneath (embedded-sdmmc) is exercised at block granularity: an SD card
    // programs whole 512-byte blocks; the journal's own records are cut at every byte elsewhere.
    let blank = PowerCutDisk::new(card(SMALL_CARD));
    let disk = blank.snapshot();
    Queue::open(disk.clone(), config(JOURNAL)).expect("opens");
    let total = disk.written();
    for cut in (0..=total).step_by(512) {
        let disk = blank.snapshot();
        disk.cut_after(cut);
        let _ = Queue::open(disk.clone(), config(JOURNAL));
        let (mut queue, after) = reboot(&disk, JOURNAL);
        assert!(queue.is_empty(), "cut {cut}");
        let mail = Pushed::new(1, &[100]);
        mail.push(&mut queue).expect("pushed");
        let (mut queue, _) = reboot(&after, JOURNAL);
        assert_holds(&mut queue, &[&mail]);
    }
}

#[test]
fn an_unformatted_card_is_refused() {
    let disk = RamDisk::new(vec![0u8; SMALL_CARD]);
    let error = SdQueue::<_, 4>::open(disk, QueueConfig::default()).expect_err("refused");
    assert!(matches!(error, QueueError::Card(_)), "{error:?}");
}

#[test]
fn the_wake_cycle_port_pushes_reads_and_pops_oldest_first() {
    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    let first = Pushed::new(1, &[400, 20]);
    let second = Pushed::new(2, &[]);
    block_on(async {
        let photos: Vec<&[u8]> = first.photos.iter().map(Vec::as_slice).collect();
        UploadQueue::push(&mut queue, &first.event, &photos)
            .await
            .expect("pushed");
        UploadQueue::push(&mut queue, &second.event, &[])
            .await
            .expect("pushed");
        assert_eq!(UploadQueue::pending(&mut queue).await.expect("counts"), 2);
        assert_eq!(
            UploadQueue::oldest(&mut queue).await.expect("reads"),
            Some(first.event)
        );

        let mut out = [0u8; 500];
        let len = UploadQueue::read_photo(&mut queue, 0, &mut out)
            .await
            .expect("reads");
        assert_eq!(&out[..len], first.photos[0].as_slice());
        let len = UploadQueue::read_photo(&mut queue, 1, &mut out)
            .await
            .expect("reads");
        assert_eq!(&out[..len], first.photos[1].as_slice());
        assert!(matches!(
            UploadQueue::read_photo(&mut queue, 2, &mut out).await,
            Err(QueueError::UnknownEvent(_))
        ));
        let mut small = [0u8; 100];
        assert!(matches!(
            UploadQueue::read_photo(&mut queue, 0, &mut small).await,
            Err(QueueError::BufferTooSmall { needed: 400 })
        ));

        queue.pop_oldest().await.expect("popped");
        assert_eq!(
            UploadQueue::oldest(&mut queue).await.expect("reads"),
            Some(second.event)
        );
    });
    let (mut queue, _) = reboot(&disk, JOURNAL);
    block_on(async {
        assert_eq!(UploadQueue::pending(&mut queue).await.expect("counts"), 1);
        queue.pop_oldest().await.expect("popped");
        assert!(matches!(
            UploadQueue::read_photo(&mut queue, 0, &mut [0u8; 10]).await,
            Err(QueueError::Empty)
        ));
        queue.pop_oldest().await.expect("nothing to pop is fine");
    });
}
