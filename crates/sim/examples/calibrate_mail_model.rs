//! Fits the learned model's head on rendered deliveries from the calibration seeds (the network
//! sees each delivery as the server does) and prints it as the `CLASSES` table of
//! `crates/vision-model/src/calibration.rs`. Needs the weights (`smartbox model fetch`, run from
//! the workspace's root).
//!
//! `cargo run -p smartbox-sim --release --example calibrate_mail_model [MAILBOXES]` (the first
//! MAILBOXES of the calibration seeds, all twelve by default).

use smartbox_sim::mail_bench::{
    CALIBRATION_SEEDS, EVENTS_PER_MAILBOX, Timings, labelled_descriptors, run_mailbox, weights,
};
use smartbox_vision_model::{Head, MailModel};

fn main() -> anyhow::Result<()> {
    let path = weights();
    let net = MailModel::load(&path)
        .map_err(|e| anyhow::anyhow!("{}: {e} (run `smartbox model fetch`)", path.display()))?;
    let model = smartbox_vision::calibration::model();
    let mut timings = Timings::default();
    let mailboxes: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => CALIBRATION_SEEDS.count(),
    };
    let mut examples = Vec::new();
    for seed in CALIBRATION_SEEDS.take(mailboxes) {
        let scored = run_mailbox(
            seed,
            EVENTS_PER_MAILBOX,
            &model,
            &[],
            Some(&net),
            &mut timings,
        )?;
        examples.extend(labelled_descriptors(&scored));
    }
    let head = Head::fit(&examples);
    eprintln!(
        "{} labelled deliveries from the first {mailboxes} seeds of {:?}",
        examples.len(),
        CALIBRATION_SEEDS
    );
    println!("const CLASSES: &[(MailCategory, [f32; LEN], [f32; LEN])] = &[");
    for class in &head.classes {
        let list = |values: &[f32]| {
            values
                .iter()
                .map(|v| format!("{v:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "    (MailCategory::{:?}, [{}], [{}]),",
            class.category,
            list(&class.mean),
            list(&class.spread)
        );
    }
    println!("];");
    Ok(())
}
