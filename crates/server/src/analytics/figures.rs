//! The report as a list of named figures, each with its exact parts: one list that the page,
//! the CSV and the JSON API all show, so the three always give the same numbers.

use serde::Serialize;
use smartbox_domain::metrics::{PeriodFigures, Ratio, Spread};

use super::report::Report;

/// What a figure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Money, in cents.
    Cents,
    /// A share between 0 and 1 (NRR may pass 1).
    Rate,
    Count,
    Bytes,
    Months,
}

/// A figure's value: the decimal and, exactly, its numerator and denominator (`None` when the
/// figure is undefined, e.g. churn without customers at the start).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Value {
    pub value: Option<f64>,
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
}

impl Value {
    fn ratio(r: Option<Ratio>) -> Value {
        match r {
            Some(r) => Value {
                value: Some(r.to_f64()),
                numerator: i64::try_from(r.numerator()).ok(),
                denominator: i64::try_from(r.denominator()).ok(),
            },
            None => Value {
                value: None,
                numerator: None,
                denominator: None,
            },
        }
    }

    fn whole(n: i64) -> Value {
        Value::ratio(Some(Ratio::from_integer(i128::from(n))))
    }

    fn count(n: u64) -> Value {
        Value::whole(i64::try_from(n).unwrap_or(i64::MAX))
    }

    fn bytes(n: Option<u64>) -> Value {
        Value::ratio(n.map(|n| Ratio::from_integer(i128::from(n))))
    }
}

/// One figure of the period and of the previous one.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figure {
    /// Stable name, e.g. `mrr`, `logo_churn`.
    pub key: &'static str,
    /// In plain words.
    pub label: &'static str,
    pub unit: Unit,
    pub current: Value,
    pub previous: Value,
}

/// Every figure of the report, in the order the page shows them.
pub fn figures(report: &Report) -> Vec<Figure> {
    let now = values(&report.figures, Some(&report.data));
    let before = values(&report.previous, None);
    now.into_iter()
        .zip(before)
        .map(
            |((key, label, unit, current), (_, _, _, previous))| Figure {
                key,
                label,
                unit,
                current,
                previous,
            },
        )
        .collect()
}

type Row = (&'static str, &'static str, Unit, Value);

fn values(f: &PeriodFigures, data: Option<&Spread>) -> Vec<Row> {
    let cents = |c: smartbox_domain::Cents| Value::whole(c.get());
    let m = &f.movements;
    let none = Value::ratio(None);
    vec![
        ("mrr", "MRR at the end", Unit::Cents, cents(f.mrr_end)),
        ("arr", "ARR (MRR x 12)", Unit::Cents, cents(f.arr)),
        ("net_new_mrr", "Net new MRR", Unit::Cents, cents(m.net())),
        ("new_mrr", "New MRR", Unit::Cents, cents(m.new)),
        (
            "expansion_mrr",
            "Expansion MRR",
            Unit::Cents,
            cents(m.expansion),
        ),
        (
            "contraction_mrr",
            "Contraction MRR",
            Unit::Cents,
            cents(m.contraction),
        ),
        ("churned_mrr", "Churned MRR", Unit::Cents, cents(m.churn)),
        (
            "reactivation_mrr",
            "Reactivation MRR",
            Unit::Cents,
            cents(m.reactivation),
        ),
        (
            "other_revenue",
            "Overage and one-off charges",
            Unit::Cents,
            cents(f.other_revenue),
        ),
        (
            "paying_customers",
            "Paying customers at the end",
            Unit::Count,
            Value::count(f.paying_end),
        ),
        (
            "new_customers",
            "New customers",
            Unit::Count,
            Value::count(m.new_customers),
        ),
        (
            "churned_customers",
            "Customers lost",
            Unit::Count,
            Value::count(m.churned_customers),
        ),
        (
            "reactivated_customers",
            "Customers won back",
            Unit::Count,
            Value::count(m.reactivated_customers),
        ),
        ("arpu", "ARPU", Unit::Cents, Value::ratio(f.arpu)),
        (
            "logo_churn",
            "Customer churn",
            Unit::Rate,
            Value::ratio(f.logo_churn),
        ),
        (
            "revenue_churn",
            "Revenue churn",
            Unit::Rate,
            Value::ratio(f.revenue_churn),
        ),
        (
            "net_revenue_retention",
            "Net revenue retention",
            Unit::Rate,
            Value::ratio(f.net_revenue_retention),
        ),
        (
            "trial_to_paid",
            "Trials that became paying",
            Unit::Rate,
            Value::ratio(f.trial_to_paid),
        ),
        ("ltv", "Lifetime value", Unit::Cents, Value::ratio(f.ltv)),
        (
            "acquisition_spend",
            "Acquisition spend",
            Unit::Cents,
            Value::ratio(Some(f.spend)),
        ),
        (
            "cac",
            "Cost to acquire a customer",
            Unit::Cents,
            Value::ratio(f.cac),
        ),
        (
            "cac_payback",
            "CAC payback",
            Unit::Months,
            Value::ratio(f.cac_payback_months),
        ),
        (
            "activation",
            "Mailboxes activated within 30 days of shipping",
            Unit::Rate,
            Value::ratio(f.activation),
        ),
        (
            "data_per_device",
            "Data per mailbox (mean)",
            Unit::Bytes,
            Value::ratio(f.data_per_device),
        ),
        (
            "data_per_device_p50",
            "Data per mailbox (median)",
            Unit::Bytes,
            data.map_or(none, |d| Value::bytes(d.p50)),
        ),
        (
            "data_per_device_p95",
            "Data per mailbox (95th percentile)",
            Unit::Bytes,
            data.map_or(none, |d| Value::bytes(d.p95)),
        ),
        (
            "notification_success",
            "Notifications delivered",
            Unit::Rate,
            Value::ratio(f.notification_success),
        ),
        (
            "dunning_recovery",
            "Failed payments recovered",
            Unit::Rate,
            Value::ratio(f.dunning_recovery),
        ),
    ]
}
