//! Incidents: declared by hand or from an alert or problem, paged through the
//! alerting loop's escalation policies (an incident is, to alerting, a page alert), with
//! impact computed from its alerts along the topology and kept current, a timeline
//! filled by the loop and by people, updates for staff and for the merchants hurt, and a
//! review with action items tracked to done.
//!
//! Merchants see only the incidents that hurt them, and of those only the title,
//! status, times and the updates written for merchants.

pub mod demo;

use std::collections::BTreeSet;

use cairn_alert::alert::Alert;
use cairn_alert::LabelSet;
use cairn_domain::incidents::{
    validate_title, ActionItem, Incident, IncidentImpact, IncidentRole, IncidentStatus, Review,
    Severity, SeverityDefinitions,
};
use cairn_domain::{Principal, Role};
use cairn_store::incidents::TimelineEntry;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::alerting::AlertView;
use crate::records::parse_value;
use crate::{App, AppError, Result};

/// Documents namespace of the severity definitions.
pub const NS_INCIDENTS: &str = "incidents";

/// An incident as staff see it.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentDetail {
    pub incident: Incident,
    pub timeline: Vec<TimelineEntry>,
    pub severity_definition: String,
    pub suggested_severity: Severity,
    /// The attached alerts as they are now.
    pub alerts: Vec<AlertView>,
    /// What the review still lacks.
    pub review_missing: Vec<&'static str>,
}

/// An incident as a merchant hurt by it sees it.
#[derive(Debug, Clone, Serialize)]
pub struct MerchantIncident {
    pub id: String,
    pub title: String,
    pub status: IncidentStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub declared_at: cairn_domain::Timestamp,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<cairn_domain::Timestamp>,
    /// Updates written for merchants.
    pub updates: Vec<TimelineEntry>,
}

/// An incident in a list, as the caller may see it.
#[derive(Debug, Clone)]
pub enum IncidentView {
    Staff(Box<Incident>),
    Merchant(MerchantIncident),
}

impl IncidentView {
    fn to_json(&self) -> Value {
        match self {
            IncidentView::Staff(i) => serde_json::to_value(i).unwrap_or_default(),
            IncidentView::Merchant(m) => serde_json::to_value(m).unwrap_or_default(),
        }
    }
}

/// One incident, as the caller may see it.
#[derive(Debug, Clone)]
pub enum IncidentPage {
    Staff(Box<IncidentDetail>),
    Merchant(MerchantIncident),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Declaration {
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    severity: Option<Severity>,
    /// Alert fingerprints to attach.
    #[serde(default)]
    alerts: Vec<String>,
    /// A problem id from `GET /api/v1/problems`: its alerts and services.
    #[serde(default)]
    problem: Option<String>,
    /// Service ids affected, besides the alerts'.
    #[serde(default)]
    services: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAction {
    title: String,
    owner: String,
    #[serde(with = "cairn_domain::capacity::date_format")]
    due: time::Date,
    #[serde(default)]
    links: Vec<String>,
}

fn may_respond(p: &Principal) -> Result<()> {
    match p.role {
        Role::Admin | Role::BaseOps | Role::AppOps | Role::Developer | Role::Support => Ok(()),
        r => Err(AppError::Forbidden(format!(
            "role {r} may not run incidents"
        ))),
    }
}

fn entry(
    id: &str,
    at: cairn_domain::Timestamp,
    actor: &str,
    kind: &str,
    internal: bool,
    body: impl Into<String>,
    data: Value,
) -> TimelineEntry {
    TimelineEntry {
        seq: 0,
        incident_id: id.to_owned(),
        at,
        actor: actor.to_owned(),
        kind: kind.to_owned(),
        internal,
        body: body.into(),
        data,
    }
}

/// Impact from the alerts' impacts, plus services named by hand (their merchants).
fn impact_of(
    alerts: &[&AlertView],
    extra: &[cairn_alert::problems::Impact],
    keep: &IncidentImpact,
) -> IncidentImpact {
    let mut services = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    let mut pools = BTreeSet::new();
    let mut zones = BTreeSet::new();
    let mut merchants: std::collections::BTreeMap<String, bool> = Default::default();
    let impacts = alerts.iter().map(|a| &a.impact).chain(extra.iter());
    for i in impacts {
        services.extend(i.services.iter().map(|s| s.to_string()));
        hosts.extend(i.hosts.iter().map(|s| s.to_string()));
        pools.extend(i.pools.iter().map(|s| s.to_string()));
        zones.extend(i.zones.iter().map(|s| s.to_string()));
        for m in &i.merchants {
            let vip = m.tier == cairn_domain::Tier::Vip;
            let e = merchants.entry(m.id.to_string()).or_default();
            *e = *e || vip;
        }
    }
    let mut list: Vec<(String, bool)> = merchants.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    IncidentImpact {
        services: services.into_iter().collect(),
        hosts: hosts.into_iter().collect(),
        pools: pools.into_iter().collect(),
        zones: zones.into_iter().collect(),
        merchant_count: list.len(),
        vip_count: list.iter().filter(|(_, v)| *v).count(),
        merchants: list.into_iter().map(|(m, _)| m).collect(),
        override_merchants: keep.override_merchants,
        override_reason: keep.override_reason.clone(),
    }
}

impl App {
    /// The severity definitions in force (stored, or the defaults).
    pub async fn severity_definitions(&self) -> Result<SeverityDefinitions> {
        Ok(
            match self.store.document(NS_INCIDENTS, "severities").await? {
                Some(d) => serde_json::from_str(&d.value).unwrap_or_default(),
                None => SeverityDefinitions::default(),
            },
        )
    }

    /// Replaces the severity definitions.
    pub async fn set_severity_definitions(
        &self,
        p: &Principal,
        body: Value,
    ) -> Result<SeverityDefinitions> {
        if !matches!(p.role, Role::Admin | Role::BaseOps | Role::AppOps) {
            return Err(AppError::Forbidden(format!(
                "role {} may not change severity definitions",
                p.role
            )));
        }
        let d: SeverityDefinitions = parse_value("severity definitions", body)?;
        for (s, name) in [(&d.p1, "p1"), (&d.p2, "p2"), (&d.p3, "p3"), (&d.p4, "p4")] {
            if s.trim().is_empty() {
                return Err(AppError::bad_input(
                    Some(name.into()),
                    "each severity needs a definition",
                ));
            }
        }
        if d.p2_merchants == 0 || d.p1_merchants < d.p2_merchants {
            return Err(AppError::bad_input(
                Some("p1_merchants".into()),
                "p1_merchants must be at least p2_merchants, which must be above 0",
            ));
        }
        self.store
            .put_document(
                NS_INCIDENTS,
                "severities",
                &serde_json::to_string(&d).unwrap_or_default(),
                self.now(),
                &p.actor,
            )
            .await?;
        Ok(d)
    }

    async fn alert_views(&self, p: &Principal) -> Vec<AlertView> {
        if self.alerting().is_err() {
            return Vec::new();
        }
        self.alerts(p, true).await.unwrap_or_default()
    }

    /// Impact of services named by hand: what the model says they touch.
    async fn service_impacts(
        &self,
        services: &[String],
    ) -> Result<Vec<cairn_alert::problems::Impact>> {
        if services.is_empty() {
            return Ok(Vec::new());
        }
        let model = self.alert_model().await?;
        Ok(services
            .iter()
            .map(|s| {
                let mut l = LabelSet::new();
                l.insert("service".into(), s.clone());
                cairn_alert::problems::impact(&l, &*model)
            })
            .collect())
    }

    /// Puts the incident's page alert into the alerting loop, so escalation policies
    /// page the on-call of the affected services; returns its fingerprint.
    async fn page_for(&self, i: &Incident) -> Option<String> {
        let a = self.alerting().ok()?.clone();
        let now = self.now();
        let mut labels = LabelSet::new();
        labels.insert("alertname".into(), "IncidentDeclared".into());
        labels.insert("incident".into(), i.id.clone());
        labels.insert("severity".into(), i.severity.page_label().into());
        labels.insert("incident_severity".into(), i.severity.as_str().into());
        if let Some(s) = i.impact.services.first() {
            labels.insert("service".into(), s.clone());
        }
        let mut annotations = LabelSet::new();
        annotations.insert(
            "summary".into(),
            format!(
                "{} incident: {}",
                i.severity.as_str().to_uppercase(),
                i.title
            ),
        );
        let alert = Alert {
            labels,
            annotations,
            starts_at: now,
            ends_at: Some(now + time::Duration::days(30)),
            generator_url: format!("/ui/incidents/{}", i.id),
            updated_at: now,
            timeout: false,
        };
        let fp = alert.fingerprint().to_string();
        let mut e = a.engine.lock().await;
        let cfg = e.config.clone();
        let history = e.state.dispatcher.ingest(&cfg, vec![alert], now);
        let _ = self.save_alerting_state(&e).await;
        drop(e);
        let _ = self
            .store
            .append_history(&crate::alerting::history_rows(&history))
            .await;
        a.wake.notify_one();
        Some(fp)
    }

    /// Ends the incident's page alerts (the incident is resolved).
    async fn end_pages(&self, i: &Incident) {
        let Ok(a) = self.alerting().cloned() else {
            return;
        };
        let now = self.now();
        let mut e = a.engine.lock().await;
        let ended: Vec<Alert> = e
            .state
            .dispatcher
            .alerts
            .values()
            .filter(|al| i.pages.contains(&al.fingerprint().to_string()) && !al.resolved_at(now))
            .map(|al| Alert {
                ends_at: Some(now),
                updated_at: now,
                ..al.clone()
            })
            .collect();
        let cfg = e.config.clone();
        let history = e.state.dispatcher.ingest(&cfg, ended, now);
        let _ = self.save_alerting_state(&e).await;
        drop(e);
        let _ = self
            .store
            .append_history(&crate::alerting::history_rows(&history))
            .await;
    }

    /// Declares an incident: from alerts, a problem, or by hand.
    pub async fn declare_incident(&self, p: &Principal, body: Value) -> Result<Incident> {
        may_respond(p)?;
        let d: Declaration = parse_value("incident", body)?;
        validate_title(&d.title)?;
        let views = self.alert_views(p).await;
        let mut alert_fps: Vec<String> = d.alerts.clone();
        let mut services = d.services.clone();
        let mut problem_id = None;
        if let Some(pid) = &d.problem {
            let problems = self.problems(p).await?;
            let pr = problems.iter().find(|x| &x.id == pid).ok_or_else(|| {
                AppError::bad_input(
                    Some("problem".into()),
                    format!("no current problem {pid:?}"),
                )
            })?;
            alert_fps.extend(pr.alerts.iter().map(|a| a.fingerprint.clone()));
            if let Some(r) = &pr.root {
                services.insert(0, r.clone());
            }
            problem_id = Some(pid.clone());
        }
        alert_fps.sort();
        alert_fps.dedup();
        for fp in &alert_fps {
            if !views.iter().any(|v| &v.fingerprint == fp) {
                return Err(AppError::bad_input(
                    Some("alerts".into()),
                    format!("no alert {fp}"),
                ));
            }
        }
        for s in &services {
            if !self.store.exists(cairn_domain::Kind::Service, s).await? {
                return Err(AppError::bad_input(
                    Some("services".into()),
                    format!("no service {s}"),
                ));
            }
        }
        let attached: Vec<&AlertView> = views
            .iter()
            .filter(|v| alert_fps.contains(&v.fingerprint))
            .collect();
        let extra = self.service_impacts(&services).await?;
        let mut impact = impact_of(&attached, &extra, &IncidentImpact::default());
        // Named services lead (the root of a problem first).
        for s in services.iter().rev() {
            impact.services.retain(|x| x != s);
            impact.services.insert(0, s.clone());
        }
        let defs = self.severity_definitions().await?;
        let severity = d
            .severity
            .unwrap_or_else(|| defs.suggest(impact.merchant_count, impact.vip_count));
        let now = self.now();
        let mut incident = Incident {
            id: crate::auth::new_id("inc"),
            title: d.title.trim().to_owned(),
            summary: d.summary,
            severity,
            status: IncidentStatus::Investigating,
            declared_at: now,
            declared_by: p.actor.clone(),
            acknowledged_at: None,
            mitigated_at: None,
            resolved_at: None,
            roles: [("commander".to_owned(), p.actor.clone())]
                .into_iter()
                .collect(),
            alerts: alert_fps.clone(),
            pages: Vec::new(),
            problem: problem_id,
            impact,
            review: Review::default(),
            actions: Vec::new(),
        };
        let mut timeline = vec![entry(
            &incident.id,
            now,
            &p.actor,
            "declared",
            true,
            format!(
                "declared {} ({}): {}",
                incident.severity.as_str().to_uppercase(),
                defs.text(incident.severity),
                incident.title
            ),
            json!({"severity": incident.severity, "alerts": alert_fps, "suggested": defs.suggest(incident.impact.merchant_count, incident.impact.vip_count)}),
        )];
        for a in &attached {
            timeline.push(entry(
                &incident.id,
                a.starts_at,
                "alerting",
                "alert-joined",
                true,
                format!(
                    "{} {}",
                    a.name,
                    a.annotations.get("summary").cloned().unwrap_or_default()
                ),
                json!({"fingerprint": a.fingerprint}),
            ));
        }
        timeline.extend(self.what_changed(&incident, now).await);
        if let Some(fp) = self.page_for(&incident).await {
            incident.pages.push(fp.clone());
            timeline.push(entry(
                &incident.id,
                now,
                "alerting",
                "paged",
                true,
                format!(
                    "paging the on-call through escalation policies (severity {})",
                    incident.severity.page_label()
                ),
                json!({"fingerprint": fp}),
            ));
        }
        let mut tx = self.store.begin().await?;
        tx.put_incident(&incident, true).await?;
        tx.append_timeline(&timeline).await?;
        tx.commit().await?;
        Ok(incident)
    }

    /// "What changed?": the changes started on the affected services or hosts in
    /// the six hours before, each with its batches and gate verdicts.
    async fn what_changed(&self, i: &Incident, now: cairn_domain::Timestamp) -> Vec<TimelineEntry> {
        let from = now - time::Duration::hours(6);
        let changes = self
            .changes_between(&i.impact.services, &i.impact.hosts, from, now)
            .await
            .unwrap_or_default();
        if changes.is_empty() {
            return vec![entry(
                &i.id,
                now,
                "cairn",
                "change",
                true,
                "what changed? no change started on these services or hosts in the 6 hours before",
                Value::Null,
            )];
        }
        changes
            .iter()
            .map(|c| {
                let gates: Vec<String> = c
                    .batches
                    .iter()
                    .filter_map(|b| {
                        b.judgement
                            .as_ref()
                            .map(|j| format!("{}: {:?} ({:.0})", b.name, j.decision, j.score))
                    })
                    .collect();
                entry(
                    &i.id,
                    c.started_at().unwrap_or(now),
                    &c.requested_by,
                    "change",
                    true,
                    format!(
                        "what changed? {} \"{}\" ({}, {}){}",
                        c.id,
                        c.title,
                        c.change_type.as_str(),
                        c.state.as_str(),
                        if gates.is_empty() {
                            String::new()
                        } else {
                            format!("; gates: {}", gates.join(", "))
                        }
                    ),
                    json!({"change": c.id}),
                )
            })
            .collect()
    }

    /// Incidents as `p` sees them, newest first: staff all, merchants those that hurt
    /// them (in the merchant's view).
    pub async fn incident_list(&self, p: &Principal) -> Result<Vec<IncidentView>> {
        let mut all = self.store.incidents().await?;
        all.sort_by_key(|i| std::cmp::Reverse(i.declared_at));
        if p.role == Role::Merchant {
            let m = p
                .merchant_id
                .clone()
                .ok_or_else(|| AppError::Forbidden("no merchant".into()))?;
            let mut out = Vec::new();
            for i in all
                .into_iter()
                .filter(|i| i.impact.merchants.contains(&m.to_string()))
            {
                out.push(IncidentView::Merchant(self.merchant_view(&i).await?));
            }
            return Ok(out);
        }
        Ok(all
            .into_iter()
            .map(|i| IncidentView::Staff(Box::new(i)))
            .collect())
    }

    /// Incidents as `p` sees them, as JSON values for the API.
    pub async fn incidents_for(&self, p: &Principal) -> Result<Vec<Value>> {
        Ok(self
            .incident_list(p)
            .await?
            .into_iter()
            .map(|v| v.to_json())
            .collect())
    }

    async fn merchant_view(&self, i: &Incident) -> Result<MerchantIncident> {
        Ok(MerchantIncident {
            id: i.id.clone(),
            title: i.title.clone(),
            status: i.status,
            declared_at: i.declared_at,
            resolved_at: i.resolved_at,
            updates: self
                .store
                .timeline(&i.id, false)
                .await?
                .into_iter()
                .filter(|e| e.kind == "update")
                .collect(),
        })
    }

    /// One incident: staff get everything; a merchant hurt by it its own view, and
    /// any other merchant a 404.
    pub async fn incident(&self, p: &Principal, id: &str) -> Result<IncidentPage> {
        let i = self
            .store
            .incident(id)
            .await?
            .ok_or_else(|| AppError::not_found("incident", id))?;
        if p.role == Role::Merchant {
            let m = p
                .merchant_id
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            if !i.impact.merchants.contains(&m) {
                return Err(AppError::not_found("incident", id));
            }
            return Ok(IncidentPage::Merchant(self.merchant_view(&i).await?));
        }
        let defs = self.severity_definitions().await?;
        let views = self.alert_views(p).await;
        Ok(IncidentPage::Staff(Box::new(IncidentDetail {
            severity_definition: defs.text(i.severity).to_owned(),
            suggested_severity: defs.suggest(i.impact.merchant_count, i.impact.vip_count),
            alerts: views
                .into_iter()
                .filter(|v| i.alerts.contains(&v.fingerprint))
                .collect(),
            review_missing: i.review.missing(&i.actions),
            timeline: self.store.timeline(id, true).await?,
            incident: i,
        })))
    }

    /// One incident as a JSON value for the API.
    pub async fn incident_detail(&self, p: &Principal, id: &str) -> Result<Value> {
        Ok(match self.incident(p, id).await? {
            IncidentPage::Staff(d) => serde_json::to_value(d).unwrap_or_default(),
            IncidentPage::Merchant(m) => serde_json::to_value(m).unwrap_or_default(),
        })
    }

    /// Reads, changes and writes an incident with its timeline entries, in one
    /// transaction.
    async fn change_incident<F>(&self, p: &Principal, id: &str, f: F) -> Result<Incident>
    where
        F: FnOnce(&mut Incident, cairn_domain::Timestamp) -> Result<Vec<TimelineEntry>>,
    {
        may_respond(p)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut i = tx
            .incident(id)
            .await?
            .ok_or_else(|| AppError::not_found("incident", id))?;
        let entries = f(&mut i, now)?;
        tx.put_incident(&i, false).await?;
        tx.append_timeline(&entries).await?;
        tx.commit().await?;
        Ok(i)
    }

    /// Moves an incident along; resolving ends its pages, reviewing needs a complete
    /// review.
    pub async fn set_incident_status(
        &self,
        p: &Principal,
        id: &str,
        to: &str,
        note: Option<&str>,
    ) -> Result<Incident> {
        let to = IncidentStatus::parse(to).ok_or_else(|| AppError::bad_input(Some("status".into()), format!("unknown status {to:?}; one of investigating, identified, mitigated, resolved, reviewed")))?;
        let actor = p.actor.clone();
        let note = note.unwrap_or("").to_owned();
        let i = self
            .change_incident(p, id, |i, now| {
                if !i.status.may_become(to) {
                    return Err(cairn_domain::DomainError::invalid(
                        "status",
                        format!(
                            "an {} incident cannot become {}",
                            i.status.as_str(),
                            to.as_str()
                        ),
                    )
                    .into());
                }
                if to == IncidentStatus::Reviewed {
                    let missing = i.review.missing(&i.actions);
                    if !missing.is_empty() {
                        return Err(cairn_domain::DomainError::invalid(
                            "review",
                            format!("the review lacks {}", missing.join(", ")),
                        )
                        .into());
                    }
                }
                let from = i.status;
                i.status = to;
                match to {
                    IncidentStatus::Mitigated => i.mitigated_at = i.mitigated_at.or(Some(now)),
                    IncidentStatus::Resolved => i.resolved_at = Some(now),
                    IncidentStatus::Investigating | IncidentStatus::Identified => {
                        i.resolved_at = None
                    }
                    IncidentStatus::Reviewed => {}
                }
                let body = if note.trim().is_empty() {
                    format!("{} → {}", from.as_str(), to.as_str())
                } else {
                    format!("{} → {}: {note}", from.as_str(), to.as_str())
                };
                Ok(vec![entry(
                    &i.id,
                    now,
                    &actor,
                    "status",
                    true,
                    body,
                    json!({"from": from, "to": to}),
                )])
            })
            .await?;
        if to == IncidentStatus::Resolved {
            self.end_pages(&i).await;
        }
        Ok(i)
    }

    /// Changes the severity with a reason; raising it to a paging severity pages again.
    pub async fn set_incident_severity(
        &self,
        p: &Principal,
        id: &str,
        to: &str,
        reason: &str,
    ) -> Result<Incident> {
        let to = Severity::parse(to).ok_or_else(|| {
            AppError::bad_input(
                Some("severity".into()),
                format!("unknown severity {to:?}; one of p1, p2, p3, p4"),
            )
        })?;
        if reason.trim().is_empty() {
            return Err(AppError::bad_input(
                Some("reason".into()),
                "a reason is required",
            ));
        }
        let actor = p.actor.clone();
        let reason = reason.to_owned();
        let mut raised = false;
        let mut i = self
            .change_incident(p, id, |i, now| {
                if i.severity == to {
                    return Err(AppError::Conflict(format!(
                        "the incident is already {}",
                        to.as_str()
                    )));
                }
                raised = to < i.severity;
                let from = i.severity;
                i.severity = to;
                Ok(vec![entry(
                    &i.id,
                    now,
                    &actor,
                    "severity",
                    true,
                    format!("{} → {}: {reason}", from.as_str(), to.as_str()),
                    json!({"from": from, "to": to}),
                )])
            })
            .await?;
        if raised && i.status.is_open() {
            if let Some(fp) = self.page_for(&i).await {
                if !i.pages.contains(&fp) {
                    let now = self.now();
                    let id = i.id.clone();
                    let fp2 = fp.clone();
                    i = self
                        .change_incident(p, &id, move |inc, _| {
                            inc.pages.push(fp2.clone());
                            Ok(vec![entry(
                                &inc.id,
                                now,
                                "alerting",
                                "paged",
                                true,
                                "severity raised: paging again",
                                json!({"fingerprint": fp2}),
                            )])
                        })
                        .await?;
                }
            }
        }
        Ok(i)
    }

    /// Hands a role to a person (the hand-over is in the timeline).
    pub async fn set_incident_role(
        &self,
        p: &Principal,
        id: &str,
        role: &str,
        person: &str,
    ) -> Result<Incident> {
        let role = IncidentRole::parse(role).ok_or_else(|| {
            AppError::bad_input(
                Some("role".into()),
                format!("unknown role {role:?}; one of commander, communications, scribe"),
            )
        })?;
        if person.trim().is_empty() || person.chars().count() > 100 {
            return Err(AppError::bad_input(
                Some("person".into()),
                "name the person",
            ));
        }
        let actor = p.actor.clone();
        let person = person.trim().to_owned();
        self.change_incident(p, id, |i, now| {
            let before = i.roles.insert(role.as_str().to_owned(), person.clone());
            let body = match before {
                Some(b) => format!("{} handed over from {b} to {person}", role.as_str()),
                None => format!("{}: {person}", role.as_str()),
            };
            Ok(vec![entry(
                &i.id,
                now,
                &actor,
                "role",
                true,
                body,
                json!({"role": role, "person": person}),
            )])
        })
        .await
    }

    /// A note or a decision in the timeline.
    pub async fn incident_note(
        &self,
        p: &Principal,
        id: &str,
        kind: &str,
        body: &str,
    ) -> Result<Incident> {
        if !matches!(kind, "note" | "decision") {
            return Err(AppError::bad_input(
                Some("kind".into()),
                "must be note or decision",
            ));
        }
        if body.trim().is_empty() || body.chars().count() > 10_000 {
            return Err(AppError::bad_input(
                Some("body".into()),
                "must be 1 to 10000 characters",
            ));
        }
        let actor = p.actor.clone();
        let (kind, body) = (kind.to_owned(), body.to_owned());
        self.change_incident(p, id, |i, now| {
            Ok(vec![entry(
                &i.id,
                now,
                &actor,
                &kind,
                true,
                body,
                Value::Null,
            )])
        })
        .await
    }

    /// A status update: internal, or for the merchants hurt (who see it on their own
    /// incident page and in their inbox).
    pub async fn incident_update(
        &self,
        p: &Principal,
        id: &str,
        body: &str,
        audience: &str,
    ) -> Result<Incident> {
        let merchants = match audience {
            "internal" => false,
            "merchants" => true,
            other => {
                return Err(AppError::bad_input(
                    Some("audience".into()),
                    format!("must be internal or merchants, got {other:?}"),
                ))
            }
        };
        if body.trim().is_empty() || body.chars().count() > 10_000 {
            return Err(AppError::bad_input(
                Some("body".into()),
                "must be 1 to 10000 characters",
            ));
        }
        let actor = p.actor.clone();
        let text = body.to_owned();
        let i = self
            .change_incident(p, id, |i, now| {
                Ok(vec![entry(
                    &i.id,
                    now,
                    &actor,
                    "update",
                    !merchants,
                    text,
                    json!({"audience": audience}),
                )])
            })
            .await?;
        if merchants {
            let hurt: BTreeSet<&String> = i.impact.merchants.iter().collect();
            let mut tx = self.store.begin().await?;
            for u in self.store.users().await? {
                if u.role == Role::Merchant
                    && u.merchant_id
                        .as_ref()
                        .is_some_and(|m| hurt.contains(&m.to_string()))
                {
                    tx.push_inbox(
                        &format!("user:{}", u.name),
                        self.now(),
                        None,
                        &format!("Update on {}: {body}", i.title),
                    )
                    .await?;
                }
            }
            tx.commit().await?;
        }
        Ok(i)
    }

    /// Attaches alerts (their impact joins the incident's).
    pub async fn attach_incident_alerts(
        &self,
        p: &Principal,
        id: &str,
        fps: &[String],
    ) -> Result<Incident> {
        let views = self.alert_views(p).await;
        for fp in fps {
            if !views.iter().any(|v| &v.fingerprint == fp) {
                return Err(AppError::bad_input(
                    Some("alerts".into()),
                    format!("no alert {fp}"),
                ));
            }
        }
        let actor = p.actor.clone();
        let fps = fps.to_vec();
        self.change_incident(p, id, |i, now| {
            let mut out = Vec::new();
            for fp in fps {
                if !i.alerts.contains(&fp) {
                    let v = views.iter().find(|v| v.fingerprint == fp);
                    out.push(entry(
                        &i.id,
                        now,
                        &actor,
                        "alert-joined",
                        true,
                        v.map(|v| v.name.clone()).unwrap_or_default(),
                        json!({"fingerprint": fp}),
                    ));
                    i.alerts.push(fp);
                }
            }
            let attached: Vec<&AlertView> = views
                .iter()
                .filter(|v| i.alerts.contains(&v.fingerprint))
                .collect();
            let keep = i.impact.clone();
            let mut impact = impact_of(&attached, &[], &keep);
            for s in keep.services.iter().rev() {
                if !impact.services.contains(s) {
                    impact.services.insert(0, s.clone());
                }
            }
            i.impact = impact;
            Ok(out)
        })
        .await
    }

    /// A responder's estimate of merchants hurt, with the reason.
    pub async fn override_incident_impact(
        &self,
        p: &Principal,
        id: &str,
        merchants: usize,
        reason: &str,
    ) -> Result<Incident> {
        if reason.trim().is_empty() {
            return Err(AppError::bad_input(
                Some("reason".into()),
                "a reason is required",
            ));
        }
        let actor = p.actor.clone();
        let reason = reason.to_owned();
        self.change_incident(p, id, |i, now| {
            let computed = i.impact.merchant_count;
            i.impact.override_merchants = Some(merchants);
            i.impact.override_reason = Some(reason.clone());
            Ok(vec![entry(
                &i.id,
                now,
                &actor,
                "impact",
                true,
                format!("merchants hurt estimated at {merchants} (computed {computed}): {reason}"),
                json!({"merchants": merchants}),
            )])
        })
        .await
    }

    /// Acknowledges the incident's pages: escalation stops.
    pub async fn acknowledge_incident(&self, p: &Principal, id: &str) -> Result<Incident> {
        may_respond(p)?;
        let i = self
            .store
            .incident(id)
            .await?
            .ok_or_else(|| AppError::not_found("incident", id))?;
        for fp in &i.pages {
            let _ = self.acknowledge(p, fp).await;
        }
        let actor = p.actor.clone();
        self.change_incident(p, id, |i, now| {
            if i.acknowledged_at.is_some() {
                return Ok(Vec::new());
            }
            i.acknowledged_at = Some(now);
            Ok(vec![entry(
                &i.id,
                now,
                &actor,
                "acknowledged",
                true,
                format!("acknowledged by {actor}"),
                Value::Null,
            )])
        })
        .await
    }

    /// Writes the review.
    pub async fn put_incident_review(
        &self,
        p: &Principal,
        id: &str,
        body: Value,
    ) -> Result<Incident> {
        let review: Review = parse_value("review", body)?;
        let actor = p.actor.clone();
        self.change_incident(p, id, |i, now| {
            if i.status.is_open() {
                return Err(AppError::Conflict(
                    "resolve the incident before its review".into(),
                ));
            }
            i.review = review;
            let missing = i.review.missing(&i.actions);
            Ok(vec![entry(
                &i.id,
                now,
                &actor,
                "review",
                true,
                if missing.is_empty() {
                    "review complete".to_owned()
                } else {
                    format!("review updated; still lacks {}", missing.join(", "))
                },
                Value::Null,
            )])
        })
        .await
    }

    /// Adds an action item.
    pub async fn add_incident_action(
        &self,
        p: &Principal,
        id: &str,
        body: Value,
    ) -> Result<Incident> {
        let a: NewAction = parse_value("action item", body)?;
        if a.title.trim().is_empty() {
            return Err(AppError::bad_input(
                Some("title".into()),
                "must not be empty",
            ));
        }
        if a.owner.trim().is_empty() {
            return Err(AppError::bad_input(
                Some("owner".into()),
                "every action item has an owner",
            ));
        }
        let actor = p.actor.clone();
        self.change_incident(p, id, |i, now| {
            let item = ActionItem {
                id: crate::auth::new_id("act"),
                title: a.title.trim().to_owned(),
                owner: a.owner.trim().to_owned(),
                due: a.due,
                links: a.links,
                done_at: None,
                reminded_on: None,
            };
            let body = format!(
                "action item for {} due {}: {}",
                item.owner, item.due, item.title
            );
            i.actions.push(item);
            Ok(vec![entry(
                &i.id,
                now,
                &actor,
                "action",
                true,
                body,
                Value::Null,
            )])
        })
        .await
    }

    /// Marks an action item done.
    pub async fn complete_incident_action(
        &self,
        p: &Principal,
        id: &str,
        action: &str,
    ) -> Result<Incident> {
        let actor = p.actor.clone();
        let action = action.to_owned();
        self.change_incident(p, id, |i, now| {
            let a = i
                .actions
                .iter_mut()
                .find(|a| a.id == action)
                .ok_or_else(|| AppError::not_found("action item", &action))?;
            if a.done_at.is_some() {
                return Err(AppError::Conflict(format!(
                    "action item {action} is done already"
                )));
            }
            a.done_at = Some(now);
            let body = format!("done: {}", a.title);
            Ok(vec![entry(
                &i.id,
                now,
                &actor,
                "action",
                true,
                body,
                Value::Null,
            )])
        })
        .await
    }

    /// The incidents loop: acknowledgements made in alerting (UI, API, signed link)
    /// reach the incident; cleared alerts are noted; overdue action items remind their
    /// owners once a day. With `auto_declare`, a problem of several alerts with no open
    /// incident on its root declares one.
    pub async fn incidents_pass(&self, auto_declare: bool) -> Result<()> {
        let system = Principal {
            actor: "cairn".into(),
            role: Role::Admin,
            merchant_id: None,
        };
        let now = self.now();
        let today = now
            .to_offset(cairn_forecast::calendar::CALENDAR_OFFSET)
            .date();
        let acks: std::collections::BTreeMap<String, crate::alerting::Ack> = match self.alerting() {
            Ok(a) => a.engine.lock().await.state.acks.clone(),
            Err(_) => Default::default(),
        };
        let views = self.alert_views(&system).await;
        for i in self.store.incidents().await? {
            let mut entries = Vec::new();
            let mut changed = i.clone();
            if changed.acknowledged_at.is_none() {
                if let Some(ack) = changed.pages.iter().find_map(|fp| acks.get(fp)) {
                    changed.acknowledged_at = Some(ack.at);
                    entries.push(entry(
                        &i.id,
                        ack.at,
                        &ack.by,
                        "acknowledged",
                        true,
                        format!("page acknowledged by {}", ack.by),
                        Value::Null,
                    ));
                }
            }
            if i.status.is_open() {
                let timeline = self.store.timeline(&i.id, true).await?;
                for fp in &i.alerts {
                    let cleared = views
                        .iter()
                        .find(|v| &v.fingerprint == fp)
                        .is_none_or(|v| v.status != "firing");
                    let key = format!("cleared:{fp}");
                    let noted = timeline.iter().any(|e| {
                        e.kind == "alert-cleared"
                            && e.data.get("key").and_then(Value::as_str) == Some(key.as_str())
                    });
                    if cleared && !noted {
                        entries.push(entry(
                            &i.id,
                            now,
                            "alerting",
                            "alert-cleared",
                            true,
                            format!("alert {fp} cleared"),
                            json!({"key": key}),
                        ));
                    }
                }
            }
            for a in changed.actions.iter_mut() {
                if a.overdue(today) && a.reminded_on != Some(today) {
                    a.reminded_on = Some(today);
                    entries.push(entry(
                        &i.id,
                        now,
                        "cairn",
                        "reminder",
                        true,
                        format!("overdue since {}: {} ({})", a.due, a.title, a.owner),
                        Value::Null,
                    ));
                    let mut tx = self.store.begin().await?;
                    tx.push_inbox(
                        &format!("user:{}", a.owner),
                        now,
                        None,
                        &format!("Overdue action item of {}: {}", i.title, a.title),
                    )
                    .await?;
                    tx.commit().await?;
                }
            }
            if !entries.is_empty() {
                let mut tx = self.store.begin().await?;
                tx.put_incident(&changed, false).await?;
                tx.append_timeline(&entries).await?;
                tx.commit().await?;
            }
        }
        if auto_declare && self.alerting().is_ok() {
            let open: Vec<Incident> = self
                .store
                .incidents()
                .await?
                .into_iter()
                .filter(|i| i.status.is_open())
                .collect();
            for pr in self.problems(&system).await? {
                if pr.alerts.len() < 2 {
                    continue;
                }
                let covered = open.iter().any(|i| {
                    i.problem.as_deref() == Some(pr.id.as_str())
                        || pr
                            .root
                            .as_ref()
                            .is_some_and(|r| i.impact.services.first() == Some(r))
                });
                if covered {
                    continue;
                }
                let title = format!(
                    "{} failing, {} alerts along the chain",
                    pr.root_name
                        .clone()
                        .or(pr.root.clone())
                        .unwrap_or_else(|| "a service".into()),
                    pr.alerts.len()
                );
                let _ = self
                    .declare_incident(
                        &system,
                        json!({"title": title, "summary": pr.explanation, "problem": pr.id}),
                    )
                    .await;
            }
        }
        Ok(())
    }
}

/// Runs the incidents pass every `every` until `shutdown`.
pub async fn run(
    app: App,
    every: std::time::Duration,
    auto_declare: bool,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = app.incidents_pass(auto_declare).await {
            tracing::warn!(error = %e, "the incidents pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One period's incident figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IncidentNumbersRow {
    pub period: String,
    pub incidents: usize,
    pub by_severity: std::collections::BTreeMap<String, usize>,
    pub by_service: std::collections::BTreeMap<String, usize>,
    pub by_team: std::collections::BTreeMap<String, usize>,
    pub by_cause: std::collections::BTreeMap<String, usize>,
    /// Mean minutes from declaration to the first acknowledgement.
    pub mtta_minutes: Option<f64>,
    /// Mean minutes from declaration to resolution.
    pub mttr_minutes: Option<f64>,
    /// Incidents whose root service had another within the 30 days before.
    pub repeats: usize,
}

/// Figures per period, and the action items overdue now.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentNumbers {
    pub by: &'static str,
    pub rows: Vec<IncidentNumbersRow>,
    pub totals: IncidentNumbersRow,
    pub overdue_actions: Vec<(String, ActionItem)>,
}

impl App {
    /// MTTA, MTTR, incidents by severity, service, team and cause, repeats — by week
    /// or month over `[from, to]` — and the overdue action items.
    pub async fn incident_numbers(
        &self,
        p: &Principal,
        monthly: bool,
        from: time::Date,
        to: time::Date,
    ) -> Result<IncidentNumbers> {
        if p.role == Role::Merchant {
            return Err(AppError::Forbidden(
                "role merchant may not read incident numbers".into(),
            ));
        }
        if to < from || (to - from).whole_days() > 800 {
            return Err(AppError::bad_input(
                Some("to".into()),
                "the range must run forward and span at most 800 days",
            ));
        }
        let offset = cairn_forecast::calendar::CALENDAR_OFFSET;
        let mut all = self.store.incidents().await?;
        all.sort_by_key(|i| i.declared_at);
        let today = self.now().to_offset(offset).date();
        let key = |d: time::Date| -> time::Date {
            if monthly {
                time::Date::from_calendar_date(d.year(), d.month(), 1).unwrap_or(d)
            } else {
                d - time::Duration::days(i64::from(d.weekday().number_days_from_monday()))
            }
        };
        #[derive(Default)]
        struct Acc {
            row: IncidentNumbersRow,
            tta: Vec<f64>,
            ttr: Vec<f64>,
        }
        let mut acc: std::collections::BTreeMap<time::Date, Acc> = Default::default();
        let mut total = Acc::default();
        for (n, i) in all.iter().enumerate() {
            let day = i.declared_at.to_offset(offset).date();
            if day < from || day > to {
                continue;
            }
            let root = i
                .impact
                .services
                .first()
                .cloned()
                .unwrap_or_else(|| "(none)".into());
            let repeat = all[..n].iter().any(|o| {
                o.impact.services.first() == i.impact.services.first()
                    && !i.impact.services.is_empty()
                    && i.declared_at - o.declared_at <= time::Duration::days(30)
            });
            for a in [acc.entry(key(day)).or_default(), &mut total] {
                a.row.incidents += 1;
                *a.row
                    .by_severity
                    .entry(i.severity.as_str().to_owned())
                    .or_default() += 1;
                *a.row.by_service.entry(root.clone()).or_default() += 1;
                let team = if i.review.responsible_team.is_empty() {
                    "(unreviewed)".to_owned()
                } else {
                    i.review.responsible_team.clone()
                };
                *a.row.by_team.entry(team).or_default() += 1;
                let cause = if i.review.cause_category.is_empty() {
                    "(unknown)".to_owned()
                } else {
                    i.review.cause_category.clone()
                };
                *a.row.by_cause.entry(cause).or_default() += 1;
                if let Some(ack) = i.acknowledged_at {
                    a.tta.push((ack - i.declared_at).as_seconds_f64() / 60.0);
                }
                if let Some(r) = i.resolved_at {
                    a.ttr.push((r - i.declared_at).as_seconds_f64() / 60.0);
                }
                if repeat {
                    a.row.repeats += 1;
                }
            }
        }
        let finish = |mut a: Acc, period: String| {
            let avg = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            a.row.period = period;
            a.row.mtta_minutes = avg(&a.tta);
            a.row.mttr_minutes = avg(&a.ttr);
            a.row
        };
        let overdue = all
            .iter()
            .flat_map(|i| {
                i.actions
                    .iter()
                    .filter(|a| a.overdue(today))
                    .map(move |a| (i.id.clone(), a.clone()))
            })
            .collect();
        Ok(IncidentNumbers {
            by: if monthly { "month" } else { "week" },
            rows: acc
                .into_iter()
                .map(|(d, a)| finish(a, d.to_string()))
                .collect(),
            totals: finish(total, format!("{from}..{to}")),
            overdue_actions: overdue,
        })
    }
}
