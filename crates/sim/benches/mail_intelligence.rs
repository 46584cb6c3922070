//! The mail intelligence evaluation (issue 22): rendered mailboxes from held-out seeds (never
//! used for calibration), each event's photos read as the server reads them, on one core.
//! Prints the kind and category accuracy, both confusion matrices and the time per photo.
//!
//! `cargo bench -p smartbox-sim --bench mail_intelligence`

use std::time::Duration;

use smartbox_domain::{MailCategory, MailKind};
use smartbox_sim::mail_bench::{
    EVALUATION_SEEDS, EVENTS_PER_MAILBOX, Scored, Timings, run_mailbox,
};

fn main() -> anyhow::Result<()> {
    let model = smartbox_vision::calibration::model();
    let mut timings = Timings::default();
    let mut scored: Vec<Scored> = Vec::new();
    for seed in EVALUATION_SEEDS {
        scored.extend(run_mailbox(
            seed,
            EVENTS_PER_MAILBOX,
            &model,
            &[],
            &mut timings,
        )?);
    }
    report(&scored, &timings);
    Ok(())
}

fn report(scored: &[Scored], t: &Timings) {
    let events = scored.len();
    println!(
        "mail intelligence, heuristic (no model): {events} events from {} held-out mailboxes (seeds {:?}), {} photos at 640x480 q80",
        EVALUATION_SEEDS.end - EVALUATION_SEEDS.start,
        EVALUATION_SEEDS,
        t.photos
    );
    // Kind.
    let kind_right = scored
        .iter()
        .filter(|s| s.reading.kind == s.truth.kind)
        .count();
    println!(
        "kind accuracy: {:.1} % ({kind_right}/{events})",
        100.0 * kind_right as f64 / events as f64
    );
    let kinds: Vec<&str> = MailKind::ALL.iter().map(|k| k.as_str()).collect();
    let matrix = |truth: usize, read: usize| {
        scored
            .iter()
            .filter(|s| {
                s.truth.kind == MailKind::ALL[truth] && s.reading.kind == MailKind::ALL[read]
            })
            .count()
    };
    print_matrix("kind (rows: truth, columns: read)", &kinds, &matrix);
    let sun = scored
        .iter()
        .filter(|s| s.truth.lighting_changed)
        .collect::<Vec<_>>();
    println!(
        "  false triggers from a change of light read right: {}/{}",
        sun.iter()
            .filter(|s| s.reading.kind == MailKind::FalseTrigger)
            .count(),
        sun.len()
    );
    // Category, over the true deliveries (a delivery not read as one counts as wrong).
    let deliveries: Vec<&Scored> = scored
        .iter()
        .filter(|s| s.truth.category.is_some())
        .collect();
    let category_right = deliveries
        .iter()
        .filter(|s| s.reading.category.map(|c| c.category) == s.truth.category)
        .count();
    println!(
        "category accuracy: {:.1} % ({category_right}/{} deliveries)",
        100.0 * category_right as f64 / deliveries.len() as f64,
        deliveries.len()
    );
    let mut names: Vec<&str> = MailCategory::ALL.iter().map(|c| c.as_str()).collect();
    names.push("none");
    let read_index = |s: &Scored| {
        s.reading
            .category
            .and_then(|c| MailCategory::ALL.iter().position(|&x| x == c.category))
            .unwrap_or(MailCategory::ALL.len())
    };
    let matrix = |truth: usize, read: usize| {
        deliveries
            .iter()
            .filter(|s| {
                truth < MailCategory::ALL.len()
                    && s.truth.category == Some(MailCategory::ALL[truth])
                    && read_index(s) == read
            })
            .count()
    };
    print_matrix(
        "category (rows: truth, columns: read)",
        &names[..MailCategory::ALL.len()],
        &|truth, read| matrix(truth, read),
    );
    let per_photo = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(t.photos.max(1));
    println!(
        "time per photo on one core: reading {:.2} ms (decode the 320x240 thumbnail into a frame + its share of the event's reading); thumbnail {:.2} ms (the existing thumbnail job); rendering {:.2} ms (simulator only)",
        per_photo(t.read),
        per_photo(t.thumbnail),
        per_photo(t.render)
    );
}

fn print_matrix(title: &str, names: &[&str], count: &dyn Fn(usize, usize) -> usize) {
    println!("{title}:");
    let columns = if names.len() == MailCategory::ALL.len() {
        names.len() + 1
    } else {
        names.len()
    };
    let mut header = format!("{:>16}", "");
    for c in 0..columns {
        header.push_str(&format!("{:>16}", names.get(c).copied().unwrap_or("none")));
    }
    println!("{header}");
    for (r, name) in names.iter().enumerate() {
        let mut line = format!("{name:>16}");
        for c in 0..columns {
            line.push_str(&format!("{:>16}", count(r, c)));
        }
        println!("{line}");
    }
}
