//! `/ui/changes/freezes`: the freeze windows — derived from the promotion calendar
//! (three days before a platform-wide or regional promotion to a day after) and made
//! by hand — with a form to declare one and buttons to lift the hand-made ones, for
//! admin and base-ops.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use cairn_domain::changes::Freeze;
use cairn_domain::{Principal, Role, Timestamp};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::{
    after_form, app_error, bad, china_time, flash, form, params, rfc3339, tabs, window_input,
    words, DoneParams, SECTION,
};
use crate::auth::Viewer;
use crate::ui::layout::respond;
use crate::ui::Page;
use crate::AppState;

const PAGE: &str = "/ui/changes/freezes";

#[derive(Debug, Default, Deserialize)]
pub struct FreezeForm {
    #[serde(default)]
    name: String,
    /// `datetime-local`, China time.
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    /// Zone ids; empty for everywhere.
    #[serde(default)]
    zones: String,
}

/// Whether `p` may declare and lift freezes; the use case decides, this only hides
/// the forms.
fn may_freeze(p: &Principal) -> bool {
    matches!(p.role, Role::Admin | Role::BaseOps)
}

/// `GET /ui/changes/freezes`
pub async fn list(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<DoneParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let freezes = s.app.freezes_for(&p).await.map_err(app_error)?;
        Ok(page(&p, s.app.now(), &freezes, q.done.as_deref()))
    };
    respond(&p, page.await)
}

/// `POST /ui/changes/freezes`
pub async fn add(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    f: Result<Form<FreezeForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let (a, b) = window_input(&f.starts_at, &f.ends_at, ("starts_at", "ends_at"))?
            .ok_or_else(|| bad("starts_at", "a freeze needs a start and an end"))?;
        let body = json!({
            // The use case gives it an id.
            "id": "",
            "name": f.name.trim(),
            "starts_at": rfc3339(a),
            "ends_at": rfc3339(b),
            "zones": words(&f.zones),
        });
        s.app.add_freeze(&p, body).await.map_err(app_error)?;
        Ok(format!("{PAGE}?done=freeze"))
    };
    after_form(&p, to.await)
}

/// `POST /ui/changes/freezes/{id}/lift`
pub async fn lift(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
) -> Response {
    let to = async {
        s.app.delete_freeze(&p, &id).await.map_err(app_error)?;
        Ok(format!("{PAGE}?done=lifted"))
    };
    after_form(&p, to.await)
}

pub(super) fn page(p: &Principal, now: Timestamp, freezes: &[Freeze], done: Option<&str>) -> Page {
    let (past, coming): (Vec<&Freeze>, Vec<&Freeze>) =
        freezes.iter().partition(|f| f.ends_at <= now);
    Page {
        title: "Freezes".into(),
        section: Some(SECTION),
        body: html! {
            h1 { "Freeze windows" }
            (tabs(PAGE))
            (flash(done))
            p .muted {
                "A change whose window meets a freeze is refused unless it carries an exception, which then needs the freeze exception's approval. Promotions freeze changes from three days before they start to a day after they end. Times are China time (UTC+8)."
            }
            section #coming-freezes {
                h2 { "Now and coming (" (coming.len()) ")" }
                (table(p, now, &coming, "freezes"))
            }
            @if may_freeze(p) {
                details .panel #new-freeze {
                    summary { strong { "Declare a freeze" } }
                    form .stack-form method="post" action=(PAGE) #freeze-form {
                        label for="freeze-name" { "Name" }
                        input #freeze-name type="text" name="name" required maxlength="200" placeholder="year-end database migration freeze";
                        label for="freeze-start" { "Starts (China time)" }
                        input #freeze-start type="datetime-local" name="starts_at" required;
                        label for="freeze-end" { "Ends (China time)" }
                        input #freeze-end type="datetime-local" name="ends_at" required;
                        label for="freeze-zones" { "Zones (ids, separated by commas; empty for everywhere)" }
                        input #freeze-zones type="text" name="zones";
                        button type="submit" #freeze-submit { "Declare freeze" }
                    }
                }
            }
            section #past-freezes {
                h2 { "Past (" (past.len()) ")" }
                (table(p, now, &past, "past-freezes-table"))
            }
        },
    }
}

fn table(p: &Principal, now: Timestamp, freezes: &[&Freeze], id: &str) -> Markup {
    html! {
        @if freezes.is_empty() {
            p .muted { "None." }
        } @else {
            div .table-wrap {
                table id=(id) {
                    thead { tr { th { "Freeze" } th { "From" } th { "To" } th { "Zones" } th { "Source" } th {} } }
                    tbody {
                        @for f in freezes {
                            tr data-freeze=(f.id) data-source=(f.source) {
                                td .wrap {
                                    (f.name)
                                    @if f.starts_at <= now && now < f.ends_at { " " span .badge .crit .in-force { "in force" } }
                                }
                                td .nowrap { (china_time(f.starts_at)) }
                                td .nowrap { (china_time(f.ends_at)) }
                                td .wrap {
                                    @if f.zones.is_empty() { span .muted { "everywhere" } }
                                    @else { (f.zones.join(", ")) }
                                }
                                td { span .badge .muted { (f.source) } }
                                td {
                                    @if f.source == "manual" && may_freeze(p) {
                                        form method="post" action=(format!("{PAGE}/{}/lift", f.id)) {
                                            button type="submit" .secondary { "Lift" }
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

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::ui::tests::principal;

    fn freeze(id: &str, source: &str, from: Timestamp, days: i64) -> Freeze {
        Freeze {
            id: id.into(),
            name: format!("{id} <freeze>"),
            starts_at: from,
            ends_at: from + time::Duration::days(days),
            source: source.into(),
            zones: Vec::new(),
        }
    }

    #[test]
    fn freezes_split_into_coming_and_past_and_only_manual_ones_lift() {
        let now = datetime!(2026-11-25 04:00 UTC);
        let list = [
            freeze("promo-d11", "promotion", datetime!(2026-11-07 16:00 UTC), 5),
            freeze("frz-1", "manual", datetime!(2026-11-24 16:00 UTC), 2),
            freeze(
                "promo-1212",
                "promotion",
                datetime!(2026-12-09 16:00 UTC),
                5,
            ),
        ];
        let html = page(&principal(Role::BaseOps), now, &list, None)
            .body
            .into_string();
        assert!(html.contains("Now and coming (2)") && html.contains("Past (1)"));
        assert!(html.contains("frz-1 &lt;freeze&gt;"));
        assert!(html.contains(r#"action="/ui/changes/freezes/frz-1/lift""#));
        assert!(!html.contains("promo-d11/lift"));
        assert!(html.contains("in force") && html.contains("2026-11-25 00:00"));
        assert!(html.contains(r#"id="freeze-form""#));
        let ops = page(&principal(Role::AppOps), now, &list, None)
            .body
            .into_string();
        assert!(
            !ops.contains("<form"),
            "only admin and base-ops declare and lift"
        );
    }
}
