//! Statuses are the domain's enums everywhere above the store: no crate above it spells a device
//! lifecycle, subscription, invoice or payment status as a string literal. They compare and write
//! `LifecycleState`, `SubscriptionStatus`, `InvoiceStatus` and `PaymentStatus`, and the store
//! converts its rows at its boundary. A status spelled in a string drifts silently when the enum
//! changes; this test turns it into a failure naming the file.
//!
//! The scan reads each source file up to its `#[cfg(test)]` module (unit tests may spell what
//! they expect to find stored) and skips `//` comments. Literals that spell a status name but
//! mean something else are listed in [`OTHER_MEANINGS`] with what they mean.
//!
//! Ids likewise: a store function takes the typed ids of `smartbox_domain::record_ids`
//! (`&DeviceId`, `&UserId`, ...), never `*_id: &str`. The store modules not yet converted are
//! listed in [`UNTYPED_IDS`] with how many such parameters they still have: a new one fails,
//! and so does a module that dropped some without lowering its count (the list only shrinks).

mod source_scan;

use smartbox_domain::{InvoiceStatus, LifecycleState, PaymentStatus, SubscriptionStatus};
use source_scan::{code_of, relative, root, rust_files};

/// The source folders above the store, from the workspace root.
const ABOVE_THE_STORE: &[&str] = &[
    "crates/billing/src",
    "crates/notify/src",
    "crates/server/src",
    "crates/cli/src",
];

/// `(file, literal, what it means there)`: a status name used for something that is not one.
const OTHER_MEANINGS: &[(&str, &str, &str)] = &[
    (
        "crates/server/src/telemetry/mod.rs",
        "failed",
        "a `/metrics` label: a job run's or a notification delivery's outcome",
    ),
    (
        "crates/server/src/telemetry/payments.rs",
        "succeeded",
        "a `/metrics` label: the payment provider's answer to a charge",
    ),
    (
        "crates/server/src/telemetry/payments.rs",
        "unknown",
        "a `/metrics` label: a charge whose answer is not known yet",
    ),
    (
        "crates/server/src/admin/device_history.rs",
        "failed",
        "a mailbox's firmware report (downloaded, installed, failed, rolled_back)",
    ),
    (
        "crates/server/src/web/words.rs",
        "failed",
        "a notification delivery's outcome (delivered, failed, held)",
    ),
    (
        "crates/billing/src/stripe/wire.rs",
        "canceled",
        "Stripe's PaymentIntent, SetupIntent and Refund statuses on the wire",
    ),
    (
        "crates/billing/src/stripe/wire.rs",
        "succeeded",
        "Stripe's PaymentIntent, SetupIntent and Refund statuses on the wire",
    ),
    (
        "crates/billing/src/stripe/wire.rs",
        "pending",
        "Stripe's Refund status on the wire",
    ),
    (
        "crates/billing/src/stripe/wire.rs",
        "failed",
        "Stripe's Refund status on the wire",
    ),
    (
        "crates/billing/src/stripe/mod.rs",
        "failed",
        "Stripe's error type for a refused charge",
    ),
    (
        "crates/billing/src/provider.rs",
        "canceled",
        "the failure code of a PaymentIntent Stripe canceled",
    ),
    (
        "crates/billing/src/engine/decide.rs",
        "canceled",
        "the audit action of a subscription that ended",
    ),
    (
        "crates/billing/src/engine/decide.rs",
        "paid",
        "the audit action of an invoice that was paid",
    ),
    (
        "crates/billing/src/engine/webhooks.rs",
        "refunded",
        "Stripe's charge field and the audit action of a refund",
    ),
    (
        "crates/server/src/device_api/firmware.rs",
        "failed",
        "a firmware report's status (DESIGN §5)",
    ),
    (
        "crates/server/src/accounts/client_address.rs",
        "unknown",
        "the client address when the socket's is not known",
    ),
    (
        "crates/cli/src/jobs.rs",
        "failed",
        "a job's status in the job queue",
    ),
];

fn status_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    names.extend(LifecycleState::ALL.iter().map(|s| s.as_str()));
    names.extend(SubscriptionStatus::ALL.iter().map(|s| s.as_str()));
    names.extend(InvoiceStatus::ALL.iter().map(|s| s.as_str()));
    names.extend(PaymentStatus::ALL.iter().map(|s| s.as_str()));
    names.sort_unstable();
    names.dedup();
    names
}

/// The quoted status names in `source` outside comments and test modules, with line numbers.
fn status_literals(source: &str, names: &[&str]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in source.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = code_of(line);
        for name in names {
            if code.contains(&format!("\"{name}\"")) {
                found.push((number + 1, (*name).to_owned()));
            }
        }
    }
    found
}

#[test]
fn no_status_is_spelled_as_a_string_above_the_store() {
    let names = status_names();
    let mut offences = Vec::new();
    for dir in ABOVE_THE_STORE {
        let mut files = Vec::new();
        rust_files(&root().join(dir), &mut files);
        files.sort();
        for file in files {
            let source = std::fs::read_to_string(&file).expect("a readable source file");
            let relative = relative(&file);
            for (line, name) in status_literals(&source, &names) {
                let other_meaning = OTHER_MEANINGS
                    .iter()
                    .any(|(f, literal, _)| *f == relative && *literal == name);
                if !other_meaning {
                    offences.push(format!("{relative}:{line}: \"{name}\""));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "status names spelled as strings above the store (use the domain's enum):\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_scan_finds_a_status_in_code_but_not_in_comments_or_tests() {
    let names = status_names();
    let source = "let a = \"x://y\"; if s == \"canceled\" {}\n// \"active\" in a comment\n#[cfg(test)]\nmod tests { \"paid\" }\n";
    assert_eq!(
        status_literals(source, &names),
        [(1, "canceled".to_owned())]
    );
}

#[test]
fn every_other_meaning_still_occurs() {
    let names = status_names();
    for (file, literal, meaning) in OTHER_MEANINGS {
        let source = std::fs::read_to_string(root().join(file)).unwrap_or_default();
        assert!(
            status_literals(&source, &names)
                .iter()
                .any(|(_, name)| name == literal),
            "{file} no longer spells \"{literal}\" ({meaning}): remove it from OTHER_MEANINGS"
        );
    }
}

/// The store, whose functions take typed ids.
const STORE: &str = "crates/store/src";

/// `(store file, how many `*_id: &str` parameters it still has)`: the modules not yet converted
/// to typed ids. Only ever lowered.
const UNTYPED_IDS: &[(&str, usize)] = &[
    ("crates/store/src/audit.rs", 1),
    ("crates/store/src/billing.rs", 1),
    ("crates/store/src/device_traffic.rs", 2),
    ("crates/store/src/devices.rs", 1),
    ("crates/store/src/events.rs", 4),
    ("crates/store/src/keys.rs", 1),
    ("crates/store/src/mail_readings.rs", 4),
    ("crates/store/src/notifications.rs", 8),
    ("crates/store/src/portal.rs", 9),
    ("crates/store/src/retention.rs", 2),
    ("crates/store/src/usage.rs", 3),
];

/// The lines of `source` (outside comments and test modules) with a `*_id: &str` parameter. The
/// payment provider's ids (`provider_*_id`) are its text, not ours, and are not counted.
fn untyped_ids(source: &str) -> Vec<usize> {
    let mut found = Vec::new();
    for (number, line) in source.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = code_of(line);
        if code.contains("_id: &str") && !code.contains("provider_") {
            found.push(number + 1);
        }
    }
    found
}

#[test]
fn store_functions_take_typed_ids_and_no_module_adds_an_untyped_one() {
    let mut files = Vec::new();
    rust_files(&root().join(STORE), &mut files);
    files.sort();
    let mut offences = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("a readable source file");
        let relative = relative(&file);
        let lines = untyped_ids(&source);
        let allowed = UNTYPED_IDS
            .iter()
            .find(|(f, _)| *f == relative)
            .map_or(0, |(_, n)| *n);
        if lines.len() > allowed {
            let at: Vec<String> = lines.iter().map(|l| format!("{relative}:{l}")).collect();
            offences.push(format!(
                "{} (allowed {allowed}; take a `&DeviceId`, `&UserId`, ... instead)",
                at.join(", ")
            ));
        } else if lines.len() < allowed {
            offences.push(format!(
                "{relative} has {} untyped ids now: lower its UNTYPED_IDS count from {allowed}",
                lines.len()
            ));
        }
    }
    assert!(
        offences.is_empty(),
        "store functions taking an id as a `&str`:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_id_scan_finds_a_str_id_in_code_but_not_in_comments_or_tests() {
    let source = "fn a(&self, device_id: &DeviceId) {}\nfn b(&self, user_id: &str) {}\nfn p(provider_payment_id: &str) {}\n// c(x_id: &str)\n#[cfg(test)]\nfn d(e_id: &str) {}\n";
    assert_eq!(untyped_ids(source), [2]);
}
