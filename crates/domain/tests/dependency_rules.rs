//! Which way the arrows go (docs/ARCHITECTURE.md), kept by a scan rather than by hope. Three
//! kinds of rules, each a table below:
//!
//! - [`CRATE_RULES`]: a crate whose `Cargo.toml` must not name another of ours, in any
//!   dependency section (a dev-dependency is an arrow too).
//! - [`MODULE_RULES`]: source files under a folder (or one file) that must not name a module
//!   path, e.g. the JSON API never reaches into the pages. A path counts wherever it stands
//!   outside a `//` comment: in a `use`, or spelled out in code.
//! - [`PURE_FILES`]: files that must not draw ids or read a clock themselves (the billing
//!   engine's decisions get them passed in).
//!
//! A failure names the file, the line and the rule's reason.

mod source_scan;

use std::path::Path;

use source_scan::{code_of, relative, root, rust_files};

/// `(crate folder, crate it must not depend on, why)`.
const CRATE_RULES: &[(&str, &str, &str)] = &[
    (
        "crates/domain",
        "smartbox-",
        "the domain is pure rules: it depends on no crate of ours",
    ),
    (
        "crates/protocol",
        "smartbox-",
        "the wire protocol is shared with the firmware: it depends on no crate of ours",
    ),
    (
        "crates/store",
        "smartbox-billing",
        "the store runs queries; the billing engine decides above it",
    ),
    (
        "crates/store",
        "smartbox-server",
        "the store knows nothing of HTTP",
    ),
    (
        "crates/billing",
        "smartbox-server",
        "the billing engine knows nothing of HTTP",
    ),
    (
        "crates/billing",
        "smartbox-notify",
        "billing and notifications are independent",
    ),
    (
        "crates/notify",
        "smartbox-billing",
        "notifications are independent of billing (the webhook HMAC is the protocol's)",
    ),
    (
        "crates/notify",
        "smartbox-store",
        "the notification channels know no database",
    ),
    (
        "crates/notify",
        "smartbox-server",
        "the notification channels know nothing of the server",
    ),
];

/// `(folder or file, module path it must not name, why)`.
const MODULE_RULES: &[(&str, &str, &str)] = &[
    (
        "crates/server/src/customer_api",
        "crate::web",
        "the JSON API does not borrow the pages' functions or PageError",
    ),
    (
        "crates/server/src/web",
        "crate::customer_api",
        "the pages do not borrow the JSON API's handlers (the app merges both routers)",
    ),
    (
        "crates/server/src/accounts",
        "crate::web",
        "sessions and rate limits serve both the pages and the JSON API; the account pages live in web",
    ),
    (
        "crates/server/src/accounts",
        "crate::customer_api",
        "sessions and rate limits serve both the pages and the JSON API",
    ),
    (
        "crates/server/src/services",
        "crate::web",
        "services know no adapter: each adapter words ServiceError for its audience",
    ),
    (
        "crates/server/src/services",
        "crate::customer_api",
        "services know no adapter: each adapter words ServiceError for its audience",
    ),
    (
        "crates/server/src/notifications",
        "crate::web",
        "notification jobs share formatting through neutral modules, not the pages",
    ),
    (
        "crates/server/src/jobs",
        "crate::web",
        "jobs do not use page helpers",
    ),
    (
        "crates/server/src/jobs",
        "crate::customer_api",
        "jobs do not use the JSON API",
    ),
    (
        "crates/server/src/state.rs",
        "crate::device_api",
        "the state holds the device API's caches as data (device_caches), not the device API",
    ),
    (
        "crates/server/src/device_caches",
        "crate::state",
        "the device API's caches are data the state holds: they do not reach back into it",
    ),
    (
        "crates/server/src/device_caches",
        "crate::device_api",
        "the caches are shared by the state and the device API, and import neither",
    ),
    (
        "crates/billing/src/engine/decide.rs",
        "super::collect",
        "decisions are pure: collecting (charging) calls them, not the other way",
    ),
    (
        "crates/billing/src/engine/decide.rs",
        "super::pass",
        "decisions are pure: the billing pass calls them, not the other way",
    ),
    (
        "crates/billing/src/engine/decide.rs",
        "super::runner",
        "decisions are pure: the job runner calls them, not the other way",
    ),
    (
        "crates/billing/src/engine/jobs.rs",
        "super::pass",
        "the job kinds are data; running them is runner.rs's",
    ),
    (
        "crates/billing/src/engine/jobs.rs",
        "super::collect",
        "the job kinds are data; running them is runner.rs's",
    ),
    (
        "crates/billing/src/engine/collect.rs",
        "super::pass",
        "the billing pass uses collecting, not the other way",
    ),
];

/// `(file, what it must not call, why)`.
const PURE_FILES: &[(&str, &str, &str)] = &[
    (
        "crates/billing/src/engine/decide.rs",
        "now_v7",
        "decisions take the ids of new rows from Cause::ids",
    ),
    (
        "crates/billing/src/engine/decide.rs",
        "new_id(",
        "decisions take the ids of new rows from Cause::ids",
    ),
    (
        "crates/billing/src/engine/decide.rs",
        "now_utc",
        "decisions take the time as an argument",
    ),
    (
        "crates/billing/src/engine/decide.rs",
        "SystemTime",
        "decisions take the time as an argument",
    ),
];

/// Whether `code` names the module `path` itself or something in it (`crate::web` matches
/// `crate::web::x` and `crate::web;` but not `crate::webhooks`).
fn names_path(code: &str, path: &str) -> bool {
    code.match_indices(path).any(|(at, _)| {
        let next = code[at + path.len()..].chars().next();
        !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Lines of `source` (1-based) whose code names `path`.
fn lines_naming(source: &str, path: &str) -> Vec<usize> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| names_path(code_of(line), path))
        .map(|(number, _)| number + 1)
        .collect()
}

/// Lines of `source` whose code contains `text`.
fn lines_containing(source: &str, text: &str) -> Vec<usize> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| code_of(line).contains(text))
        .map(|(number, _)| number + 1)
        .collect()
}

/// The crates of ours a `Cargo.toml` names (`smartbox-...` keys), with line numbers.
fn our_dependencies(manifest: &str) -> Vec<(usize, String)> {
    manifest
        .lines()
        .enumerate()
        .filter_map(|(number, line)| {
            let key = line.split(['=', '.']).next()?.trim();
            key.starts_with("smartbox-")
                .then(|| (number + 1, key.to_owned()))
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn no_crate_depends_on_one_it_must_not() {
    let mut offences = Vec::new();
    for (folder, forbidden, why) in CRATE_RULES {
        let manifest = read(&root().join(folder).join("Cargo.toml"));
        let own = format!("smartbox-{}", folder.rsplit('/').next().unwrap_or_default());
        for (line, name) in our_dependencies(&manifest) {
            let is_forbidden = if forbidden.ends_with('-') {
                name.starts_with(forbidden) && name != own
            } else {
                name == *forbidden
            };
            if is_forbidden {
                offences.push(format!("{folder}/Cargo.toml:{line}: {name} ({why})"));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "forbidden crate dependencies:\n{}",
        offences.join("\n")
    );
}

#[test]
fn no_module_names_one_it_must_not() {
    let mut offences = Vec::new();
    for (place, forbidden, why) in MODULE_RULES {
        let mut files = Vec::new();
        rust_files(&root().join(place), &mut files);
        files.sort();
        assert!(
            !files.is_empty(),
            "{place}: no source files (a stale rule?)"
        );
        for file in files {
            for line in lines_naming(&read(&file), forbidden) {
                offences.push(format!("{}:{line}: {forbidden} ({why})", relative(&file)));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "forbidden module edges:\n{}",
        offences.join("\n")
    );
}

#[test]
fn pure_files_draw_no_ids_and_read_no_clock() {
    let mut offences = Vec::new();
    for (file, forbidden, why) in PURE_FILES {
        for line in lines_containing(&read(&root().join(file)), forbidden) {
            offences.push(format!("{file}:{line}: {forbidden} ({why})"));
        }
    }
    assert!(
        offences.is_empty(),
        "impure decisions:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_scan_tells_a_module_from_a_longer_name_and_skips_comments() {
    let source = "use crate::webhooks;\nuse crate::web::PageError;\n// crate::web in a comment\nlet x = crate::web::format::money(1);\n";
    assert_eq!(lines_naming(source, "crate::web"), [2, 4]);
    assert_eq!(lines_naming("use crate::web;", "crate::web"), [1]);
    let manifest = "[dependencies]\nsmartbox-domain.workspace = true\nserde = \"1\"\n[dev-dependencies]\nsmartbox-billing = { workspace = true }\n";
    assert_eq!(
        our_dependencies(manifest),
        [
            (2, "smartbox-domain".to_owned()),
            (5, "smartbox-billing".to_owned())
        ]
    );
}
