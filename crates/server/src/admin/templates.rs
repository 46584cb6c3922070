//! The admin templates (`templates/admin/`), embedded and compiled once, apart from the portal's
//! so the two evolve without touching each other; they share the portal's stylesheet.

use std::sync::LazyLock;

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value, context};

use super::Staff;
use crate::web::PageError;

/// Every admin template: (name, source).
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "admin/base.html",
        include_str!("../../templates/admin/base.html"),
    ),
    (
        "admin/overview.html",
        include_str!("../../templates/admin/overview.html"),
    ),
    (
        "admin/devices.html",
        include_str!("../../templates/admin/devices.html"),
    ),
    (
        "admin/device.html",
        include_str!("../../templates/admin/device.html"),
    ),
    (
        "admin/customers.html",
        include_str!("../../templates/admin/customers.html"),
    ),
    (
        "admin/customer.html",
        include_str!("../../templates/admin/customer.html"),
    ),
    (
        "admin/jobs.html",
        include_str!("../../templates/admin/jobs.html"),
    ),
    (
        "admin/audit.html",
        include_str!("../../templates/admin/audit.html"),
    ),
    (
        "admin/import.html",
        include_str!("../../templates/admin/import.html"),
    ),
    (
        "admin/labels.html",
        include_str!("../../templates/admin/labels.html"),
    ),
    (
        "admin/credentials.html",
        include_str!("../../templates/admin/credentials.html"),
    ),
    (
        "admin/tickets.html",
        include_str!("../../templates/admin/tickets.html"),
    ),
    (
        "admin/ticket.html",
        include_str!("../../templates/admin/ticket.html"),
    ),
    (
        "admin/analytics.html",
        include_str!("../../templates/admin/analytics.html"),
    ),
    (
        "admin/analytics_movements.html",
        include_str!("../../templates/admin/analytics_movements.html"),
    ),
    (
        "admin/analytics_spend.html",
        include_str!("../../templates/admin/analytics_spend.html"),
    ),
    (
        "admin/firmware.html",
        include_str!("../../templates/admin/firmware.html"),
    ),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|err| panic!("template {name} does not parse: {err:#}"));
    }
    env.add_filter("urlencode", |text: String| {
        crate::web::error::encode_query(&text)
    });
    env
});

/// Renders `name` with `ctx`.
pub fn render(name: &str, ctx: Value) -> Result<String, minijinja::Error> {
    ENV.get_template(name)?.render(ctx)
}

/// An admin page for `staff` with status `status`, never cached.
pub fn page(
    staff: &Staff,
    status: StatusCode,
    name: &str,
    ctx: Value,
) -> Result<Response, PageError> {
    let body = render(
        name,
        context! {
            csrf => staff.current.session.csrf_token.clone(),
            staff => context! { email => staff.current.user.email.clone(), role => staff.current.role },
            ..ctx
        },
    )?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response())
}

#[cfg(test)]
mod tests {
    use smartbox_domain::{LifecycleState, PaymentStatus, SubscriptionStatus};

    use super::*;

    /// Every admin template renders with the values its handler gives it, escapes user text and
    /// has no inline script or style (the CSP forbids them).
    #[test]
    fn every_admin_template_renders() {
        let common = context! {
            csrf => "token", staff => context! { email => "s@b.example", role => "support" },
            title => "Title", nav => "devices", notice => None::<String>,
        };
        let device = context! {
            id => "d1", serial => "SB-1", name => "Front <gate>", owner => "a@b.example", owner_id => "u1",
            lifecycle => LifecycleState::ActiveSubscription.as_str(), status => "Asleep", battery => 80, signal => -80,
            firmware => "1.0.0", last_seen => "2026-11-25 14:30", shipped => "", received => "",
        };
        let cases: Vec<(&str, Value)> = vec![
            (
                "admin/overview.html",
                context! {
                    customers => 3, failed_jobs => 1, overdue => 0,
                    lifecycles => vec![context! { name => LifecycleState::PreActivation.as_str(), words => "Not yet activated", count => 2 }],
                    subscriptions => vec![context! { words => "Trial", count => 1 }],
                },
            ),
            (
                "admin/devices.html",
                context! {
                    devices => vec![device.clone()], lifecycle => "", lifecycles => vec![context! { name => LifecycleState::PreActivation.as_str(), words => "Not yet activated" }],
                    firmware => "1.0.0", silent_hours => "", battery_below => "20", signal_below => "", next => "SB-1",
                },
            ),
            (
                "admin/device.html",
                context! {
                    device => device,
                    actions => vec![context! { id => "decommission", label => "Decommission", danger => true, hint => "For good." }],
                    audit => vec![context! { when => "today", actor => "staff:s", action => "shipped", detail => "{}" }],
                    history => context! {
                        battery_chart => "0,12 300,14", signal_chart => "0,30 300,20", readings => 2,
                        events => vec![context! { when => "today", what => "Mail arrived", reading => "Letter", photos => vec!["/admin/photos/e1/0/thumbnail"], waiting => 1 }],
                        firmware => vec![context! { when => "today", version => "1.0.1", outcome => "Installed", detail => "<b>" }],
                    },
                    tags => vec!["pilot", "north-depot"], board => "esp32c6",
                },
            ),
            (
                "admin/customers.html",
                context! {
                    q => "a&b", page => 2, previous => 1, next => 3,
                    customers => vec![context! { id => "u1", email => "a@b.example", name => "<Ann>", since => "today", devices => 1 }],
                },
            ),
            (
                "admin/customer.html",
                context! {
                    customer => context! { id => "u1", email => "a@b.example", name => "<Ann>", since => "today" },
                    devices => vec![device.clone()],
                    subscriptions => vec![context! {
                        id => "s1", plan => "basic", status => SubscriptionStatus::Active.as_str(), status_words => "Active", period => "a to b",
                        notifications => 3, notification_limit => "100", data => "1 MB", data_limit => "1 GB", cancel_at_period_end => true,
                        live => true, pending_plan => "plus", pending_credit => "$2.00", may_change_money => true,
                        other_plans => vec![context! { id => "plus", name => "Plus" }],
                    }],
                    invoices => vec![context! { id => "i1", number => "SB-0000001", status => "Due", total => "$5.00", issued => "today", resendable => true, key => "k" }],
                    deliveries => vec![context! { when => "today", channel => "Email", outcome => "Failed", reason => "<refused>", attempts => 9 }],
                    payments => vec![context! { id => "p1", amount => "$5.00", status => PaymentStatus::Succeeded.as_str(), provider => "sandbox", when => "today", refunded => "$1.00", refundable => true, left => "$4.00", key => "k" }],
                    audit => vec![context! { when => "today", actor => "staff:s", entity => "device d1", action => "shipped", detail => "{}" }],
                },
            ),
            (
                "admin/jobs.html",
                context! { kind => "", jobs => vec![context! { id => "j1", kind => "notify_delivery", attempts => 5, failed => "today", error => "<refused>" }] },
            ),
            (
                "admin/audit.html",
                context! {
                    actor => "", customer => "", device => "SB-1", action => "",
                    entries => vec![context! { when => "today", actor => "staff:s", entity => "device d1", action => "shipped", detail => "<b>" }],
                },
            ),
            (
                "admin/import.html",
                context! { csv => "serial\n<b>", error => "line 2: bad" },
            ),
            (
                "admin/labels.html",
                context! {
                    factory_csv => "data:text/csv;base64,AA==",
                    labels => vec![context! { serial => "SB-1", code => "ABCD2345", url => "http://x/claim?serial=SB-1&code=ABCD2345", qr => super::super::labels::qr_svg("http://x/claim").unwrap() }],
                },
            ),
            (
                "admin/credentials.html",
                context! { id => "d1", serial => "SB-1", secret => "ab", claim_code => "ABCD2345" },
            ),
            (
                "admin/tickets.html",
                context! {
                    statuses => vec![context! { value => "new", label => "New", selected => true }],
                    priorities => vec![context! { value => "high", label => "High", selected => false }],
                    assignees => vec![context! { value => "s1", label => "s@b.example", selected => false }], assignee => "me", overdue => true,
                    tickets => vec![context! { id => "t1", subject => "Front <gate>", customer => "a@b.example", customer_id => "u1", status => "New", priority => "High", urgent => true, category => "Billing", assignee => "", due => "today", overdue => true, updated => "today" }],
                },
            ),
            (
                "admin/ticket.html",
                context! {
                    ticket => context! { id => "t1", subject => "<Ann>", customer => "a@b.example", customer_id => "u1", device_id => "d1", category => "Billing", status => "New", priority => "High", opened => "today", due => "today", answered => "", overdue => true },
                    statuses => vec![context! { value => "new", label => "New", selected => true }],
                    priorities => vec![context! { value => "high", label => "High", selected => true }],
                    assignees => vec![context! { value => "s1", label => "s@b.example", selected => true }],
                    messages => vec![context! { from => "a@b.example", staff => false, internal => false, when => "today", body => "<Ann>" }, context! { from => "s@b.example", staff => true, internal => true, when => "today", body => "note" }],
                    saved => vec![context! { id => "r1", title => "Card", body => "Update it" }],
                    reply => "", note => "", error => "The note is empty.", max_message => 5000,
                    context => context! {
                        taken => "today", invoices => vec![context! { number => "SB-1", status => "Open", total => "$5.00", issued => "today" }],
                        failures => vec![context! { amount => "$5.00", when => "today", reason => "declined" }],
                        subscription => context! { plan => "basic", status => "Past due", past_due_since => "today", period => "a to b", cancel_at_period_end => false, notifications => 1, notification_limit => "100", data => "1 MB", data_limit => "1 GB" },
                        mailbox => context! { id => "d1", serial => "SB-1", name => "Front <gate>", location => "", lifecycle => "In service", status => "Asleep", warn => false, battery => 80, signal => -80, network => "Cellular", firmware => "1.0.0", last_seen => "today", queue => 0,
                            events => vec![context! { when => "today", reading => "Letter", photos => "1 photo", thumbs => vec!["/admin/tickets/t1/photos/e1/0"] }] },
                    },
                },
            ),
            (
                "admin/analytics.html",
                context! {
                    error => "bad <period>", period => "30d", from => "2027-01-01", to => "2027-01-30",
                    previous_from => "2026-12-02", previous_to => "2026-12-31", missing_days => 2,
                    query => "period=custom&from=2027-01-01&to=2027-01-30",
                    figures => vec![context! { label => "New MRR", value => "$5.00", previous => "no data", change => "", drill => "/admin/analytics/movements?kind=new" }],
                    charts => vec![context! { title => "MRR", svg => "<svg></svg>" }],
                    buckets => vec![context! { from => "2027-01-01", to => "2027-01-07", mrr => "$5.00", net => "$5.00", churn => "0.0 %", arpu => "$5.00" }],
                },
            ),
            (
                "admin/analytics_movements.html",
                context! {
                    kind => "New", from => "2027-01-01", to => "2027-01-30", query => "period=30d", capped => true, limit => 500,
                    customers => vec![context! { day => "2027-01-02", id => "u1", email => "<Ann>", before => "$0.00", after => "$5.00", change => "$5.00" }],
                },
            ),
            (
                "admin/analytics_spend.html",
                context! {
                    error => "<Ann>", may_edit => true, month => "2027-01", channel => "search", amount => "12", reason => "r",
                    entries => vec![context! { month => "2027-01", channel => "<Ann>", amount => "$12.00" }],
                },
            ),
            (
                "admin/firmware.html",
                context! {
                    open => "esp32c6",
                    images => vec![context! { version => "2.1.0", board => "esp32c6", size => "20 KB", published => "today", audience => "through rollouts only" }],
                    rollouts => vec![context! {
                        id => "r1", version => "2.1.0", state => "paused", stage => "stage 1 of 5", started => "today",
                        paused_reason => "Front <gate>", board => "esp32c6", target => "mailboxes tagged pilot at its start (2 in service)",
                        gates => vec![context! { label => "failed or rolled back", value => "50.0 %", threshold => "at most 5.0 %", tripped => true }],
                        stages => vec![context! { label => "Stage 1 · 1 %", soak => "soaks 2h with 80 % confirmed", members => 2, current => true, started => "today",
                            bars => vec![context! { label => "Confirmed", count => 1, max => 2 }] }],
                        commands => vec![context! { id => "abort", label => "Abort", hint => "For good.", danger => true }],
                    }],
                },
            ),
        ];
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/admin");
        for file in std::fs::read_dir(&folder).expect("the admin templates folder") {
            let name = format!(
                "admin/{}",
                file.expect("a file").file_name().to_string_lossy()
            );
            assert!(
                TEMPLATES.iter().any(|(n, _)| *n == name),
                "{name} is not embedded"
            );
            assert!(
                name == "admin/base.html" || cases.iter().any(|(n, _)| *n == name),
                "{name} has no rendering case"
            );
        }
        for (name, ctx) in cases {
            let html = render(name, context! { ..ctx, ..common.clone() })
                .unwrap_or_else(|err| panic!("{name}: {err:#}"));
            assert!(!html.contains("<script>"), "{name} has an inline script");
            assert!(!html.contains("style="), "{name} has an inline style");
            assert!(!html.contains("Front <gate>"), "{name} escapes user text");
            assert!(!html.contains("<Ann>"), "{name} escapes user text");
        }
    }
}
