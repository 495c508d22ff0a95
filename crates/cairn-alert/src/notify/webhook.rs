//! The webhook integration: Alertmanager's webhook JSON, version 4, field
//! for field, so any receiver written for Alertmanager works with cairn.

use serde::Serialize;

use super::retry::classify_http;
use super::{
    common, go_json_time, quote_meta, Context, HttpRequest, Integration, NotifyError, Outcome,
    Request, WebhookConfig,
};
use crate::dispatch::Notification;
use crate::labels::LabelSet;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    receiver: String,
    status: &'static str,
    alerts: Vec<WebhookAlert<'a>>,
    group_labels: &'a LabelSet,
    common_labels: LabelSet,
    common_annotations: LabelSet,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert<'a> {
    status: &'static str,
    labels: &'a LabelSet,
    annotations: &'a LabelSet,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: String,
}

/// Go's JSON encoder escapes `<`, `>`, `&`, U+2028 and U+2029 inside
/// strings; those characters occur nowhere else in JSON, so replacing them
/// all gives byte-identical output.
pub(crate) fn go_json(value: &impl Serialize) -> String {
    let s = serde_json::to_string(value)
        .unwrap_or_else(|e| unreachable!("serialising plain data: {e}"));
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

impl Integration for WebhookConfig {
    fn render(&self, n: &Notification, ctx: &Context<'_>) -> Result<Request, NotifyError> {
        let total = n.alerts.len();
        let kept = if self.max_alerts > 0 {
            total.min(self.max_alerts)
        } else {
            total
        };
        let alerts = &n.alerts[..kept];
        let labels: Vec<&LabelSet> = alerts.iter().map(|a| &a.labels).collect();
        let annotations: Vec<&LabelSet> = alerts.iter().map(|a| &a.annotations).collect();
        let msg = Message {
            receiver: quote_meta(&n.receiver),
            status: n.status.as_str(),
            alerts: alerts
                .iter()
                .map(|a| WebhookAlert {
                    status: if a.ends_at.is_some() {
                        "resolved"
                    } else {
                        "firing"
                    },
                    labels: &a.labels,
                    annotations: &a.annotations,
                    starts_at: go_json_time(a.starts_at),
                    ends_at: go_json_time(a.ends_at.unwrap_or_else(super::go_zero_time)),
                    generator_url: &a.generator_url,
                    fingerprint: a.fingerprint().to_string(),
                })
                .collect(),
            group_labels: &n.group_labels,
            common_labels: common(&labels),
            common_annotations: common(&annotations),
            external_url: ctx.external_url,
            version: "4",
            group_key: &n.group_key,
            truncated_alerts: (total - kept) as u64,
        };
        Ok(Request::Http(HttpRequest {
            method: "POST".into(),
            url: self.url.clone(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("User-Agent".into(), "cairn".into()),
            ],
            body: go_json(&msg),
        }))
    }

    fn classify(&self, status: u16, body: &str) -> Outcome {
        classify_http(status, body)
    }
}
