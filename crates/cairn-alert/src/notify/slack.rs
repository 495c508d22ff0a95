//! The Slack-compatible incoming-webhook integration: one attachment whose
//! colour says the status (`danger` while firing, `good` when resolved), as
//! Alertmanager's Slack integration sends by default.

use serde::Serialize;

use super::retry::classify_http;
use super::{
    expand, template_data, Context, HttpRequest, Integration, NotifyError, Outcome, Request,
    SlackConfig,
};
use crate::dispatch::Notification;

#[derive(Serialize)]
struct Attachment {
    title: String,
    title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pretext: String,
    text: String,
    fallback: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    footer: String,
    color: String,
    mrkdwn_in: [&'static str; 3],
}

#[derive(Serialize)]
struct Message<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icon_emoji: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icon_url: Option<&'a str>,
    attachments: Vec<Attachment>,
}

const DEFAULT_COLOR: &str = r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#;
const DEFAULT_FALLBACK: &str =
    r#"{{ template "__subject" . }} | {{ template "cairn.slack.title_link" . }}"#;

impl Integration for SlackConfig {
    fn render(&self, n: &Notification, ctx: &Context<'_>) -> Result<Request, NotifyError> {
        let data = template_data(n, ctx);
        let f = |field: &'static str, text: &Option<String>, default: &str| {
            expand(n, ctx, &data, "slack", field, text.as_deref(), default)
        };
        let opt = |field: &'static str, text: &Option<String>| -> Result<String, NotifyError> {
            match text {
                Some(t) => expand(n, ctx, &data, "slack", field, Some(t), ""),
                None => Ok(String::new()),
            }
        };
        let attachment = Attachment {
            title: f("title", &self.title, "__subject")?,
            title_link: f("title_link", &self.title_link, "cairn.slack.title_link")?,
            pretext: opt("pretext", &self.pretext)?,
            text: f("text", &self.text, "cairn.slack.text")?,
            fallback: expand(
                n,
                ctx,
                &data,
                "slack",
                "fallback",
                Some(self.fallback.as_deref().unwrap_or(DEFAULT_FALLBACK)),
                "",
            )?,
            footer: opt("footer", &self.footer)?,
            color: expand(
                n,
                ctx,
                &data,
                "slack",
                "color",
                Some(self.color.as_deref().unwrap_or(DEFAULT_COLOR)),
                "",
            )?,
            mrkdwn_in: ["fallback", "pretext", "text"],
        };
        let msg = Message {
            channel: self.channel.as_deref(),
            username: self.username.as_deref(),
            icon_emoji: self.icon_emoji.as_deref(),
            icon_url: self.icon_url.as_deref(),
            attachments: vec![attachment],
        };
        Ok(Request::Http(HttpRequest {
            method: "POST".into(),
            url: self.api_url.clone(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_string(&msg).unwrap_or_else(|e| unreachable!("plain data: {e}")),
        }))
    }

    fn classify(&self, status: u16, body: &str) -> Outcome {
        classify_http(status, body)
    }
}
