//! Silences by state, a form to make one from matcher lines, and expire buttons.

use cairn_alert::api::{ApiMatcher, GettableSilence, PostableSilence};
use cairn_alert::matchers::{MatchType, Matcher};
use cairn_alert::silence::SilenceState;
use cairn_alert::Timestamp;
use maud::html;

use super::{api_matcher_text, flash, tabs, SilenceForm, SECTION};
use crate::ui::format::moment;
use crate::ui::Page;

/// Parses the form's matcher lines (`name="value"`, or several on a line as
/// `{a="1", b="2"}`) with Alertmanager's matcher syntax.
pub(super) fn parse_matcher_lines(text: &str) -> Result<Vec<ApiMatcher>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let ms: Vec<Matcher> = cairn_alert::matchers::parse_matchers(line)?;
        out.extend(ms.into_iter().map(|m| ApiMatcher {
            is_regex: matches!(m.op, MatchType::Regex | MatchType::NotRegex),
            is_equal: matches!(m.op, MatchType::Equal | MatchType::Regex),
            name: m.name,
            value: m.value,
        }));
    }
    if out.is_empty() {
        return Err("write at least one matcher, such as alertname=\"DiskFull\"".into());
    }
    Ok(out)
}

/// A silence as the silence use case takes it (Alertmanager's `postableSilence`),
/// from now for `length`; the use case names the creator after the signed-in user.
pub(super) fn silence_body(
    matchers: Vec<ApiMatcher>,
    now: Timestamp,
    length: time::Duration,
    comment: &str,
) -> serde_json::Value {
    serde_json::to_value(PostableSilence {
        id: None,
        matchers,
        starts_at: now,
        ends_at: now + length,
        created_by: String::new(),
        comment: comment.trim().to_owned(),
    })
    .unwrap_or_default()
}

pub(super) fn silences_page(
    list: &[GettableSilence],
    form: &SilenceForm,
    error: Option<&str>,
    done: Option<&str>,
) -> Page {
    let states = [
        (SilenceState::Active, "Active"),
        (SilenceState::Pending, "Pending"),
        (SilenceState::Expired, "Expired"),
    ];
    Page {
        title: "Silences".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Silences" }
            (tabs("/ui/alerts/silences"))
            (flash(done))
            @for (state, title) in states {
                @let these: Vec<&GettableSilence> = list.iter().filter(|s| s.status.state == state).collect();
                section .related id=(format!("silences-{}", state.as_str())) {
                    h2 { (title) " (" (these.len()) ")" }
                    @if these.is_empty() {
                        p .muted { "None." }
                    } @else {
                        div .table-wrap {
                            table {
                                thead { tr {
                                    th { "Matchers" } th { "Created by" } th { "Comment" }
                                    th { "Starts" } th { "Ends" } th { "" }
                                } }
                                tbody {
                                    @for s in these {
                                        tr id=(format!("silence-{}", s.id)) data-state=(state.as_str()) {
                                            td { ul .chips { @for m in &s.matchers { li .chip { (api_matcher_text(m)) } } } }
                                            td { (s.created_by) }
                                            td .wrap { (s.comment) }
                                            td { (moment(s.starts_at)) }
                                            td { (moment(s.ends_at)) }
                                            td {
                                                @if state != SilenceState::Expired {
                                                    form method="post" action=(format!("/ui/alerts/silences/{}/expire", s.id)) {
                                                        button .secondary .expire type="submit" { "Expire" }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section .related #new-silence aria-labelledby="new-silence-title" {
                h2 #new-silence-title { "New silence" }
                @if let Some(e) = error {
                    p .alert #silence-error role="alert" { (e) }
                }
                form .silence-form #silence-form method="post" action="/ui/alerts/silences" {
                    label for="matchers" { "Matchers, one a line: " code { "name=\"value\"" } ", " code { "name=~\"regex\"" } ", " code { "name!=\"value\"" } }
                    textarea #matchers name="matchers" rows="4" spellcheck="false" required
                        placeholder="alertname=\"DiskFull\"\ninstance=\"db-1:9100\"" { (form.matchers) }
                    label for="duration" { "For (30m, 2h, 1d…)" }
                    input #duration type="text" name="duration" value=(form.duration) required;
                    label for="comment" { "Why" }
                    input #comment type="text" name="comment" value=(form.comment) required;
                    button type="submit" { "Create silence" }
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_lines_become_api_matchers_and_mistakes_are_named() {
        let ms =
            parse_matcher_lines("alertname=\"DiskFull\"\n\n  {job=~\"api|web\", env!=\"dev\"}\n")
                .unwrap();
        let text: Vec<String> = ms.iter().map(api_matcher_text).collect();
        assert_eq!(
            text,
            [
                r#"alertname="DiskFull""#,
                r#"job=~"api|web""#,
                r#"env!="dev""#
            ]
        );
        assert!(parse_matcher_lines("   \n")
            .unwrap_err()
            .contains("at least one"));
        assert!(parse_matcher_lines("alertname=\"open").is_err());
    }
}
