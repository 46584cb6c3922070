//! Fits the mail category model on rendered deliveries from the calibration seeds and prints it
//! as the `CLASSES` table of `crates/vision/src/calibration.rs`.
//!
//! `cargo run -p smartbox-sim --release --example calibrate_mail`

use smartbox_sim::mail_bench::{
    CALIBRATION_SEEDS, EVENTS_PER_MAILBOX, Timings, labelled, run_mailbox,
};
use smartbox_vision::Model;

fn main() -> anyhow::Result<()> {
    let model = smartbox_vision::calibration::model();
    let mut timings = Timings::default();
    let mut examples = Vec::new();
    for seed in CALIBRATION_SEEDS {
        let scored = run_mailbox(seed, EVENTS_PER_MAILBOX, &model, &[], None, &mut timings)?;
        examples.extend(labelled(&scored));
    }
    let fitted = Model::fit(&examples);
    eprintln!(
        "{} labelled deliveries from seeds {:?}",
        examples.len(),
        CALIBRATION_SEEDS
    );
    println!("const CLASSES: [(MailCategory, [f32; COUNT], [f32; COUNT]); 5] = [");
    for class in &fitted.classes {
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
