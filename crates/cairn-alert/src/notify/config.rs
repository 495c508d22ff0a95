//! Receiver and integration configuration, read from the `receivers`
//! section of an Alertmanager-style configuration.

use serde::{Deserialize, Serialize};

use crate::yaml::{MapReader, Node, YamlError};

/// A named receiver: where a route's notifications go, through one or more
/// integrations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverConfig {
    pub name: String,
    pub integrations: Vec<IntegrationConfig>,
}

/// One delivery channel of a receiver. Every kind has the same shape: a
/// config (this), a renderer (`render` in its module) and a response
/// classifier; see the crate overview for the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IntegrationConfig {
    Webhook(WebhookConfig),
    Slack(SlackConfig),
    Email(EmailConfig),
    Dingtalk(DingTalkConfig),
}

impl IntegrationConfig {
    /// The integration's kind as Alertmanager names it (`webhook`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            IntegrationConfig::Webhook(_) => "webhook",
            IntegrationConfig::Slack(_) => "slack",
            IntegrationConfig::Email(_) => "email",
            IntegrationConfig::Dingtalk(_) => "dingtalk",
        }
    }

    /// Whether resolved alerts are sent too.
    pub fn send_resolved(&self) -> bool {
        match self {
            IntegrationConfig::Webhook(c) => c.send_resolved,
            IntegrationConfig::Slack(c) => c.send_resolved,
            IntegrationConfig::Email(c) => c.send_resolved,
            IntegrationConfig::Dingtalk(c) => c.send_resolved,
        }
    }
}

/// `webhook_configs`: Alertmanager's webhook JSON (version 4) POSTed to `url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookConfig {
    pub url: String,
    /// Default true, as in Alertmanager.
    pub send_resolved: bool,
    /// At most this many alerts per message (0 = all); the rest are counted
    /// in `truncatedAlerts`.
    pub max_alerts: usize,
}

/// `slack_configs`: a Slack-compatible incoming webhook (Slack, Mattermost,
/// Rocket.Chat, Feishu's and WeCom's Slack-compatible bridges).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackConfig {
    pub api_url: String,
    /// Default false, as in Alertmanager.
    pub send_resolved: bool,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    /// Templates; `None` takes cairn's defaults.
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub pretext: Option<String>,
    pub text: Option<String>,
    pub footer: Option<String>,
    pub fallback: Option<String>,
    pub color: Option<String>,
}

/// `email_configs`: the app speaks SMTP; this says what to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailConfig {
    pub to: String,
    pub from: Option<String>,
    pub smarthost: Option<String>,
    pub hello: Option<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<String>,
    pub require_tls: Option<bool>,
    /// Default false, as in Alertmanager.
    pub send_resolved: bool,
    /// Extra headers; `Subject` here is a template that replaces the default.
    pub headers: Vec<(String, String)>,
    pub html: Option<String>,
    pub text: Option<String>,
}

/// `dingtalk_configs` (cairn's own; Alertmanager has none): a DingTalk
/// custom robot, optionally with its signing secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DingTalkConfig {
    /// The robot's webhook URL, `https://oapi.dingtalk.com/robot/send?access_token=…`.
    pub url: String,
    /// The robot's "加签" secret (`SEC…`); when set, requests are signed.
    pub secret: Option<String>,
    /// Default true: a resolved alert is news a DingTalk group wants.
    pub send_resolved: bool,
    pub title: Option<String>,
    pub text: Option<String>,
    pub at_mobiles: Vec<String>,
    pub at_all: bool,
}

fn opt(m: &mut MapReader<'_>, k: &str) -> Result<Option<String>, YamlError> {
    m.opt_str(k)
}

fn req(m: &mut MapReader<'_>, node: &Node, k: &str, what: &str) -> Result<String, YamlError> {
    opt(m, k)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| YamlError {
            pos: node.pos,
            message: format!("{what}: missing {k}"),
        })
}

fn opt_bool(m: &mut MapReader<'_>, k: &str, default: bool) -> Result<bool, YamlError> {
    match m.get(k) {
        Some(n) => n.bool(k),
        None => Ok(default),
    }
}

fn check_url(node: &Node, what: &str, url: &str) -> Result<(), YamlError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(YamlError {
            pos: node.pos,
            message: format!("{what}: unsupported scheme in URL {url:?}, want http or https"),
        })
    }
}

/// Global settings that integrations inherit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GlobalNotify {
    pub smtp_from: Option<String>,
    pub smtp_smarthost: Option<String>,
    pub smtp_hello: Option<String>,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<String>,
    pub smtp_require_tls: Option<bool>,
    pub slack_api_url: Option<String>,
}

pub(crate) fn parse_receiver(
    node: &Node,
    global: &GlobalNotify,
) -> Result<ReceiverConfig, YamlError> {
    let mut m = node.map("receiver")?;
    let name = req(&mut m, node, "name", "receiver")?;
    let mut integrations = Vec::new();
    let what = |k: &str| format!("receiver {name:?} {k}");
    if let Some(list) = m.get("webhook_configs") {
        for n in list.seq("webhook_configs")? {
            let w = what("webhook_configs");
            let mut c = n.map(&w)?;
            let url = req(&mut c, n, "url", &w)?;
            check_url(n, &w, &url)?;
            let send_resolved = opt_bool(&mut c, "send_resolved", true)?;
            let max_alerts = match c.get("max_alerts") {
                Some(v) => v.int("max_alerts")?.max(0) as usize,
                None => 0,
            };
            c.finish()?;
            integrations.push(IntegrationConfig::Webhook(WebhookConfig {
                url,
                send_resolved,
                max_alerts,
            }));
        }
    }
    if let Some(list) = m.get("slack_configs") {
        for n in list.seq("slack_configs")? {
            let w = what("slack_configs");
            let mut c = n.map(&w)?;
            let api_url = opt(&mut c, "api_url")?
                .or_else(|| global.slack_api_url.clone())
                .ok_or_else(|| YamlError {
                    pos: n.pos,
                    message: format!("{w}: no api_url and no global slack_api_url"),
                })?;
            check_url(n, &w, &api_url)?;
            let cfg = SlackConfig {
                api_url,
                send_resolved: opt_bool(&mut c, "send_resolved", false)?,
                channel: opt(&mut c, "channel")?,
                username: opt(&mut c, "username")?,
                icon_emoji: opt(&mut c, "icon_emoji")?,
                icon_url: opt(&mut c, "icon_url")?,
                title: opt(&mut c, "title")?,
                title_link: opt(&mut c, "title_link")?,
                pretext: opt(&mut c, "pretext")?,
                text: opt(&mut c, "text")?,
                footer: opt(&mut c, "footer")?,
                fallback: opt(&mut c, "fallback")?,
                color: opt(&mut c, "color")?,
            };
            c.finish()?;
            integrations.push(IntegrationConfig::Slack(cfg));
        }
    }
    if let Some(list) = m.get("email_configs") {
        for n in list.seq("email_configs")? {
            let w = what("email_configs");
            let mut c = n.map(&w)?;
            let to = req(&mut c, n, "to", &w)?;
            let headers = match c.get("headers") {
                Some(h) => h
                    .string_map("headers")?
                    .into_iter()
                    .map(|(k, v, _)| (k, v))
                    .collect(),
                None => Vec::new(),
            };
            let cfg = EmailConfig {
                to,
                from: opt(&mut c, "from")?.or_else(|| global.smtp_from.clone()),
                smarthost: opt(&mut c, "smarthost")?.or_else(|| global.smtp_smarthost.clone()),
                hello: opt(&mut c, "hello")?.or_else(|| global.smtp_hello.clone()),
                auth_username: opt(&mut c, "auth_username")?
                    .or_else(|| global.smtp_auth_username.clone()),
                auth_password: opt(&mut c, "auth_password")?
                    .or_else(|| global.smtp_auth_password.clone()),
                require_tls: match c.get("require_tls") {
                    Some(v) => Some(v.bool("require_tls")?),
                    None => global.smtp_require_tls,
                },
                send_resolved: opt_bool(&mut c, "send_resolved", false)?,
                headers,
                html: opt(&mut c, "html")?,
                text: opt(&mut c, "text")?,
            };
            c.finish()?;
            if cfg.from.is_none() {
                return Err(YamlError {
                    pos: n.pos,
                    message: format!("{w}: no from address and no global smtp_from"),
                });
            }
            if cfg.smarthost.is_none() {
                return Err(YamlError {
                    pos: n.pos,
                    message: format!("{w}: no smarthost and no global smtp_smarthost"),
                });
            }
            integrations.push(IntegrationConfig::Email(cfg));
        }
    }
    if let Some(list) = m.get("dingtalk_configs") {
        for n in list.seq("dingtalk_configs")? {
            let w = what("dingtalk_configs");
            let mut c = n.map(&w)?;
            let url = req(&mut c, n, "url", &w)?;
            check_url(n, &w, &url)?;
            let cfg = DingTalkConfig {
                url,
                secret: opt(&mut c, "secret")?,
                send_resolved: opt_bool(&mut c, "send_resolved", true)?,
                title: opt(&mut c, "title")?,
                text: opt(&mut c, "text")?,
                at_mobiles: match c.get("at_mobiles") {
                    Some(v) => v.string_list("at_mobiles")?,
                    None => Vec::new(),
                },
                at_all: opt_bool(&mut c, "at_all", false)?,
            };
            c.finish()?;
            integrations.push(IntegrationConfig::Dingtalk(cfg));
        }
    }
    m.finish()?;
    Ok(ReceiverConfig { name, integrations })
}
