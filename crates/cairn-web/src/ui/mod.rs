//! The web UI: server-rendered HTML pages for people, on a desk or on a phone.
//!
//! Every page is rendered with maud, which escapes all text and attribute values, so
//! names from the data (Chinese shop names included) can never inject markup. The UI
//! loads nothing from the network but its own stylesheet (`/ui/app.css`) and needs no
//! JavaScript: links and plain forms do all the work.
//!
//! One module per page family, each with thin handlers that call a use case of
//! [`cairn_app::App`] and hand the result to a view function:
//! - [`layout`]: the page shell, the navigation bar, error pages and the stylesheet;
//! - [`login`]: signing in and out with a session cookie;
//! - [`overview`]: counts per kind and the regions → zones → pools usage tree;
//! - [`records`]: a list page and a detail page for every kind of the catalogue;
//! - [`topology`]: the service topology drawn as an SVG graph;
//! - [`metrics`]: the metrics explorer, with [`chart`]'s server-drawn SVG line charts;
//! - [`alerts`]: problems and alerts with their impact and charts, silences, rules,
//!   on-call schedules and the notification log, with forms to acknowledge, resolve
//!   and silence;
//! - [`incidents`]: incidents for the on-call's phone — declare, acknowledge, update,
//!   resolve — with the timeline, the review and its action items, and the numbers.
//! - [`tickets`]: the tier queues with SLA clocks, one ticket with its workflow and
//!   context, the knowledge base, repeated requests, the numbers and the inbox.
//! - [`changes`]: change requests with their risk, approvals and gray release batch
//!   by batch with the gate verdicts, and the freeze windows.
//!
//! Errors of the use cases become statuses through [`crate::error::ApiError`], the one
//! place that maps them, and are then shown as HTML pages instead of JSON.

mod alerts;
mod capacity;
mod changes;
mod chart;
mod format;
mod incidents;
mod layout;
pub use layout::html_response;
mod login;
mod metrics;
mod overview;
mod records;
mod tickets;
mod topology;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use cairn_app::AppError;
use maud::Markup;

use crate::error::ApiError;
use crate::AppState;

/// The routes of the web UI; `crate::router` merges them into the whole surface.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::show))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/ui/app.css", get(layout::stylesheet))
        .route("/ui/topology", get(topology::show))
        .route("/ui/metrics", get(metrics::explore))
        .route("/ui/capacity", get(capacity::show))
        // The alerting pages come before `/ui/{kind}`; their fixed segments win over
        // the fingerprint's.
        .route("/ui/alerts", get(alerts::list))
        .route(
            "/ui/alerts/silences",
            get(alerts::silences).post(alerts::create_silence),
        )
        .route(
            "/ui/alerts/silences/{id}/expire",
            post(alerts::expire_silence),
        )
        .route("/ui/alerts/rules", get(alerts::rules))
        .route("/ui/alerts/oncall", get(alerts::oncall))
        .route("/ui/alerts/notifications", get(alerts::notifications))
        .route("/ui/alerts/{fingerprint}", get(alerts::detail))
        .route("/ui/alerts/{fingerprint}/ack", post(alerts::acknowledge))
        .route("/ui/alerts/{fingerprint}/resolve", post(alerts::resolve))
        .route(
            "/ui/alerts/{fingerprint}/silence",
            post(alerts::silence_alert),
        )
        .route(
            "/ui/incidents",
            get(incidents::list).post(incidents::declare),
        )
        .route("/ui/incidents/numbers", get(incidents::numbers))
        .route("/ui/incidents/{id}", get(incidents::detail))
        .route("/ui/incidents/{id}/ack", post(incidents::acknowledge))
        .route("/ui/incidents/{id}/status", post(incidents::status))
        .route("/ui/incidents/{id}/severity", post(incidents::severity))
        .route("/ui/incidents/{id}/roles", post(incidents::role))
        .route("/ui/incidents/{id}/notes", post(incidents::note))
        .route("/ui/incidents/{id}/updates", post(incidents::update))
        .route("/ui/incidents/{id}/impact", post(incidents::impact))
        .route("/ui/incidents/{id}/review", post(incidents::review))
        .route("/ui/incidents/{id}/actions", post(incidents::action))
        .route(
            "/ui/incidents/{id}/actions/{action}/done",
            post(incidents::action_done),
        )
        .merge(tickets::router())
        .merge(changes::router())
        .route("/ui/{kind}", get(records::list))
        .route("/ui/{kind}/{id}", get(records::detail))
}

/// The content of a page, before the shell with the navigation bar is put around it.
pub(crate) struct Page {
    /// The document title, without the product name.
    pub title: String,
    /// The navigation link of the section the page belongs to, marked as current.
    pub section: Option<&'static str>,
    pub body: Markup,
}

/// A page that could not be shown: the status to answer with and what to tell the user.
#[derive(Debug)]
pub(crate) struct UiError {
    pub status: StatusCode,
    pub message: String,
}

impl UiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> UiError {
        UiError {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> UiError {
        UiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<AppError> for UiError {
    /// Takes the status and the user-facing message from the API's mapping, so both
    /// edges agree on what every error means and server errors are logged once.
    fn from(e: AppError) -> Self {
        let api = ApiError::from(e);
        UiError::new(api.status, api.message)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use cairn_domain::{MerchantId, Principal, Role};

    use super::*;

    /// A principal of `role` for page tests; merchants are bound to `m-1`.
    pub(crate) fn principal(role: Role) -> Principal {
        Principal {
            actor: "user:test".into(),
            role,
            merchant_id: (role == Role::Merchant).then(|| MerchantId::new("m-1")),
        }
    }

    #[test]
    fn use_case_errors_keep_the_status_the_api_gives_them() {
        let forbidden = UiError::from(AppError::Forbidden(
            "role merchant may not read hosts".into(),
        ));
        assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
        assert_eq!(forbidden.message, "role merchant may not read hosts");
        let missing = UiError::from(AppError::not_found("merchant", "m-2"));
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let bad = UiError::from(AppError::bad_input(
            Some("limit".into()),
            "must be a number",
        ));
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    }
}
