//! The `sd_journal` fuzz target's seed corpus (`fuzz/corpus/sd_journal`) is made here, by the
//! queue itself: journals with events waiting, with one acknowledged, with the ring wrapped, and
//! with a push cut by a power loss. Random bytes almost never form a valid superblock, so without
//! such seeds the fuzzer never reaches the recovery scan behind it.
//!
//! A seed is the journal's first bytes on the fuzz target's card (4,400 blocks, 64 KiB journal),
//! trailing zeros trimmed. The test rebuilds every seed, checks that the target's way of laying it
//! on a fresh card recovers the events it should, and compares it with the committed file; run it
//! with `SMARTBOX_WRITE_FUZZ_SEEDS=1` to write the files after a change of the journal format.

use std::path::PathBuf;

use super::disk::{PowerCutDisk, SMALL_CARD, card, metadata_end};
use super::{JOURNAL, Pushed, Queue, config, open};

/// A journal's bytes as the fuzz target lays them: the first 64 KiB after the card's metadata.
fn journal_bytes(image: &[u8]) -> Vec<u8> {
    let start = metadata_end(image);
    let mut bytes = image[start..start + JOURNAL as usize].to_vec();
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    bytes
}

/// How many events the queue recovers from `seed` laid on a fresh card, as the fuzz target does.
fn recovered_from(seed: &[u8]) -> usize {
    let (_, disk) = open(card(SMALL_CARD), JOURNAL);
    let mut image = disk.image();
    let start = metadata_end(&image);
    image[start..start + seed.len()].copy_from_slice(seed);
    Queue::open(PowerCutDisk::new(image), config(JOURNAL))
        .expect("a seed opens")
        .len()
}

/// Each seed's name, its bytes and the events a reboot recovers from it.
fn seeds() -> Vec<(&'static str, Vec<u8>, usize)> {
    let mut seeds = Vec::new();

    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    Pushed::new(1, &[900, 1, 300])
        .push(&mut queue)
        .expect("pushed");
    seeds.push(("one_event_three_photos", journal_bytes(&disk.image()), 1));

    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    let mails: Vec<Pushed> = (1..=3).map(|n| Pushed::new(n, &[400, 200])).collect();
    for mail in &mails {
        mail.push(&mut queue).expect("pushed");
    }
    queue.ack(mails[0].event.event_id).expect("acked");
    seeds.push(("three_events_one_acked", journal_bytes(&disk.image()), 2));

    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    for n in 1..=12 {
        let mail = Pushed::new(n, &[7_000]);
        mail.push(&mut queue).expect("pushed");
        queue.ack(mail.event.event_id).expect("acked");
    }
    Pushed::new(13, &[7_000]).push(&mut queue).expect("pushed");
    seeds.push(("ring_wrapped", journal_bytes(&disk.image()), 1));

    let (mut queue, disk) = open(card(SMALL_CARD), JOURNAL);
    Pushed::new(1, &[600]).push(&mut queue).expect("pushed");
    let before = disk.written();
    let cut = disk.snapshot();
    cut.cut_after(700);
    let mut torn = Queue::open(cut.clone(), config(JOURNAL)).expect("opens");
    assert!(
        Pushed::new(2, &[2_000]).push(&mut torn).is_err(),
        "the power goes mid-push"
    );
    assert!(disk.written() >= before);
    seeds.push(("push_cut_by_power_loss", journal_bytes(&cut.image()), 1));

    seeds
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sd_journal")
}

#[test]
fn the_sd_journal_fuzz_seeds_are_journals_the_queue_wrote_and_recovers() {
    let write = std::env::var_os("SMARTBOX_WRITE_FUZZ_SEEDS").is_some();
    for (name, bytes, events) in seeds() {
        assert_eq!(recovered_from(&bytes), events, "seed {name}");
        let path = corpus().join(name);
        if write {
            std::fs::write(&path, &bytes).expect("seed written");
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == bytes,
            "fuzz/corpus/sd_journal/{name} differs from the journal the queue writes now; \
             run with SMARTBOX_WRITE_FUZZ_SEEDS=1 to write it again"
        );
    }
}
