//! Delivering notifications: render through the integration (pure, in
//! `cairn-alert`), send over HTTP or SMTP, judge the answer, retry with backoff what
//! can still succeed, and log every attempt. The dispatcher learns the final outcome,
//! so a delivered group is not sent again before its repeat interval.

use cairn_alert::dispatch::Notification;
use cairn_alert::history::{HistoryEntry, HistoryEvent};
use cairn_alert::notify::retry::classify_transport_error;
use cairn_alert::notify::{
    render, AckSigner, Context, EmailMessage, HttpRequest, Integration, Outcome, Request,
};
use cairn_store::DeliveryRow;

use crate::App;

fn rfc3339(t: cairn_alert::Timestamp) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn send_http(client: &reqwest::Client, r: &HttpRequest) -> Result<(u16, String), String> {
    let method = reqwest::Method::from_bytes(r.method.as_bytes())
        .map_err(|_| format!("bad method {:?}", r.method))?;
    let mut req = client.request(method, &r.url).body(r.body.clone());
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    Ok((status, body))
}

/// Sends an email; an SMTP error is judged retryable unless the server called it
/// permanent (5xx).
pub(crate) async fn send_email(m: &EmailMessage) -> Outcome {
    use lettre::message::{header::ContentType, MultiPart, SinglePart};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let mut builder = lettre::Message::builder();
    let parse = |a: &str| a.parse::<lettre::message::Mailbox>();
    match parse(&m.from) {
        Ok(f) => builder = builder.from(f),
        Err(e) => {
            return Outcome::Fail {
                reason: format!("bad from address {:?}: {e}", m.from),
            }
        }
    }
    for to in &m.to {
        match parse(to) {
            Ok(t) => builder = builder.to(t),
            Err(e) => {
                return Outcome::Fail {
                    reason: format!("bad to address {to:?}: {e}"),
                }
            }
        }
    }
    let subject = m
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("subject"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    builder = builder.subject(subject);
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(m.text.clone());
    let message = match &m.html {
        Some(html) => builder.multipart(
            MultiPart::alternative().singlepart(text).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.clone()),
            ),
        ),
        None => builder.singlepart(text),
    };
    let message = match message {
        Ok(m) => m,
        Err(e) => {
            return Outcome::Fail {
                reason: format!("cannot build the message: {e}"),
            }
        }
    };
    let (host, port) = match m.smarthost.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse::<u16>().unwrap_or(25)),
        None => (m.smarthost.clone(), 25),
    };
    let transport = if m.require_tls {
        match AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host) {
            Ok(b) => b.port(port),
            Err(e) => {
                return Outcome::Fail {
                    reason: format!("cannot set up TLS for {host}: {e}"),
                }
            }
        }
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host).port(port)
    };
    let mut transport = transport.timeout(Some(std::time::Duration::from_secs(20)));
    if let Some(h) = &m.hello {
        transport = transport.hello_name(lettre::transport::smtp::extension::ClientId::Domain(
            h.clone(),
        ));
    }
    if let (Some(u), Some(p)) = (&m.auth_username, &m.auth_password) {
        transport = transport.credentials(
            lettre::transport::smtp::authentication::Credentials::new(u.clone(), p.clone()),
        );
    }
    match transport.build().send(message).await {
        Ok(_) => Outcome::Delivered,
        Err(e) if e.is_permanent() => Outcome::Fail {
            reason: e.to_string(),
        },
        Err(e) => Outcome::Retry {
            reason: e.to_string(),
        },
    }
}

/// Delivers one notification until it succeeds, fails for good or runs out of
/// attempts; logs every attempt and reports the outcome to the dispatcher.
pub async fn deliver(app: &App, n: Notification) {
    let Ok(a) = app.alerting().cloned() else {
        return;
    };
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the notification client");
            return;
        }
    };
    let status = n.status.as_str().to_owned();
    let mut attempt: u32 = 0;
    let delivered = loop {
        attempt += 1;
        let now = app.now();
        let ctx = Context {
            external_url: &a.options.external_url,
            now,
            ack: (!a.options.ack_secret.is_empty()).then_some(AckSigner {
                base_url: &a.options.external_url,
                secret: &a.options.ack_secret,
                ttl: a.options.ack_ttl,
            }),
            library: None,
        };
        let outcome = match render(&n, &ctx) {
            Err(e) => Outcome::Fail {
                reason: format!("cannot render: {e}"),
            },
            Ok(Request::Http(h)) => match send_http(&client, &h).await {
                Ok((code, body)) => n.integration.classify(code, &body),
                Err(e) => classify_transport_error(&e),
            },
            Ok(Request::Email(m)) => send_email(&m).await,
        };
        let (label, detail) = match &outcome {
            Outcome::Delivered => ("delivered", String::new()),
            Outcome::Retry { reason } => ("retry", reason.clone()),
            Outcome::Fail { reason } => ("failed", reason.clone()),
        };
        let row = DeliveryRow {
            seq: 0,
            at: rfc3339(now),
            notification_id: n.id.clone(),
            receiver: n.receiver.clone(),
            integration: n.integration.kind().to_owned(),
            group_key: n.group_key.clone(),
            status: status.clone(),
            alerts: n.alerts.len() as i64,
            attempt: i64::from(attempt),
            outcome: label.to_owned(),
            detail: detail.clone(),
        };
        if let Err(e) = app.store.append_delivery(&row).await {
            tracing::warn!(error = %e, "cannot log a delivery attempt");
        }
        match outcome {
            Outcome::Delivered => break true,
            Outcome::Fail { reason } => {
                tracing::warn!(receiver = %n.receiver, %reason, "a notification failed for good");
                break false;
            }
            Outcome::Retry { reason } => {
                let deadline = Some(n.flushed_at + n.repeat_interval);
                match a
                    .options
                    .retry
                    .next_attempt(attempt, rand::random::<f64>(), now, deadline)
                {
                    Some(next) => {
                        let wait = (next - now).max(time::Duration::milliseconds(10));
                        tracing::debug!(receiver = %n.receiver, %reason, ?wait, "a notification will be retried");
                        tokio::time::sleep(std::time::Duration::from_millis(
                            wait.whole_milliseconds().clamp(10, 600_000) as u64,
                        ))
                        .await;
                    }
                    None => {
                        tracing::warn!(receiver = %n.receiver, %reason, "a notification ran out of attempts");
                        break false;
                    }
                }
            }
        }
    };
    let now = app.now();
    let history = {
        let mut e = a.engine.lock().await;
        let mut h: Vec<HistoryEntry> = Vec::new();
        if n.route_id == "escalation" {
            if delivered {
                for al in &n.alerts {
                    h.push(HistoryEntry {
                        at: now,
                        fingerprint: al.fingerprint(),
                        labels: al.labels.clone(),
                        event: HistoryEvent::Notified {
                            receiver: n.receiver.clone(),
                            integration: n.integration.kind().to_owned(),
                            group_key: n.group_key.clone(),
                            status: n.status,
                        },
                    });
                }
            }
        } else {
            h = e.state.dispatcher.record_delivery(&n, delivered, now);
        }
        if let Err(err) = app.save_alerting_state(&e).await {
            tracing::warn!(error = %err, "cannot save the alerting state");
        }
        h
    };
    if let Err(e) = app
        .store
        .append_history(&super::history_rows(&history))
        .await
    {
        tracing::warn!(error = %e, "cannot append alert history");
    }
}
