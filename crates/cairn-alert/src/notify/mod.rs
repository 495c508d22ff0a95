//! Notifications: what a receiver is sent, rendered as a pure description
//! of the request; the app does the sending, retrying and recording.
//!
//! Every integration (one file each: [`webhook`], [`dingtalk`], [`slack`],
//! [`email`]) has the same shape, the [`Integration`] trait:
//! - its **config** is read from `receivers[].<kind>_configs` and documented
//!   on its struct, with Alertmanager's defaults where Alertmanager has the
//!   integration;
//! - **`render`** turns a [`Notification`] into a [`Request`] without I/O,
//!   expanding its templates over Alertmanager's template data
//!   ([`template_data`]), with cairn's defaults when none are configured;
//! - **`classify`** reads the receiver's answer and says whether it was
//!   delivered, is worth retrying (with [`RetryPolicy`]), or failed for
//!   good; the app records every attempt as a [`DeliveryAttempt`].
//!
//! Messages carry a signed acknowledge link ([`ack`]) when the app gives
//! a signing secret, so that an on-call engineer can acknowledge from the
//! message itself.

pub mod ack;
mod config;
pub mod dingtalk;
pub mod email;
pub mod retry;
pub mod slack;
pub mod webhook;

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::dispatch::Notification;
use crate::labels::LabelSet;
use crate::template::{Env, Template, TemplateError, Value};
use crate::Timestamp;

pub use config::{
    DingTalkConfig, EmailConfig, GlobalNotify, IntegrationConfig, ReceiverConfig, SlackConfig,
    WebhookConfig,
};
pub use retry::{DeliveryAttempt, Outcome, RetryPolicy};

pub(crate) use config::parse_receiver;

/// What to send, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    Http(HttpRequest),
    Email(EmailMessage),
}

/// An HTTP request to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// An email to send over SMTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailMessage {
    /// `host:port` of the SMTP server.
    pub smarthost: String,
    pub hello: Option<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<String>,
    /// Alertmanager's default is to require STARTTLS.
    pub require_tls: bool,
    pub from: String,
    pub to: Vec<String>,
    /// Message headers, `Subject`, `From` and `To` first.
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub html: Option<String>,
}

/// How to sign acknowledge links.
#[derive(Debug, Clone, Copy)]
pub struct AckSigner<'a> {
    /// cairn's external URL; links are `{base}/alerts/ack?token=…`.
    pub base_url: &'a str,
    pub secret: &'a [u8],
    /// How long a link stays valid.
    pub ttl: time::Duration,
}

/// What rendering needs besides the notification.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// cairn's external URL, for `.ExternalURL` and links.
    pub external_url: &'a str,
    /// The time of rendering (DingTalk's signature, link expiry).
    pub now: Timestamp,
    pub ack: Option<AckSigner<'a>>,
    /// User templates (`define`s) that may override cairn's defaults.
    pub library: Option<&'a Template>,
}

/// Why a notification could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("receiver {receiver:?}, {integration} field {field}: {source}")]
    Template {
        receiver: String,
        integration: &'static str,
        field: &'static str,
        source: TemplateError,
    },
}

/// One kind of integration.
pub trait Integration {
    /// Renders the request for `n`.
    fn render(&self, n: &Notification, ctx: &Context<'_>) -> Result<Request, NotifyError>;

    /// Judges the receiver's answer: HTTP status and body (for email, the
    /// SMTP reply code and text).
    fn classify(&self, status: u16, body: &str) -> Outcome;
}

impl Integration for IntegrationConfig {
    fn render(&self, n: &Notification, ctx: &Context<'_>) -> Result<Request, NotifyError> {
        match self {
            IntegrationConfig::Webhook(c) => c.render(n, ctx),
            IntegrationConfig::Slack(c) => c.render(n, ctx),
            IntegrationConfig::Email(c) => c.render(n, ctx),
            IntegrationConfig::Dingtalk(c) => c.render(n, ctx),
        }
    }

    fn classify(&self, status: u16, body: &str) -> Outcome {
        match self {
            IntegrationConfig::Webhook(c) => c.classify(status, body),
            IntegrationConfig::Slack(c) => c.classify(status, body),
            IntegrationConfig::Email(c) => c.classify(status, body),
            IntegrationConfig::Dingtalk(c) => c.classify(status, body),
        }
    }
}

/// Renders a notification with its own integration.
pub fn render(n: &Notification, ctx: &Context<'_>) -> Result<Request, NotifyError> {
    n.integration.render(n, ctx)
}

/// Labels (or annotations) every alert has with the same value.
pub fn common(sets: &[&LabelSet]) -> LabelSet {
    let Some((first, rest)) = sets.split_first() else {
        return LabelSet::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|s| s.get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Go's `regexp.QuoteMeta`, which Alertmanager applies to the receiver
/// name in template data (and so in the webhook's `receiver` field).
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Go's zero time, which Alertmanager writes for a firing alert's end.
pub fn go_zero_time() -> Timestamp {
    time::macros::datetime!(0001-01-01 00:00 UTC)
}

/// A time as Go's `time.Time` marshals to JSON (RFC 3339, nanoseconds with
/// trailing zeros removed).
pub fn go_json_time(t: Timestamp) -> String {
    crate::template::gofmt::format_time(t, "2006-01-02T15:04:05.999999999Z07:00")
}

/// Alertmanager's template data (`template.Data`) for a notification, plus
/// cairn's `AckURL` (group) and `.Alerts[].AckURL` (alert) when links are
/// signed.
pub fn template_data(n: &Notification, ctx: &Context<'_>) -> Value {
    let alert_value = |a: &Alert| {
        let status = if a.ends_at.is_some() {
            "resolved"
        } else {
            "firing"
        };
        let mut m = vec![
            ("Status", Value::str(status)),
            ("Labels", Value::labels(&a.labels)),
            ("Annotations", Value::labels(&a.annotations)),
            ("StartsAt", Value::Time(a.starts_at)),
            (
                "EndsAt",
                Value::Time(a.ends_at.unwrap_or_else(go_zero_time)),
            ),
            ("GeneratorURL", Value::str(a.generator_url.clone())),
            ("Fingerprint", Value::str(a.fingerprint().to_string())),
        ];
        if let Some(s) = ctx.ack {
            let link = ack::sign_ack_link(
                s.base_url,
                s.secret,
                &a.fingerprint().to_string(),
                ack::AckAction::Acknowledge,
                ctx.now + s.ttl,
            );
            m.push(("AckURL", Value::str(link)));
        }
        Value::map(m)
    };
    let labels: Vec<&LabelSet> = n.alerts.iter().map(|a| &a.labels).collect();
    let annotations: Vec<&LabelSet> = n.alerts.iter().map(|a| &a.annotations).collect();
    let mut m = vec![
        ("Receiver", Value::str(quote_meta(&n.receiver))),
        ("Status", Value::str(n.status.as_str())),
        (
            "Alerts",
            Value::List(n.alerts.iter().map(alert_value).collect()),
        ),
        ("GroupLabels", Value::labels(&n.group_labels)),
        ("CommonLabels", Value::labels(&common(&labels))),
        ("CommonAnnotations", Value::labels(&common(&annotations))),
        ("ExternalURL", Value::str(ctx.external_url)),
        ("GroupKey", Value::str(n.group_key.clone())),
    ];
    if let Some(s) = ctx.ack {
        let link = ack::sign_ack_link(
            s.base_url,
            s.secret,
            &n.group_key,
            ack::AckAction::Acknowledge,
            ctx.now + s.ttl,
        );
        m.push(("AckURL", Value::str(link)));
    }
    Value::map(m)
}

/// cairn's default notification templates. Names follow Alertmanager's
/// where Alertmanager has one (`__subject`); a user library passed in
/// [`Context::library`] may redefine any of them.
pub const DEFAULT_TEMPLATES: &str = r#"
{{- define "__subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }} {{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}{{ end }}

{{- define "__alert_line" }}{{ .Labels.alertname }}{{ with .Annotations.summary }}: {{ . }}{{ end }}{{ end }}

{{- define "cairn.markdown.list" }}{{ range . }}
- **{{ template "__alert_line" . }}**
  {{ range .Labels.SortedPairs }}`{{ .Name }}={{ .Value }}` {{ end }}
  {{ with .Annotations.description }}{{ . }}
  {{ end }}since {{ .StartsAt.Format "2006-01-02 15:04:05 MST" }}{{ if eq .Status "resolved" }}, resolved {{ .EndsAt.Format "15:04:05 MST" }}{{ end }}{{ with .AckURL }} · [acknowledge]({{ . }}){{ end }}{{ end }}{{ end }}

{{- define "cairn.markdown" }}### {{ template "__subject" . }}
{{ if .Alerts.Firing }}
**Firing**
{{ template "cairn.markdown.list" .Alerts.Firing }}
{{ end }}{{ if .Alerts.Resolved }}
**Resolved**
{{ template "cairn.markdown.list" .Alerts.Resolved }}
{{ end }}{{ with .AckURL }}
[Acknowledge all]({{ . }}){{ end }}{{ end }}

{{- define "cairn.slack.text" }}{{ range .Alerts }}• *{{ template "__alert_line" . }}*{{ if eq .Status "resolved" }} (resolved){{ end }}
{{ range .Labels.SortedPairs }}`{{ .Name }}={{ .Value }}` {{ end }}{{ with .AckURL }}<{{ . }}|acknowledge>{{ end }}
{{ end }}{{ end }}

{{- define "cairn.slack.title_link" }}{{ .ExternalURL }}/alerts?receiver={{ .Receiver | urlquery }}{{ end }}

{{- define "cairn.email.text" }}{{ template "__subject" . }}
{{ range .Alerts }}
[{{ .Status | toUpper }}] {{ template "__alert_line" . }}
{{ range .Labels.SortedPairs }}  {{ .Name }} = {{ .Value }}
{{ end }}{{ with .Annotations.description }}  {{ . }}
{{ end }}  since {{ .StartsAt.Format "2006-01-02 15:04:05 MST" }}
{{ with .GeneratorURL }}  source: {{ . }}
{{ end }}{{ with .AckURL }}  acknowledge: {{ . }}
{{ end }}{{ end }}{{ end }}

{{- define "cairn.email.html" }}<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<h2>[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " | html }}</h2>
{{ range .Alerts }}<div style="border-left:4px solid {{ if eq .Status "firing" }}#d73a49{{ else }}#28a745{{ end }};padding:4px 8px;margin:8px 0">
<b>[{{ .Status | toUpper }}] {{ .Labels.alertname | html }}{{ with .Annotations.summary }}: {{ . | html }}{{ end }}</b><br>
{{ range .Labels.SortedPairs }}<code>{{ .Name | html }}={{ .Value | html }}</code> {{ end }}<br>
{{ with .Annotations.description }}{{ . | html }}<br>{{ end }}since {{ .StartsAt.Format "2006-01-02 15:04:05 MST" }}
{{ with .AckURL }}<br><a href="{{ . | html }}">Acknowledge</a>{{ end }}
</div>
{{ end }}{{ with .AckURL }}<p><a href="{{ . | html }}">Acknowledge all</a></p>{{ end }}
</body></html>{{ end }}
"#;

fn defaults() -> Template {
    // The defaults are part of the crate; a test parses them, so a broken
    // default cannot ship.
    Template::parse("cairn-defaults", DEFAULT_TEMPLATES)
        .unwrap_or_else(|e| panic!("default templates: {e}"))
}

/// Expands one configured field: `text` if given (a template), else the
/// named default. User definitions shadow the defaults.
pub(crate) fn expand(
    n: &Notification,
    ctx: &Context<'_>,
    data: &Value,
    integration: &'static str,
    field: &'static str,
    text: Option<&str>,
    default: &str,
) -> Result<String, NotifyError> {
    let fail = |source| NotifyError::Template {
        receiver: n.receiver.clone(),
        integration,
        field,
        source,
    };
    let lib = defaults();
    // A user library's definitions win over the defaults: chain them by
    // parsing the user's text after the defaults.
    let combined;
    let library: &Template = match ctx.library {
        Some(user) => {
            combined = merge(&lib, user);
            &combined
        }
        None => &lib,
    };
    let env = Env {
        vars: &[],
        external_url: ctx.external_url,
        query: None,
        library: Some(library),
    };
    match text {
        Some(t) => Template::parse(&format!("{integration}.{field}"), t)
            .and_then(|tmpl| tmpl.render(data, &env))
            .map_err(fail),
        None => library.render_define(default, data, &env).map_err(fail),
    }
}

fn merge(base: &Template, user: &Template) -> Template {
    let mut t = base.clone();
    t.absorb(user);
    t
}

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_parse() {
        super::defaults();
    }
}
