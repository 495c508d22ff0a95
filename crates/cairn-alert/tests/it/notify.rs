//! Rendered payloads of every integration, signed links and retries.

use cairn_alert::alert::{Alert, AlertStatus};
use cairn_alert::dispatch::Notification;
use cairn_alert::notify::ack::{sign_ack_link, verify_ack_link, AckAction, AckError};
use cairn_alert::notify::retry::{classify_http, classify_transport_error};
use cairn_alert::notify::{
    render, AckSigner, Context, DingTalkConfig, EmailConfig, Integration, IntegrationConfig,
    Outcome, Request, RetryPolicy, SlackConfig, WebhookConfig,
};
use expect_test::{expect, Expect};

use crate::support::{at, ls};

const SECRET: &[u8] = b"cairn-test-secret";

fn alerts() -> Vec<Alert> {
    let a = |inst: &str, summary: &str, resolved: bool| Alert {
        labels: ls(&[
            ("alertname", "DiskFull"),
            ("cluster", "hz-a"),
            ("instance", inst),
            ("severity", "critical"),
        ]),
        annotations: ls(&[
            ("summary", summary),
            ("description", "only 3% <left> & falling"),
        ]),
        starts_at: at(0),
        ends_at: resolved.then(|| at(9)),
        generator_url: "https://cairn.example/graph?g0.expr=x&g0.tab=1".into(),
        updated_at: at(9),
        timeout: false,
    };
    vec![
        a("db-1:9100", "/data on db-1 is 97% full", false),
        a("db-2:9100", "/data on db-2 is 96% full", true),
    ]
}

fn notification(integration: IntegrationConfig) -> Notification {
    let alerts = alerts();
    Notification {
        id: "n1".into(),
        receiver: "oncall".into(),
        integration_index: 0,
        integration,
        group_key: "{}/{severity=\"critical\"}:{alertname=\"DiskFull\"}".into(),
        group_labels: ls(&[("alertname", "DiskFull")]),
        route_id: "{}/{severity=\"critical\"}/0".into(),
        status: AlertStatus::Firing,
        firing: vec![alerts[0].fingerprint()],
        resolved: vec![alerts[1].fingerprint()],
        alerts,
        flushed_at: at(10),
        repeat_interval: time::Duration::hours(4),
    }
}

fn ctx(ack: bool) -> Context<'static> {
    Context {
        external_url: "https://cairn.example",
        now: at(10),
        ack: ack.then_some(AckSigner {
            base_url: "https://cairn.example",
            secret: SECRET,
            ttl: time::Duration::hours(24),
        }),
        library: None,
    }
}

fn check(integration: IntegrationConfig, ack: bool, expect: Expect) {
    let req = render(&notification(integration), &ctx(ack)).unwrap();
    let shown = match req {
        Request::Http(h) => {
            let body: serde_json::Value = serde_json::from_str(&h.body).unwrap();
            format!(
                "POST {}\n{:?}\n{}",
                h.url,
                h.headers,
                serde_json::to_string_pretty(&body).unwrap()
            )
        }
        Request::Email(e) => format!(
            "smtp {} from {} to {:?} tls={}\n{:?}\n--- text\n{}\n--- html\n{}",
            e.smarthost,
            e.from,
            e.to,
            e.require_tls,
            e.headers,
            e.text,
            e.html.unwrap_or_default()
        ),
    };
    expect.assert_eq(&shown);
}

#[test]
fn webhook_is_alertmanagers_version_4_json() {
    let cfg = IntegrationConfig::Webhook(WebhookConfig {
        url: "http://hooks.example/alerts".into(),
        send_resolved: true,
        max_alerts: 0,
    });
    let Request::Http(h) = render(&notification(cfg), &ctx(false)).unwrap() else {
        panic!()
    };
    // Exactly the bytes Go's encoder writes: field order, HTML escaping,
    // zero time for a firing alert's end, trailing newline.
    expect![[r#"
        {"receiver":"oncall","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"DiskFull","cluster":"hz-a","instance":"db-1:9100","severity":"critical"},"annotations":{"description":"only 3% \u003cleft\u003e \u0026 falling","summary":"/data on db-1 is 97% full"},"startsAt":"2024-11-11T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"https://cairn.example/graph?g0.expr=x\u0026g0.tab=1","fingerprint":"2c2c5e5a568d350b"},{"status":"resolved","labels":{"alertname":"DiskFull","cluster":"hz-a","instance":"db-2:9100","severity":"critical"},"annotations":{"description":"only 3% \u003cleft\u003e \u0026 falling","summary":"/data on db-2 is 96% full"},"startsAt":"2024-11-11T00:00:00Z","endsAt":"2024-11-11T00:09:00Z","generatorURL":"https://cairn.example/graph?g0.expr=x\u0026g0.tab=1","fingerprint":"0007b926d858b16a"}],"groupLabels":{"alertname":"DiskFull"},"commonLabels":{"alertname":"DiskFull","cluster":"hz-a","severity":"critical"},"commonAnnotations":{"description":"only 3% \u003cleft\u003e \u0026 falling"},"externalURL":"https://cairn.example","version":"4","groupKey":"{}/{severity=\"critical\"}:{alertname=\"DiskFull\"}","truncatedAlerts":0}
    "#]]
    .assert_eq(&h.body);

    let cfg = IntegrationConfig::Webhook(WebhookConfig {
        url: "http://hooks.example/alerts".into(),
        send_resolved: true,
        max_alerts: 1,
    });
    let Request::Http(h) = render(&notification(cfg), &ctx(false)).unwrap() else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_str(&h.body).unwrap();
    assert_eq!(v["truncatedAlerts"], 1);
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["commonLabels"]["instance"], "db-1:9100",
        "common labels of what is sent"
    );
}

#[test]
fn dingtalk_markdown_signed_with_ack_links() {
    let cfg = IntegrationConfig::Dingtalk(DingTalkConfig {
        url: "https://oapi.dingtalk.com/robot/send?access_token=abc123".into(),
        secret: Some("SECexample".into()),
        send_resolved: true,
        title: None,
        text: None,
        at_mobiles: vec!["13800000000".into()],
        at_all: false,
    });
    let req = render(&notification(cfg.clone()), &ctx(true)).unwrap();
    let Request::Http(h) = &req else { panic!() };
    let v: serde_json::Value = serde_json::from_str(&h.body).unwrap();
    // The links are long; check one verifies, then show the message with them shortened.
    let text = v["markdown"]["text"].as_str().unwrap();
    let link = text.split("](").nth(1).unwrap().split(')').next().unwrap();
    let claim = verify_ack_link(SECRET, link, at(11)).unwrap();
    assert_eq!(claim.action, AckAction::Acknowledge);
    let re = regex::Regex::new(r"token=[A-Za-z0-9_\-.]+").unwrap();
    let shown = re
        .replace_all(&serde_json::to_string_pretty(&v).unwrap(), "token=…")
        .into_owned();
    expect![[r####"
        POST https://oapi.dingtalk.com/robot/send?access_token=abc123&timestamp=1731283800000&sign=TVvf5OosMtwLRoyWKl56CBUotcTIvYCVnQtdiHR9BbE%3D
        {
          "at": {
            "atMobiles": [
              "13800000000"
            ],
            "isAtAll": false
          },
          "markdown": {
            "text": "### [FIRING:1] DiskFull (hz-a critical)\n\n**Firing**\n\n- **DiskFull: /data on db-1 is 97% full**\n  `alertname=DiskFull` `cluster=hz-a` `instance=db-1:9100` `severity=critical` \n  only 3% <left> & falling\n  since 2024-11-11 00:00:00 UTC · [acknowledge](https://cairn.example/alerts/ack?token=…)\n\n**Resolved**\n\n- **DiskFull: /data on db-2 is 96% full**\n  `alertname=DiskFull` `cluster=hz-a` `instance=db-2:9100` `severity=critical` \n  only 3% <left> & falling\n  since 2024-11-11 00:00:00 UTC, resolved 00:09:00 UTC · [acknowledge](https://cairn.example/alerts/ack?token=…)\n\n[Acknowledge all](https://cairn.example/alerts/ack?token=…) @13800000000",
            "title": "[FIRING:1] DiskFull (hz-a critical)"
          },
          "msgtype": "markdown"
        }"####]]
    .assert_eq(&format!("POST {}\n{shown}", h.url));
    // DingTalk's answers.
    assert_eq!(
        cfg.classify(200, r#"{"errcode":0,"errmsg":"ok"}"#),
        Outcome::Delivered
    );
    assert!(matches!(
        cfg.classify(200, r#"{"errcode":130101,"errmsg":"send too fast"}"#),
        Outcome::Retry { .. }
    ));
    assert!(matches!(
        cfg.classify(200, r#"{"errcode":310000,"errmsg":"sign not match"}"#),
        Outcome::Fail { .. }
    ));
}

#[test]
fn slack_attachment_coloured_by_status() {
    let cfg = IntegrationConfig::Slack(SlackConfig {
        api_url: "https://hooks.slack.example/services/T1".into(),
        send_resolved: false,
        channel: Some("#ops".into()),
        username: Some("cairn".into()),
        icon_emoji: None,
        icon_url: None,
        title: None,
        title_link: None,
        pretext: None,
        text: None,
        footer: Some("cairn · {{ .CommonLabels.cluster }}".into()),
        fallback: None,
        color: None,
    });
    check(
        cfg,
        false,
        expect![[r##"
            POST https://hooks.slack.example/services/T1
            [("Content-Type", "application/json")]
            {
              "attachments": [
                {
                  "color": "danger",
                  "fallback": "[FIRING:1] DiskFull (hz-a critical) | https://cairn.example/alerts?receiver=oncall",
                  "footer": "cairn · hz-a",
                  "mrkdwn_in": [
                    "fallback",
                    "pretext",
                    "text"
                  ],
                  "text": "• *DiskFull: /data on db-1 is 97% full*\n`alertname=DiskFull` `cluster=hz-a` `instance=db-1:9100` `severity=critical` \n• *DiskFull: /data on db-2 is 96% full* (resolved)\n`alertname=DiskFull` `cluster=hz-a` `instance=db-2:9100` `severity=critical` \n",
                  "title": "[FIRING:1] DiskFull (hz-a critical)",
                  "title_link": "https://cairn.example/alerts?receiver=oncall"
                }
              ],
              "channel": "#ops",
              "username": "cairn"
            }"##]],
    );
}

#[test]
fn email_subject_text_and_html() {
    let cfg = IntegrationConfig::Email(EmailConfig {
        to: "dba@example.com, oncall@example.com".into(),
        from: Some("cairn@example.com".into()),
        smarthost: Some("smtp.example.com:587".into()),
        hello: None,
        auth_username: None,
        auth_password: None,
        require_tls: None,
        send_resolved: false,
        headers: vec![(
            "X-Cairn-Group".into(),
            "{{ .GroupLabels.alertname }}".into(),
        )],
        html: None,
        text: None,
    });
    check(
        cfg,
        false,
        expect![[r#"
            smtp smtp.example.com:587 from cairn@example.com to ["dba@example.com", "oncall@example.com"] tls=true
            [("Subject", "[FIRING:1] DiskFull (hz-a critical)"), ("From", "cairn@example.com"), ("To", "dba@example.com, oncall@example.com"), ("X-Cairn-Group", "DiskFull")]
            --- text
            [FIRING:1] DiskFull (hz-a critical)

            [FIRING] DiskFull: /data on db-1 is 97% full
              alertname = DiskFull
              cluster = hz-a
              instance = db-1:9100
              severity = critical
              only 3% <left> & falling
              since 2024-11-11 00:00:00 UTC
              source: https://cairn.example/graph?g0.expr=x&g0.tab=1

            [RESOLVED] DiskFull: /data on db-2 is 96% full
              alertname = DiskFull
              cluster = hz-a
              instance = db-2:9100
              severity = critical
              only 3% <left> & falling
              since 2024-11-11 00:00:00 UTC
              source: https://cairn.example/graph?g0.expr=x&g0.tab=1

            --- html
            <!DOCTYPE html>
            <html><body style="font-family:sans-serif">
            <h2>[FIRING:1] DiskFull</h2>
            <div style="border-left:4px solid #d73a49;padding:4px 8px;margin:8px 0">
            <b>[FIRING] DiskFull: /data on db-1 is 97% full</b><br>
            <code>alertname=DiskFull</code> <code>cluster=hz-a</code> <code>instance=db-1:9100</code> <code>severity=critical</code> <br>
            only 3% &lt;left&gt; &amp; falling<br>since 2024-11-11 00:00:00 UTC

            </div>
            <div style="border-left:4px solid #28a745;padding:4px 8px;margin:8px 0">
            <b>[RESOLVED] DiskFull: /data on db-2 is 96% full</b><br>
            <code>alertname=DiskFull</code> <code>cluster=hz-a</code> <code>instance=db-2:9100</code> <code>severity=critical</code> <br>
            only 3% &lt;left&gt; &amp; falling<br>since 2024-11-11 00:00:00 UTC

            </div>

            </body></html>"#]],
    );
}

#[test]
fn user_templates_override_defaults_and_errors_name_the_field() {
    let lib = cairn_alert::template::Template::parse(
        "user",
        r#"{{ define "__subject" }}告警 {{ .CommonLabels.alertname }}{{ end }}"#,
    )
    .unwrap();
    let cfg = IntegrationConfig::Dingtalk(DingTalkConfig {
        url: "https://oapi.dingtalk.com/robot/send?access_token=x".into(),
        secret: None,
        send_resolved: true,
        title: None,
        text: Some("{{ template \"__subject\" . }}".into()),
        at_mobiles: vec![],
        at_all: false,
    });
    let mut c = ctx(false);
    c.library = Some(&lib);
    let Request::Http(h) = render(&notification(cfg.clone()), &c).unwrap() else {
        panic!()
    };
    assert!(h.body.contains(r#""title":"告警 DiskFull""#), "{}", h.body);
    assert_eq!(
        h.url, "https://oapi.dingtalk.com/robot/send?access_token=x",
        "no secret, no signature"
    );

    let IntegrationConfig::Dingtalk(mut broken) = cfg else {
        unreachable!()
    };
    broken.text = Some("{{ .Nope.Deeper }".into());
    let err = render(
        &notification(IntegrationConfig::Dingtalk(broken)),
        &ctx(false),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "receiver \"oncall\", dingtalk field text: template: dingtalk.text:1: unexpected '}' in command"
    );
}

#[test]
fn ack_links_cannot_be_forged_altered_or_used_late() {
    let link = sign_ack_link(
        "https://cairn.example/",
        SECRET,
        "fd6d2ae6c4a0b82e",
        AckAction::Acknowledge,
        at(60),
    );
    assert!(link.starts_with("https://cairn.example/alerts/ack?token="));
    let claim = verify_ack_link(SECRET, &link, at(59)).unwrap();
    assert_eq!(claim.key, "fd6d2ae6c4a0b82e");
    assert_eq!(claim.expires_at, at(60));

    assert_eq!(
        verify_ack_link(SECRET, &link, at(60)),
        Err(AckError::Expired(at(60)))
    );
    assert_eq!(
        verify_ack_link(b"another-secret", &link, at(1)),
        Err(AckError::BadSignature)
    );

    // Re-sign a payload that claims a later expiry with a guessed key: refused.
    let token = link.split("token=").nth(1).unwrap();
    let (payload, sig) = token.split_once('.').unwrap();
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let text = String::from_utf8(engine.decode(payload).unwrap()).unwrap();
    let later = text.replace(
        &at(60).unix_timestamp().to_string(),
        &at(6000).unix_timestamp().to_string(),
    );
    let forged = format!("{}.{sig}", engine.encode(later));
    assert_eq!(
        verify_ack_link(SECRET, &forged, at(61)),
        Err(AckError::BadSignature)
    );
    // Flip one character of the signature.
    let mut bad = token.to_string();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    assert!(verify_ack_link(SECRET, &bad, at(1)).is_err());
    assert_eq!(
        verify_ack_link(SECRET, "garbage", at(1)),
        Err(AckError::Malformed)
    );
}

#[test]
fn retries_back_off_exponentially_with_jitter() {
    let p = RetryPolicy::default();
    let ms = |a: u32, r: f64| p.delay(a, r).whole_milliseconds();
    assert_eq!((ms(1, 0.0), ms(1, 0.5), ms(1, 1.0)), (250, 500, 750));
    assert_eq!(ms(2, 0.5), 750);
    assert_eq!(ms(3, 0.5), 1125);
    assert_eq!(ms(30, 0.5), 60_000, "capped at the maximum interval");
    assert_eq!(
        p.next_attempt(1, 0.5, at(0), None),
        Some(at(0) + time::Duration::milliseconds(500))
    );
    assert_eq!(
        p.next_attempt(10, 0.5, at(0), None),
        None,
        "attempts used up"
    );
    assert_eq!(
        p.next_attempt(30, 0.5, at(0), Some(at(0) + time::Duration::seconds(30))),
        None,
        "past the next flush"
    );

    assert_eq!(classify_http(204, ""), Outcome::Delivered);
    assert!(matches!(classify_http(503, "busy"), Outcome::Retry { .. }));
    assert!(matches!(classify_http(429, ""), Outcome::Retry { .. }));
    assert!(matches!(
        classify_http(404, "no such hook"),
        Outcome::Fail { .. }
    ));
    assert!(matches!(
        classify_transport_error("connection refused"),
        Outcome::Retry { .. }
    ));
}
