//! `/admin/analytics`: the business figures of a period (30 days, 90 days, 12 months or custom)
//! against the period before, charts over its weeks or months, the customers behind each MRR
//! movement, the same figures as CSV, and the acquisition spend form (admin only; the service
//! audits it). Staff of both roles read; the figures come from `crate::analytics`.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use smartbox_domain::metrics::{MovementKind, Ratio};
use smartbox_store::{month_key, parse_day_key};
use time::{Date, Duration};

use super::charts::{self, Series};
use super::payments::parse_dollars;
use super::{Staff, templates};
use crate::analytics::figures::{self, Figure, Unit};
use crate::analytics::{self, Range, Report, day_of};
use crate::services::{ServiceError, StaffRole, analytics as service};
use crate::state::AppState;
use crate::web::PageError;
use crate::web::format::{bytes, money};

/// The longest custom period: three years.
const MAX_DAYS: i64 = 3 * 366;
/// Customers listed at most behind one movement.
const MOVEMENT_LIMIT: i64 = 500;

/// The period asked for: `period` is `30d`, `90d`, `12m` or `custom` (then `from` and `to`,
/// both `YYYY-MM-DD`, inclusive).
#[derive(Debug, Deserialize, Default, Clone)]
pub struct PeriodQuery {
    #[serde(default)]
    pub period: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

impl PeriodQuery {
    /// The days of the period ending `today`, or what is wrong with the query.
    pub fn range(&self, today: Date) -> Result<Range, String> {
        let back = |days: i64| Range {
            from: today - Duration::days(days - 1),
            to: today,
        };
        let custom = !self.from.is_empty() || !self.to.is_empty();
        match self.period.as_str() {
            "" if custom => self.custom(today),
            "" | "30d" => Ok(back(30)),
            "90d" => Ok(back(90)),
            "12m" => Ok(Range {
                from: today
                    .replace_year(today.year() - 1)
                    .unwrap_or(today - Duration::days(365))
                    + Duration::days(1),
                to: today,
            }),
            "custom" => self.custom(today),
            other => Err(format!(
                "{other:?} is not a period: choose 30d, 90d, 12m or custom."
            )),
        }
    }

    fn custom(&self, today: Date) -> Result<Range, String> {
        let day = |text: &str, what: &str| {
            parse_day_key(text.trim())
                .ok_or_else(|| format!("The {what} date {text:?} is not a date like 2027-01-31."))
        };
        let range = Range {
            from: day(&self.from, "start")?,
            to: day(&self.to, "end")?,
        };
        if range.from > range.to {
            return Err("The start date is after the end date.".into());
        }
        if range.to > today {
            return Err(format!("The end date is in the future (today is {today})."));
        }
        if range.days() > MAX_DAYS {
            return Err("A period may be at most three years long.".into());
        }
        Ok(range)
    }

    /// The query string that asks for `range` again.
    fn of(range: Range) -> String {
        format!("period=custom&from={}&to={}", range.from, range.to)
    }
}

/// A figure's value as the page shows it.
fn shown(unit: Unit, v: &figures::Value) -> String {
    let exact = v
        .numerator
        .zip(v.denominator)
        .and_then(|(n, d)| Ratio::new(n.into(), d.into()));
    let Some(r) = exact else {
        return "no data".to_owned();
    };
    match unit {
        Unit::Cents => money(r.to_cents().get()),
        Unit::Rate => format!("{:.1} %", r.to_f64() * 100.0),
        Unit::Count => r.round_half_up().to_string(),
        Unit::Bytes => bytes(i64::try_from(r.round_half_up()).unwrap_or(i64::MAX)),
        Unit::Months => format!("{:.1} months", r.to_f64()),
    }
}

/// The change against the previous period: points for rates, a percentage otherwise.
fn change(f: &Figure) -> String {
    match (f.current.value, f.previous.value) {
        (Some(now), Some(before)) if f.unit == Unit::Rate => {
            format!("{:+.1} pts", (now - before) * 100.0)
        }
        (Some(now), Some(before)) if before != 0.0 => {
            format!("{:+.1} %", (now - before) / before.abs() * 100.0)
        }
        (Some(now), Some(_)) if now != 0.0 => "up from nothing".to_owned(),
        (Some(_), Some(_)) => "no change".to_owned(),
        _ => String::new(),
    }
}

/// The movement behind a figure, for its drill-down link.
fn movement_of(key: &str) -> Option<MovementKind> {
    match key {
        "new_mrr" | "new_customers" => Some(MovementKind::New),
        "expansion_mrr" => Some(MovementKind::Expansion),
        "contraction_mrr" => Some(MovementKind::Contraction),
        "churned_mrr" | "churned_customers" => Some(MovementKind::Churn),
        "reactivation_mrr" | "reactivated_customers" => Some(MovementKind::Reactivation),
        _ => None,
    }
}

/// The charts of the report's buckets.
fn charts(report: &Report) -> Vec<Value> {
    let labels: Vec<String> = report
        .buckets
        .iter()
        .map(|b| {
            if report.range.days() > 92 {
                format!(
                    "{} {}",
                    &b.range.from.month().to_string()[..3],
                    b.range.from.year()
                )
            } else {
                b.range.from.to_string()
            }
        })
        .collect();
    let each =
        |f: &dyn Fn(&smartbox_domain::metrics::PeriodFigures) -> Option<f64>| -> Vec<Option<f64>> {
            report.buckets.iter().map(|b| f(&b.figures)).collect()
        };
    let dollars = |v: f64| money((v * 100.0).round() as i64);
    let cents_as_dollars = |v: f64| money(v.round() as i64);
    let percent = |v: f64| format!("{:.0} %", v * 100.0);
    let ratio = |r: Option<Ratio>| r.map(Ratio::to_f64);
    let amount = |c: smartbox_domain::Cents| Some(c.get() as f64 / 100.0);
    let chart = |title: &str, svg: String| context! { title => title, svg => svg };
    vec![
        chart(
            "MRR at the end of each slice",
            charts::lines(
                "MRR",
                &labels,
                &[Series {
                    name: "MRR",
                    colour: "#0b5cad",
                    values: each(&|f| amount(f.mrr_end)),
                }],
                &dollars,
            ),
        ),
        chart(
            "MRR movements",
            charts::stacked_bars(
                "MRR movements",
                &labels,
                &[
                    Series {
                        name: "New",
                        colour: "#1a7f37",
                        values: each(&|f| amount(f.movements.new)),
                    },
                    Series {
                        name: "Expansion",
                        colour: "#54aeff",
                        values: each(&|f| amount(f.movements.expansion)),
                    },
                    Series {
                        name: "Reactivation",
                        colour: "#8250df",
                        values: each(&|f| amount(f.movements.reactivation)),
                    },
                ],
                &[
                    Series {
                        name: "Contraction",
                        colour: "#d4a72c",
                        values: each(&|f| amount(f.movements.contraction)),
                    },
                    Series {
                        name: "Churn",
                        colour: "#cf222e",
                        values: each(&|f| amount(f.movements.churn)),
                    },
                ],
                &dollars,
            ),
        ),
        chart(
            "Churn",
            charts::lines(
                "Churn",
                &labels,
                &[
                    Series {
                        name: "Customers",
                        colour: "#cf222e",
                        values: each(&|f| ratio(f.logo_churn)),
                    },
                    Series {
                        name: "Revenue",
                        colour: "#d4a72c",
                        values: each(&|f| ratio(f.revenue_churn)),
                    },
                ],
                &percent,
            ),
        ),
        chart(
            "ARPU",
            charts::lines(
                "ARPU",
                &labels,
                &[Series {
                    name: "ARPU",
                    colour: "#0b5cad",
                    values: each(&|f| ratio(f.arpu)),
                }],
                &cents_as_dollars,
            ),
        ),
        chart(
            "Activation within 30 days of shipping",
            charts::lines(
                "Activation",
                &labels,
                &[Series {
                    name: "Activated",
                    colour: "#1a7f37",
                    values: each(&|f| ratio(f.activation)),
                }],
                &percent,
            ),
        ),
        chart(
            "Data per mailbox (mean of the billing months that ended)",
            charts::lines(
                "Data per mailbox",
                &labels,
                &[Series {
                    name: "Mean",
                    colour: "#0b5cad",
                    values: each(&|f| ratio(f.data_per_device)),
                }],
                &|v| bytes(v.round() as i64),
            ),
        ),
        chart(
            "Notifications delivered",
            charts::lines(
                "Notification success",
                &labels,
                &[Series {
                    name: "Delivered",
                    colour: "#1a7f37",
                    values: each(&|f| ratio(f.notification_success)),
                }],
                &percent,
            ),
        ),
    ]
}

/// `GET /admin/analytics`.
pub async fn page(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, PageError> {
    let now = state.clock.now_ms();
    let today = day_of(now);
    let custom = !q.from.is_empty() || !q.to.is_empty();
    let (status, range, error, selected) = match q.range(today) {
        Ok(range) if q.period.is_empty() && custom => (StatusCode::OK, range, None, "custom"),
        Ok(range) if q.period.is_empty() => (StatusCode::OK, range, None, "30d"),
        Ok(range) => (StatusCode::OK, range, None, q.period.as_str()),
        Err(message) => (
            StatusCode::BAD_REQUEST,
            Range {
                from: today - Duration::days(29),
                to: today,
            },
            Some(message),
            "30d",
        ),
    };
    let report = analytics::report(&state.db, range, now).await?;
    let query = PeriodQuery::of(range);
    let rows: Vec<Value> = figures::figures(&report)
        .iter()
        .map(|f| {
            let drill = movement_of(f.key)
                .map(|k| format!("/admin/analytics/movements?kind={}&{query}", k.as_str()));
            context! {
                label => f.label, value => shown(f.unit, &f.current), previous => shown(f.unit, &f.previous),
                change => change(f), drill => drill,
            }
        })
        .collect();
    templates::page(
        &staff,
        status,
        "admin/analytics.html",
        context! {
            title => "Analytics", nav => "analytics", notice => None::<String>, error => error,
            period => selected,
            from => range.from.to_string(), to => range.to.to_string(),
            previous_from => report.previous_range.from.to_string(), previous_to => report.previous_range.to.to_string(),
            missing_days => report.missing_days, query => query,
            figures => rows, charts => charts(&report),
            buckets => report.buckets.iter().map(|b| context! {
                from => b.range.from.to_string(), to => b.range.to.to_string(),
                mrr => money(b.figures.mrr_end.get()), net => money(b.figures.movements.net().get()),
                churn => b.figures.logo_churn.map_or("no data".to_owned(), |r| format!("{:.1} %", r.to_f64() * 100.0)),
                arpu => b.figures.arpu.map_or("no data".to_owned(), |r| money(r.to_cents().get())),
            }).collect::<Vec<_>>(),
        },
    )
}

/// `GET /admin/analytics.csv`: the page's figures, one line each.
pub async fn csv(
    State(state): State<AppState>,
    _staff: Staff,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, PageError> {
    let now = state.clock.now_ms();
    let range = q
        .range(day_of(now))
        .map_err(|m| PageError::Status(StatusCode::BAD_REQUEST, m))?;
    let report = analytics::report(&state.db, range, now).await?;
    let cell = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let int = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut body = String::from(
        "from,to,figure,label,unit,value,numerator,denominator,previous_value,previous_numerator,previous_denominator\n",
    );
    for f in figures::figures(&report) {
        let unit = serde_json::to_value(f.unit)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        body.push_str(&format!(
            "{},{},{},\"{}\",{unit},{},{},{},{},{},{}\n",
            range.from,
            range.to,
            f.key,
            f.label.replace('"', "\"\""),
            cell(f.current.value),
            int(f.current.numerator),
            int(f.current.denominator),
            cell(f.previous.value),
            int(f.previous.numerator),
            int(f.previous.denominator),
        ));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"analytics-{}-{}.csv\"",
                    range.from, range.to
                ),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize, Default)]
pub struct MovementQuery {
    #[serde(default)]
    kind: String,
    #[serde(flatten)]
    period: PeriodQuery,
}

/// `GET /admin/analytics/movements?kind=...`: the customers behind a movement in the period.
pub async fn movements(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<MovementQuery>,
) -> Result<Response, PageError> {
    let bad = |m: String| PageError::Status(StatusCode::BAD_REQUEST, m);
    let kind: MovementKind = q.kind.parse().map_err(|_| {
        bad(format!(
            "{:?} is not a movement: choose new, expansion, contraction, churn or reactivation.",
            q.kind
        ))
    })?;
    let range = q.period.range(day_of(state.clock.now_ms())).map_err(bad)?;
    let rows = state
        .db
        .analytics_movements(range.from, range.to, kind, MOVEMENT_LIMIT)
        .await?;
    let customers: Vec<Value> = rows
        .iter()
        .map(|r| {
            context! {
                day => r.day, id => r.customer_id, email => r.email,
                before => money(r.before_cents), after => money(r.after_cents),
                change => money(r.after_cents - r.before_cents),
            }
        })
        .collect();
    templates::page(
        &staff,
        StatusCode::OK,
        "admin/analytics_movements.html",
        context! {
            title => format!("{} MRR", kind.label()), nav => "analytics", notice => None::<String>,
            kind => kind.label(), from => range.from.to_string(), to => range.to.to_string(),
            query => PeriodQuery::of(range), customers => customers,
            capped => rows.len() as i64 == MOVEMENT_LIMIT, limit => MOVEMENT_LIMIT,
        },
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct SpendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Deserialize, Default)]
pub struct SpendQuery {
    #[serde(default)]
    done: String,
}

/// The spend page: the last 13 months' entries and, for an admin, the form.
async fn spend_page(
    state: &AppState,
    staff: &Staff,
    status: StatusCode,
    form: &SpendForm,
    error: Option<String>,
    notice: Option<&str>,
) -> Result<Response, PageError> {
    let today = day_of(state.clock.now_ms());
    let first = today.replace_year(today.year() - 1).unwrap_or(today);
    let rows = state
        .db
        .acquisition_spend(
            &month_key(first.year(), first.month()),
            &month_key(today.year(), today.month()),
        )
        .await?;
    let entries: Vec<Value> = rows
        .iter()
        .rev()
        .map(|r| context! { month => r.month, channel => r.channel, amount => money(r.amount_cents) })
        .collect();
    let month = if form.month.is_empty() {
        month_key(today.year(), today.month())
    } else {
        form.month.clone()
    };
    templates::page(
        staff,
        status,
        "admin/analytics_spend.html",
        context! {
            title => "Acquisition spend", nav => "analytics", notice => notice, error => error,
            may_edit => staff.role == StaffRole::Admin, entries => entries,
            month => month, channel => form.channel, amount => form.amount, reason => form.reason,
        },
    )
}

/// `GET /admin/analytics/spend`.
pub async fn spend(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<SpendQuery>,
) -> Result<Response, PageError> {
    let notice = (q.done == "1").then_some("Spend saved.");
    spend_page(
        &state,
        &staff,
        StatusCode::OK,
        &SpendForm::default(),
        None,
        notice,
    )
    .await
}

/// `POST /admin/analytics/spend` (admin only): a month's spend on a channel.
pub async fn set_spend(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<SpendForm>,
) -> Result<Response, PageError> {
    if !staff.csrf_matches(&form.csrf) {
        return Err(PageError::bad_csrf());
    }
    let outcome = match (
        parse_dollars(&form.amount),
        service::parse_month(&form.month),
    ) {
        (Err(message), _) => Err(message),
        (Ok(None), _) => Err("Enter the amount spent, like 1250.00.".to_owned()),
        (_, Err(err)) => Err(err.to_string()),
        (Ok(Some(amount)), Ok(month)) => {
            match service::set_spend(
                &state,
                &staff.actor(),
                month,
                &form.channel,
                amount,
                &form.reason,
            )
            .await
            {
                Ok(()) => Ok(()),
                Err(ServiceError::Invalid { message, .. }) => Err(message),
                Err(err) => return Err(err.into()),
            }
        }
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/admin/analytics/spend?done=1").into_response()),
        Err(message) => {
            spend_page(
                &state,
                &staff,
                StatusCode::BAD_REQUEST,
                &form,
                Some(message),
                None,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn q(period: &str, from: &str, to: &str) -> PeriodQuery {
        PeriodQuery {
            period: period.into(),
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn periods_end_today_and_custom_ones_are_checked() {
        let today = date!(2027 - 03 - 31);
        let r = |p: &PeriodQuery| p.range(today).map(|r| (r.from, r.to));
        assert_eq!(r(&q("", "", "")), Ok((date!(2027 - 03 - 02), today)));
        assert_eq!(r(&q("90d", "", "")), Ok((date!(2027 - 01 - 01), today)));
        assert_eq!(r(&q("12m", "", "")), Ok((date!(2026 - 04 - 01), today)));
        assert_eq!(
            r(&q("custom", "2027-01-01", "2027-01-31")),
            Ok((date!(2027 - 01 - 01), date!(2027 - 01 - 31)))
        );
        for bad in [
            q("7y", "", ""),
            q("custom", "2027-02-01", "2027-01-31"),
            q("custom", "2027-01-01", "2027-04-01"),
            q("custom", "yesterday", "2027-01-31"),
            q("custom", "2020-01-01", "2027-01-31"),
        ] {
            assert!(bad.range(today).is_err(), "{bad:?}");
        }
    }
}
