//! The tickets loop's numbers, by day or week: volume by tier and category,
//! first-response and resolution times, SLA compliance, escalation and deflection
//! rates.

use std::collections::BTreeMap;

use cairn_domain::sla;
use cairn_domain::{Merchant, Principal, Role};
use cairn_store::tickets::TicketFilter;
use cairn_store::OwnerFilter;
use serde::Serialize;
use time::{Date, Duration};

use crate::{App, AppError, Result};

/// One period's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NumbersRow {
    /// The period's first day.
    pub period: String,
    pub created: usize,
    pub resolved: usize,
    pub by_tier: BTreeMap<String, usize>,
    pub by_category: BTreeMap<String, usize>,
    /// Mean working... wall-clock minutes from creation to the first response, over
    /// tickets answered in the period.
    pub first_response_minutes_avg: Option<f64>,
    pub resolution_minutes_avg: Option<f64>,
    /// Share of tickets created in the period whose first response met its SLA (of
    /// those answered).
    pub first_response_sla_met: Option<f64>,
    /// Share of tickets created in the period whose resolution met its SLA (of those
    /// resolved).
    pub resolution_sla_met: Option<f64>,
    /// Share of tickets created in the period that were escalated at least once.
    pub escalation_rate: Option<f64>,
    pub deflections: usize,
    /// deflections / (deflections + tickets created).
    pub deflection_rate: Option<f64>,
}

/// The figures over a range.
#[derive(Debug, Clone, Serialize)]
pub struct Numbers {
    pub by: &'static str,
    pub rows: Vec<NumbersRow>,
    pub totals: NumbersRow,
}

fn period_start(d: Date, weekly: bool) -> Date {
    if weekly {
        d - Duration::days(i64::from(d.weekday().number_days_from_monday()))
    } else {
        d
    }
}

fn share(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

#[derive(Default)]
struct Acc {
    row: NumbersRow,
    fr: Vec<f64>,
    res: Vec<f64>,
    fr_met: (usize, usize),
    res_met: (usize, usize),
    escalated: usize,
}

impl Acc {
    fn finish(mut self, period: String) -> NumbersRow {
        let avg = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        self.row.period = period;
        self.row.first_response_minutes_avg = avg(&self.fr);
        self.row.resolution_minutes_avg = avg(&self.res);
        self.row.first_response_sla_met = share(self.fr_met.0, self.fr_met.1);
        self.row.resolution_sla_met = share(self.res_met.0, self.res_met.1);
        self.row.escalation_rate = share(self.escalated, self.row.created);
        self.row.deflection_rate = share(
            self.row.deflections,
            self.row.deflections + self.row.created,
        );
        self.row
    }
}

impl App {
    /// Figures per day or week over `[from, to]` (local dates of the calendar).
    pub async fn ticket_numbers(
        &self,
        p: &Principal,
        weekly: bool,
        from: Date,
        to: Date,
    ) -> Result<Numbers> {
        if p.role == Role::Merchant {
            return Err(AppError::Forbidden(
                "role merchant may not read ticket numbers".into(),
            ));
        }
        if to < from || (to - from).whole_days() > 800 {
            return Err(AppError::bad_input(
                Some("to".into()),
                "the range must run forward and span at most 800 days",
            ));
        }
        let t = self.tickets()?.clone();
        let offset = cairn_forecast::calendar::CALENDAR_OFFSET;
        let tickets = self
            .store
            .tickets(&TicketFilter {
                limit: 100_000,
                ..Default::default()
            })
            .await?;
        let tiers: std::collections::HashMap<String, cairn_domain::Tier> = self
            .store
            .all::<Merchant>(&OwnerFilter::Any)
            .await?
            .into_iter()
            .map(|m| (m.id.to_string(), m.tier))
            .collect();
        let escalated: std::collections::HashSet<String> = {
            // Escalations live in the events; one query per ticket would be slow, so a
            // ticket counts as escalated when it left support's tier or its status says so.
            tickets
                .iter()
                .filter(|t| {
                    t.tier != cairn_domain::tickets::TicketTier::Support
                        || t.status == cairn_domain::tickets::TicketStatus::Escalated
                })
                .map(|t| t.id.clone())
                .collect()
        };
        let mut acc: BTreeMap<Date, Acc> = BTreeMap::new();
        let mut total = Acc::default();
        let now = self.now();
        for tk in &tickets {
            let day = tk.created_at.to_offset(offset).date();
            if day < from || day > to {
                continue;
            }
            let key = period_start(day, weekly);
            let tier = tiers
                .get(tk.merchant_id.as_str())
                .copied()
                .unwrap_or(cairn_domain::Tier::Standard);
            let s = sla::status(
                &t.policy,
                tk.priority,
                tier,
                tk.created_at,
                tk.first_response_at,
                tk.resolved_at,
                &tk.pauses,
                now,
            );
            for a in [acc.entry(key).or_default(), &mut total] {
                a.row.created += 1;
                *a.row
                    .by_tier
                    .entry(tk.tier.as_str().to_owned())
                    .or_default() += 1;
                *a.row.by_category.entry(tk.category.clone()).or_default() += 1;
                if let Some(fr) = tk.first_response_at {
                    a.fr.push((fr - tk.created_at).as_seconds_f64() / 60.0);
                    a.fr_met.1 += 1;
                    if s.first_response.state == sla::ClockState::Met {
                        a.fr_met.0 += 1;
                    }
                }
                if let Some(r) = tk.resolved_at {
                    a.row.resolved += 1;
                    a.res.push((r - tk.created_at).as_seconds_f64() / 60.0);
                    a.res_met.1 += 1;
                    if s.resolution.state == sla::ClockState::Met {
                        a.res_met.0 += 1;
                    }
                }
                if escalated.contains(&tk.id) {
                    a.escalated += 1;
                }
            }
        }
        for at in self.store.deflection_times().await? {
            let Ok(t) =
                time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
            else {
                continue;
            };
            let day = t.to_offset(offset).date();
            if day < from || day > to {
                continue;
            }
            acc.entry(period_start(day, weekly))
                .or_default()
                .row
                .deflections += 1;
            total.row.deflections += 1;
        }
        Ok(Numbers {
            by: if weekly { "week" } else { "day" },
            rows: acc
                .into_iter()
                .map(|(d, a)| a.finish(cairn_domain::capacity::date_format::format(d)))
                .collect(),
            totals: total.finish(format!(
                "{}..{}",
                cairn_domain::capacity::date_format::format(from),
                cairn_domain::capacity::date_format::format(to)
            )),
        })
    }
}
