//! The mail intelligence evaluation (issue 22): rendered mailboxes from held-out seeds (never
//! used for calibration), each event's photos read as the server reads them, on one core.
//! Prints the kind and category accuracy, both confusion matrices and the time per photo, for
//! the heuristic and, when its weights have been fetched (`smartbox model fetch`), the learned
//! model (EfficientNet-Lite0 features and our head) on the same events.
//!
//! `RAYON_NUM_THREADS=1 cargo bench -p smartbox-sim --bench mail_intelligence` (the variable
//! keeps candle's matrix products on one core, as the figures are quoted).

use std::time::Duration;

use smartbox_domain::{MailCategory, MailKind};
use smartbox_sim::mail_bench::{
    EVALUATION_SEEDS, EVENTS_PER_MAILBOX, Scored, Timings, categorise, run_mailbox, weights,
};
use smartbox_vision::CategoryReading;
use smartbox_vision_model::MailModel;

fn main() -> anyhow::Result<()> {
    let model = smartbox_vision::calibration::model();
    let path = weights();
    let net = if smartbox_vision_model::fetch::is_present(&path) {
        Some(MailModel::load(&path)?)
    } else {
        println!(
            "no model weights at {}: the heuristic alone (run `smartbox model fetch` from the workspace's root)",
            path.display()
        );
        None
    };
    let mut timings = Timings::default();
    let mut scored: Vec<Scored> = Vec::new();
    for seed in EVALUATION_SEEDS {
        scored.extend(run_mailbox(
            seed,
            EVENTS_PER_MAILBOX,
            &model,
            &[],
            net.as_ref(),
            &mut timings,
        )?);
    }
    println!(
        "{} events from {} held-out mailboxes (seeds {:?}), {} photos at 640x480 q80, {} thread(s) for the network",
        scored.len(),
        EVALUATION_SEEDS.end - EVALUATION_SEEDS.start,
        EVALUATION_SEEDS,
        timings.photos,
        smartbox_vision_model::threads()
    );
    report(&scored);
    let heuristic: Vec<Option<CategoryReading>> =
        scored.iter().map(|s| s.reading.category).collect();
    println!("\n== heuristic (no model)");
    report_categories(&scored, &heuristic);
    match (net.is_some(), smartbox_vision_model::calibration::head()) {
        (true, Some(head)) => {
            println!("\n== learned model (EfficientNet-Lite0 features + calibrated head)");
            report_categories(&scored, &categorise(&scored, &head));
        }
        (true, None) => println!(
            "\nthe learned model's head is not calibrated in this build (examples/calibrate_mail_model.rs)"
        ),
        (false, _) => {}
    }
    let per_photo = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(timings.photos.max(1));
    let deliveries = scored.iter().filter(|s| s.descriptor.is_some()).count();
    println!(
        "\ntime per photo on one core: heuristic {:.2} ms (decode the 320x240 thumbnail into a frame + its share of the event's reading); with the model {:.2} ms ({:.1} ms per delivery the network saw, {deliveries} deliveries); thumbnail {:.2} ms (the existing thumbnail job); rendering {:.2} ms (simulator only)",
        per_photo(timings.read),
        per_photo(timings.read + timings.model),
        timings.model.as_secs_f64() * 1000.0 / deliveries.max(1) as f64,
        per_photo(timings.thumbnail),
        per_photo(timings.render)
    );
    Ok(())
}

fn report(scored: &[Scored]) {
    let events = scored.len();
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
}

/// Category accuracy and confusion over the true deliveries, read as `read` (one per event).
fn report_categories(scored: &[Scored], read: &[Option<CategoryReading>]) {
    // Category, over the true deliveries (a delivery not read as one counts as wrong).
    let deliveries: Vec<(&Scored, Option<CategoryReading>)> = scored
        .iter()
        .zip(read.iter().copied())
        .filter(|(s, _)| s.truth.category.is_some())
        .collect();
    let category_right = deliveries
        .iter()
        .filter(|(s, read)| read.map(|c| c.category) == s.truth.category)
        .count();
    println!(
        "category accuracy: {:.1} % ({category_right}/{} deliveries)",
        100.0 * category_right as f64 / deliveries.len() as f64,
        deliveries.len()
    );
    let mut names: Vec<&str> = MailCategory::ALL.iter().map(|c| c.as_str()).collect();
    names.push("none");
    let read_index = |read: &Option<CategoryReading>| {
        read.and_then(|c| MailCategory::ALL.iter().position(|&x| x == c.category))
            .unwrap_or(MailCategory::ALL.len())
    };
    let matrix = |truth: usize, column: usize| {
        deliveries
            .iter()
            .filter(|(s, read)| {
                truth < MailCategory::ALL.len()
                    && s.truth.category == Some(MailCategory::ALL[truth])
                    && read_index(read) == column
            })
            .count()
    };
    print_matrix(
        "category (rows: truth, columns: read)",
        &names[..MailCategory::ALL.len()],
        &|truth, read| matrix(truth, read),
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
