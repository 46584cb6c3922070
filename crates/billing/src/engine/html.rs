//! The printable invoice: one self-contained HTML page (inline CSS, no script), so the portal can
//! link it and the customer can print or save it as PDF from the browser.

use std::fmt::Write;

use smartbox_domain::Cents;

use super::from_ms;
use super::queries::InvoiceView;
use crate::provider::ProviderMode;

/// The invoice as an HTML page. Every stored text is escaped.
pub fn render_invoice_html(view: &InvoiceView, mode: ProviderMode) -> String {
    let invoice = &view.invoice;
    let number = escape(&invoice.number);
    let status = escape(invoice.status.as_str());
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Invoice {number}</title>\n<style>\n\
         body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;color:#222}}\n\
         table{{width:100%;border-collapse:collapse}}th,td{{padding:.4rem;border-bottom:1px solid #ddd;text-align:left}}\n\
         td.amount,th.amount{{text-align:right;white-space:nowrap}}.status{{text-transform:uppercase;font-weight:bold}}\n\
         .notice{{background:#fff3cd;padding:.5rem}}@media print{{.notice{{border:1px solid #999}}}}\n\
         </style>\n</head>\n<body>\n"
    );
    if mode.is_test() {
        let _ = writeln!(
            out,
            "<p class=\"notice\">{}: this invoice was not charged to a real card.</p>",
            escape(mode.label())
        );
    }
    let _ = write!(
        out,
        "<h1>Smart Mailbox — Invoice {number}</h1>\n\
         <p>Status: <span class=\"status\">{status}</span></p>\n<dl>\n\
         <dt>Billed to</dt><dd>{email}</dd>\n\
         <dt>Issued</dt><dd>{issued}</dd>\n\
         <dt>Period</dt><dd>{start} to {end}</dd>\n",
        email = escape(&view.customer_email),
        issued = from_ms(invoice.created_at).date(),
        start = from_ms(invoice.period_start).date(),
        end = from_ms(invoice.period_end).date(),
    );
    if let Some(paid) = invoice.paid_at {
        let _ = writeln!(out, "<dt>Paid</dt><dd>{}</dd>", from_ms(paid).date());
    }
    out.push_str("</dl>\n<table>\n<thead><tr><th>Description</th><th class=\"amount\">Amount</th></tr></thead>\n<tbody>\n");
    for line in &view.lines {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"amount\">{}</td></tr>",
            escape(&line.description),
            Cents::new(line.amount_cents)
        );
    }
    let _ = write!(
        out,
        "</tbody>\n<tfoot><tr><th>Total (USD)</th><th class=\"amount\">{}</th></tr></tfoot>\n</table>\n",
        Cents::new(invoice.total_cents)
    );
    if !view.payments.is_empty() {
        out.push_str("<h2>Payments</h2>\n<table>\n<thead><tr><th>Date</th><th>Status</th><th>Detail</th><th class=\"amount\">Amount</th></tr></thead>\n<tbody>\n");
        for payment in &view.payments {
            let detail = payment
                .failure_message
                .as_deref()
                .or(payment.provider_payment_id.as_deref())
                .unwrap_or("");
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"amount\">{}</td></tr>",
                from_ms(payment.created_at).date(),
                escape(payment.status.as_str()),
                escape(detail),
                Cents::new(payment.amount_cents)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use smartbox_domain::InvoiceStatus;

    use super::*;
    use smartbox_store::{InvoiceLineRow, InvoiceRow};

    fn view() -> InvoiceView {
        InvoiceView {
            invoice: InvoiceRow {
                id: "inv-1".into(),
                number: "SB-0000007".into(),
                subscription_id: "s".into(),
                customer_id: "c".into(),
                kind: "renewal".into(),
                period_start: 1_767_225_600_000,
                period_end: 1_769_904_000_000,
                status: InvoiceStatus::Paid,
                total_cents: 515,
                idempotency_key: "k".into(),
                created_at: 1_767_225_600_000,
                paid_at: Some(1_767_225_600_000),
                carried_into: None,
            },
            lines: vec![
                InvoiceLineRow {
                    invoice_id: "inv-1".into(),
                    position: 0,
                    description: "Basic plan, 2026-01-01 to 2026-02-01".into(),
                    amount_cents: 500,
                },
                InvoiceLineRow {
                    invoice_id: "inv-1".into(),
                    position: 1,
                    description: "<script>alert(1)</script>".into(),
                    amount_cents: 15,
                },
            ],
            payments: Vec::new(),
            customer_email: "ada@example.com".into(),
        }
    }

    #[test]
    fn the_page_shows_number_status_lines_and_total() {
        let html = render_invoice_html(&view(), ProviderMode::StripeLive);
        assert!(html.contains("Invoice SB-0000007"), "{html}");
        assert!(html.contains("<span class=\"status\">paid</span>"));
        assert!(
            html.contains("Basic plan, 2026-01-01 to 2026-02-01</td><td class=\"amount\">$5.00")
        );
        assert!(html.contains("Total (USD)</th><th class=\"amount\">$5.15"));
        assert!(html.contains("<dt>Period</dt><dd>2026-01-01 to 2026-02-01</dd>"));
        assert!(!html.contains("not charged to a real card"));
    }

    #[test]
    fn stored_text_is_escaped_and_sandbox_invoices_say_so() {
        let html = render_invoice_html(&view(), ProviderMode::Sandbox);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("sandbox payments (no real money): this invoice was not charged"));
    }
}
