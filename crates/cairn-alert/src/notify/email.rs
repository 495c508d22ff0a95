//! The email integration: subject, plain-text and HTML bodies and the SMTP
//! settings; the app speaks SMTP. Defaults follow Alertmanager's (`From`,
//! `To` and `Subject` headers unless configured, STARTTLS required).

use super::{
    expand, template_data, Context, EmailConfig, EmailMessage, Integration, NotifyError, Outcome,
    Request,
};
use crate::dispatch::Notification;

impl Integration for EmailConfig {
    fn render(&self, n: &Notification, ctx: &Context<'_>) -> Result<Request, NotifyError> {
        let data = template_data(n, ctx);
        let from = self.from.clone().unwrap_or_default();
        let to: Vec<String> = self
            .to
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let mut headers = Vec::new();
        let has = |k: &str| self.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k));
        if !has("Subject") {
            headers.push((
                "Subject".to_string(),
                expand(n, ctx, &data, "email", "subject", None, "__subject")?,
            ));
        }
        if !has("From") {
            headers.push(("From".to_string(), from.clone()));
        }
        if !has("To") {
            headers.push(("To".to_string(), self.to.clone()));
        }
        for (k, v) in &self.headers {
            // Header values are templates too, as in Alertmanager.
            headers.push((
                k.clone(),
                expand(n, ctx, &data, "email", "headers", Some(v), "")?,
            ));
        }
        let text = expand(
            n,
            ctx,
            &data,
            "email",
            "text",
            self.text.as_deref(),
            "cairn.email.text",
        )?;
        let html = expand(
            n,
            ctx,
            &data,
            "email",
            "html",
            self.html.as_deref(),
            "cairn.email.html",
        )?;
        Ok(Request::Email(EmailMessage {
            smarthost: self.smarthost.clone().unwrap_or_default(),
            hello: self.hello.clone(),
            auth_username: self.auth_username.clone(),
            auth_password: self.auth_password.clone(),
            require_tls: self.require_tls.unwrap_or(true),
            from,
            to,
            headers,
            text,
            html: Some(html),
        }))
    }

    /// SMTP reply codes: 2xx delivered, 4xx transient (retry), 5xx permanent.
    fn classify(&self, status: u16, body: &str) -> Outcome {
        let reason = format!(
            "smtp {status}: {}",
            body.chars().take(200).collect::<String>()
        );
        match status {
            200..=299 => Outcome::Delivered,
            400..=499 => Outcome::Retry { reason },
            _ => Outcome::Fail { reason },
        }
    }
}
