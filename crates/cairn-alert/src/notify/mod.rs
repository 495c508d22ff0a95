//! Notifications: what a receiver is sent, rendered as a pure description
//! of the request (the app does the sending).

mod config;

pub use config::{
    DingTalkConfig, EmailConfig, GlobalNotify, IntegrationConfig, ReceiverConfig, SlackConfig,
    WebhookConfig,
};

pub(crate) use config::parse_receiver;
