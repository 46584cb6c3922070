//! The template set, embedded in the binary and compiled once. Autoescaping is on for every
//! `.html` template. Rendering errors are runtime errors, so a test renders every template.

use std::sync::LazyLock;

use minijinja::{Environment, Value};

/// Every template: (name, source).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("signup.html", include_str!("../../templates/signup.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("forgot.html", include_str!("../../templates/forgot.html")),
    ("reset.html", include_str!("../../templates/reset.html")),
    ("message.html", include_str!("../../templates/message.html")),
    ("claim.html", include_str!("../../templates/claim.html")),
    (
        "claim_plan.html",
        include_str!("../../templates/claim_plan.html"),
    ),
    (
        "dashboard.html",
        include_str!("../../templates/dashboard.html"),
    ),
    (
        "mailboxes.html",
        include_str!("../../templates/mailboxes.html"),
    ),
    ("gallery.html", include_str!("../../templates/gallery.html")),
    ("event.html", include_str!("../../templates/event.html")),
    (
        "email_confirm.html",
        include_str!("../../templates/email_confirm.html"),
    ),
    (
        "settings.html",
        include_str!("../../templates/settings.html"),
    ),
    ("billing.html", include_str!("../../templates/billing.html")),
    (
        "payment_method.html",
        include_str!("../../templates/payment_method.html"),
    ),
    (
        "billing_plan.html",
        include_str!("../../templates/billing_plan.html"),
    ),
    ("invoice.html", include_str!("../../templates/invoice.html")),
    ("devices.html", include_str!("../../templates/devices.html")),
    ("device.html", include_str!("../../templates/device.html")),
    ("account.html", include_str!("../../templates/account.html")),
    (
        "packing_slip.html",
        include_str!("../../templates/packing_slip.html"),
    ),
    ("support.html", include_str!("../../templates/support.html")),
    (
        "support_new.html",
        include_str!("../../templates/support_new.html"),
    ),
    (
        "support_ticket.html",
        include_str!("../../templates/support_ticket.html"),
    ),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|err| panic!("template {name} does not parse: {err:#}"));
    }
    env.add_filter("money", |cents: i64| super::format::money(cents));
    env.add_filter("urlencode", |text: String| {
        super::error::encode_query(&text)
    });
    env
});

/// Renders template `name` with `ctx`.
pub fn render(name: &str, ctx: Value) -> Result<String, minijinja::Error> {
    ENV.get_template(name)?.render(ctx)
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use super::*;

    fn mailbox() -> Value {
        context! {
            id => "d1", name => "Front <gate>", serial => "SB-1", location => "Porch",
            mail_waiting => true, last_delivery => "2026-11-25 14:30", last_delivery_event => "e1",
            first_photo => "/photos/e1/0", battery => 80, battery_chart => "0,12 300,14", signal_dbm => -80,
            signal_bars => 3, network => "Cellular", status => "Asleep · next check-in 18:00", late => false,
        }
    }

    fn subscription() -> Value {
        context! {
            id => "s1", mailbox => "Front", plan => "Basic", price => "$5.00", status => "Free trial", trialing => true,
            trial_left => "7 days", period_end => "2026-12-02", pending_plan => None::<String>, cancel_at_period_end => false,
            notifications_used => 3, notifications_limit => 100, notifications_percent => 3, data_used => "1 MB",
            data_limit => "1 GB", data_percent => 0, estimated_overage => None::<String>, overage => "Past the limits: ...", spend_cap => "$5.00",
            changes => vec![
                context! { id => "premium", name => "Premium", price => "$20.00", upgrade => true, prorated => "$7.50", overage => "Past ...", href => "/billing/plan?subscription=s1&plan=premium" },
                context! { id => "plus", name => "Plus", price => "$10.00", upgrade => false, prorated => None::<String>, overage => "Past ...", href => "/billing/plan?subscription=s1&plan=plus" },
            ], live => true,
            support => context! { trouble => "A payment for this mailbox failed.", href => "/support/new?category=billing", label => "Ask support about it" },
        }
    }

    /// Every template renders with the values its handler gives it (minijinja errors are runtime
    /// errors, and undefined values are errors here), and user text is escaped.
    #[test]
    fn every_template_renders() {
        let user = context! { email => "a@b.example", role => "customer", staff => false };
        let common =
            context! { csrf => "token", user => user, title => "Title", nav => "dashboard" };
        let cases: Vec<(&str, Value)> = vec![
            (
                "error.html",
                context! { status => 404, message => "Not here" },
            ),
            (
                "message.html",
                context! { message => "Done", link => "/login", link_text => "Log in" },
            ),
            (
                "signup.html",
                context! { next => "/x", email => "a@b", error => "Taken", claiming => "SB-1" },
            ),
            (
                "login.html",
                context! { next => "", email => "", error => None::<String>, claiming => None::<String> },
            ),
            ("forgot.html", context! {}),
            (
                "reset.html",
                context! { token => "t", error => None::<String> },
            ),
            (
                "email_confirm.html",
                context! { token => "t", new_email => "new@b.example" },
            ),
            (
                "claim.html",
                context! { serial => "SB-1", code => "ABCD", error => "Wrong" },
            ),
            (
                "claim_plan.html",
                context! { serial => "SB-1", error => None::<String>, plans => vec![
                    context! { id => "basic", name => "Basic", price_cents => 500, notifications => "100", data_gb => 1, overage => "Past ..." },
                    context! { id => "premium", name => "Premium", price_cents => 2000, notifications => "Unlimited", data_gb => 20, overage => "Past ..." },
                ] },
            ),
            (
                "dashboard.html",
                context! { mailboxes => vec![mailbox()], updated => "10:08" },
            ),
            (
                "mailboxes.html",
                context! { mailboxes => Vec::<Value>::new(), updated => "10:08" },
            ),
            (
                "gallery.html",
                context! {
                    events => vec![context! { id => "e1", mailbox => "Front", kind => "mail_arrived", when => "today", category => "uncategorised", reading => "Package (92 % sure)", photos => vec![context! { full => "/photos/e1/0", thumb => "/photos/e1/0/thumbnail" }], waiting_photos => 1 }],
                    devices => vec![context! { id => "d1", name => "Front", selected => true }],
                    from => "", to => "", category => "uncategorised", next => "/gallery?kind=delivery&before=1~e1", paged => true, newest => "/gallery?kind=delivery",
                    categories => vec![context! { value => "package", label => "Package", selected => true }],
                    kinds => vec![context! { value => "delivery", label => "Delivery", selected => false }],
                },
            ),
            (
                "event.html",
                context! { mailbox => "Front", when => "today", reading => "Letter (corrected)", id => "e1", read => true,
                photos => vec![context! { url => "/photos/e1/0", file => "mail.jpg" }], older => "e0", newer => None::<String>,
                categories => vec![context! { value => "letter", label => "Letter", selected => true }],
                kinds => vec![context! { value => "delivery", label => "Delivery", selected => true }] },
            ),
            (
                "settings.html",
                context! {
                    devices => vec![context! { id => "d1", name => "Front", channels => vec![context! { id => "email", label => "Email", on => true }], deliveries_only => true, wifi_ssid => "Garden", wifi_note => "The mailbox joined this network." }],
                    caps => vec![context! { id => "s1", mailbox => "Front", dollars => "5.00", max => "$50.00", default => "$5.00" }],
                    zone_regions => vec![context! { region => "Europe", zones => vec![context! { name => "Europe/Paris", city => "Paris", selected => true }] }],
                    saved_offset => "UTC+01:00", zone_unchosen => false, quiet_start => "22:00", quiet_end => "07:00",
                    error => None::<String>, saved => true,
                    webhook_url => "https://example.com/hook", webhook_secret => None::<String>, webhook_test => None::<String>,
                    vapid_key => "BPublicKey", push_browsers => 1, digest => true,
                    webhook_log => vec![context! { at => "today", event => "e1", url => "https://example.com/hook", status => "delivered", reason => "", attempts => 1 }],
                },
            ),
            (
                "billing.html",
                context! {
                    subscriptions => vec![subscription()], sandbox => true, card => "Visa ending 4242, expires 12/30",
                    invoices => vec![context! { id => "i1", number => "SB-000001", date => "2026-11-25", kind => "proration", status => "paid", total => "$7.50" }],
                    payments => vec![context! { when => "today", invoice => "SB-000001", amount => "$7.50", status => "failed", failure => "declined" }],
                },
            ),
            (
                "payment_method.html",
                context! { welcome => true, error => "Declined", sandbox => true, mode => "sandbox", stripe => None::<String>, unreachable => false, card_on_file => "Visa ending 4242, expires 12/30" },
            ),
            (
                "payment_method.html",
                context! {
                    welcome => false, error => None::<String>, sandbox => false, mode => "test", unreachable => false, card_on_file => None::<String>,
                    stripe => context! { publishable_key => "pk_test_1", client_secret => "seti_1_secret_2" },
                },
            ),
            (
                "billing_plan.html",
                context! {
                    subscription => "s1", from => "Basic", to => "Premium", to_id => "premium", change => "upgrade",
                    prorated => "$7.50", charged_now => true, price => "$20.00", overage => "Past ...", effective => "2026-11-25 14:30", immediate => true,
                },
            ),
            (
                "invoice.html",
                context! {
                    number => "SB-000001", status => "paid", kind => "proration", issued => "2026-11-25", period_start => "2026-11-25",
                    period_end => "2026-12-02", total => "$7.50", paid => "2026-11-25 14:30", email => "a@b",
                    lines => vec![context! { description => "Upgrade", amount => "$7.50" }],
                },
            ),
            (
                "devices.html",
                context! { devices => vec![context! { id => "d1", name => "Front", serial => "SB-1", location => "", lifecycle => "In service", status => "Asleep", late => false, battery => 50, firmware => "1.0.0" }] },
            ),
            (
                "device.html",
                context! {
                    id => "d1", name => "Front", serial => "SB-1", location => "Porch", lifecycle => "In service", status => "Asleep", late => false,
                    history => vec![context! { when => "today", battery => 80, power => "sleep", signal => -80, network => "cellular", firmware => "1.0.0", queue => 0 }],
                    battery_chart => "0,1", returnable => true, error => None::<String>, notice => "Saved.",
                    intervals => vec![context! { value => 21600, label => "Every 6 h: battery about 28 months", selected => true }],
                    open_return => None::<()>, reasons => vec!["Moving house"],
                    held => "2 mail events are waiting on the mailbox's SD card.",
                },
            ),
            (
                "device.html",
                context! {
                    id => "d1", name => "Front", serial => "SB-1", location => "", lifecycle => "In service", status => "Return started", late => false,
                    history => Vec::<Value>::new(), battery_chart => "", returnable => true, error => None::<String>, notice => None::<String>,
                    held => None::<String>, intervals => Vec::<Value>::new(), reasons => vec!["Moving house"],
                    open_return => context! { rma => "RMA-1", reason => "Moving house", started => "today", steps => vec!["Pack it."] },
                },
            ),
            (
                "packing_slip.html",
                context! {
                    rma => "RMA-1", name => "Front", serial => "SB-1", email => "a@b", started => "today", reason => "Moving",
                    warehouse => "Depot", id => "d1",
                },
            ),
            (
                "account.html",
                context! {
                    email => "a@b.example", time_zone => "Europe/Paris", error => "Wrong", notice => "Done",
                    sessions => vec![context! { since => "today", current => true }], others => 0,
                },
            ),
            (
                "support.html",
                context! { tickets => vec![context! { id => "t1", subject => "<b>Card</b>", category => "Billing", status => "Answered", answered => true, updated => "today" }] },
            ),
            (
                "support_new.html",
                context! {
                    error => "The message is empty.", subject => "Payment failed", message => "<i>help</i>", max_subject => 120, max_message => 5000,
                    devices => vec![context! { id => "d1", name => "Front", selected => true }],
                    categories => vec![context! { value => "billing", label => "Billing", selected => true }],
                },
            ),
            (
                "support_ticket.html",
                context! {
                    id => "t1", subject => "Card", category => "Billing", status => "Answered", solved => false, mailbox => "Front",
                    opened => "today", draft => "", error => None::<String>, notice => "Sent.", max_message => 5000,
                    messages => vec![context! { from => "Support", staff => true, when => "today", body => "<script>x</script>" }],
                },
            ),
        ];
        let rendered: Vec<&str> = cases.iter().map(|(name, _)| *name).collect();
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for file in std::fs::read_dir(&folder).expect("the templates folder") {
            let file = file.expect("a file");
            // templates/admin/ is the admin console's (crate::admin::templates).
            if file.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = file.file_name().to_string_lossy().into_owned();
            assert!(
                TEMPLATES.iter().any(|(n, _)| *n == name),
                "{name} is in templates/ but not embedded"
            );
        }
        for (name, _) in TEMPLATES {
            assert!(
                *name == "base.html" || rendered.contains(name),
                "{name} has no rendering case"
            );
        }
        for (name, ctx) in cases {
            let html = render(name, context! { ..ctx, ..common.clone() })
                .unwrap_or_else(|err| panic!("{name}: {err:#}"));
            assert!(!html.contains("<script>"), "{name} has an inline script");
            assert!(
                !html.contains("style="),
                "{name} has an inline style (the CSP forbids it)"
            );
        }
        let dashboard = render(
            "dashboard.html",
            context! { mailboxes => vec![mailbox()], updated => "10:08", ..common.clone() },
        )
        .expect("renders");
        assert!(
            dashboard.contains("Front &lt;gate&gt;"),
            "user text is escaped"
        );
    }
}
