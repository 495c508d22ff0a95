//! The page shell every page shares: the document head, the navigation bar, error
//! pages, the response headers of HTML pages, and the stylesheet.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use cairn_domain::access::Scope;
use cairn_domain::{Kind, Principal};
use maud::{html, Markup, DOCTYPE};

use super::{Page, UiError};

/// The stylesheet, served from `/ui/app.css` so that pages need no inline styles
/// beyond usage-bar widths and no external resources at all.
const STYLESHEET: &str = include_str!("app.css");

/// What a page may load: its own stylesheet and nothing else, no scripts at all.
/// Inline `style` attributes are allowed for the computed widths of usage bars.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The links of the navigation bar: label, target, and the kind whose read access
/// decides whether the link is shown (`None`: always shown).
const NAV: &[(&str, &str, Option<Kind>)] = &[
    ("Overview", "/", None),
    ("Merchants", "/ui/merchants", Some(Kind::Merchant)),
    ("Pools", "/ui/pools", Some(Kind::Pool)),
    ("Capacity", "/ui/capacity", Some(Kind::Pool)),
    ("Hosts", "/ui/hosts", Some(Kind::Host)),
    ("Instances", "/ui/instances", Some(Kind::Instance)),
    ("Services", "/ui/services", Some(Kind::Service)),
    ("Topology", "/ui/topology", Some(Kind::Service)),
    // Metrics are the platform's telemetry, infrastructure like hosts.
    ("Metrics", "/ui/metrics", Some(Kind::Host)),
    // Alerts are about the platform's infrastructure too; merchants may not read them.
    ("Alerts", "/ui/alerts", Some(Kind::Host)),
    // Everyone: staff run incidents, merchants follow those that hurt them.
    ("Incidents", "/ui/incidents", None),
    // Everyone: merchants open and follow their own tickets and read public articles.
    ("Tickets", "/ui/tickets", None),
    ("Knowledge base", "/ui/kb", None),
    // Changes touch the infrastructure; merchants may not read them.
    ("Changes", "/ui/changes", Some(Kind::Host)),
    ("Promotions", "/ui/promotions", Some(Kind::Promotion)),
];

/// Serves the stylesheet.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// An HTML response with the headers every page carries. Pages show tenant data, so
/// neither browsers nor proxies may keep them.
pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut res = (status, Html(markup.into_string())).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

/// Answers a signed-in user with a page, or with an error page carrying its status.
pub fn respond(p: &Principal, page: Result<Page, UiError>) -> Response {
    match page {
        Ok(page) => html_response(StatusCode::OK, shell(Some(p), &page)),
        Err(e) => error_response(Some(p), e),
    }
}

/// An error page: the status, a heading that says what it means and the message.
pub fn error_response(p: Option<&Principal>, e: UiError) -> Response {
    let heading = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::BAD_REQUEST => "That request was not understood",
        StatusCode::UNAUTHORIZED => "Please sign in",
        s if s.is_server_error() => "Something went wrong on our side",
        _ => "That did not work",
    };
    let explanation = match e.status {
        StatusCode::FORBIDDEN => Some(
            "Your role does not give access to this page. Ask an administrator if you need it.",
        ),
        StatusCode::NOT_FOUND => Some("It may have been removed, or it is not visible to you."),
        _ => None,
    };
    let page = Page {
        title: format!("{} {heading}", e.status.as_u16()),
        section: None,
        body: html! {
            section #error .error-page data-status=(e.status.as_u16()) {
                p .status-code { (e.status.as_u16()) }
                h1 { (heading) }
                p #error-message { (e.message) }
                @if let Some(text) = explanation {
                    p { (text) }
                }
                p { a href="/" { "Back to the overview" } }
            }
        },
    };
    html_response(e.status, shell(p, &page))
}

/// The whole document around a page: head, navigation bar (for a signed-in user),
/// the page itself and a footer.
pub fn shell(p: Option<&Principal>, page: &Page) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (page.title) " · cairn" }
                link rel="stylesheet" href="/ui/app.css";
            }
            body {
                a .skip href="#main" { "Skip to content" }
                @if let Some(p) = p {
                    (nav(p, page.section))
                }
                main #main { (page.body) }
                footer .site-footer {
                    p { "cairn — operations for the merchant cloud" }
                }
            }
        }
    }
}

/// The navigation bar: the sections the user's role may read, the role, and sign out.
fn nav(p: &Principal, current: Option<&str>) -> Markup {
    let visible = NAV
        .iter()
        .filter(|(_, _, kind)| kind.is_none_or(|k| p.read_scope(k) != Scope::Denied));
    html! {
        header .topbar {
            nav #nav aria-label="Main" {
                a .brand href="/" { "cairn" }
                ul .nav-links {
                    @for (label, href, _) in visible {
                        li {
                            a href=(href) aria-current=[(current == Some(*href)).then_some("page")] {
                                (label)
                            }
                        }
                    }
                }
                div .who {
                    span .role #role data-role=(p.role.as_str()) title=(p.actor) { (p.role.as_str()) }
                    form method="post" action="/logout" {
                        button type="submit" #sign-out { "Sign out" }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cairn_domain::Role;

    use super::*;

    use crate::ui::tests::principal;

    #[test]
    fn merchants_see_no_infrastructure_links() {
        let ops = nav(&principal(Role::AppOps), None).into_string();
        assert!(ops.contains(r#"href="/ui/hosts""#));
        assert!(ops.contains(r#"href="/ui/pools""#));
        assert!(ops.contains(r#"href="/ui/alerts""#));
        let merchant = nav(&principal(Role::Merchant), Some("/ui/services")).into_string();
        assert!(!merchant.contains(r#"href="/ui/hosts""#));
        assert!(!merchant.contains(r#"href="/ui/pools""#));
        assert!(!merchant.contains(r#"href="/ui/alerts""#));
        assert!(merchant.contains(r#"<a href="/ui/services" aria-current="page">"#));
        assert!(merchant.contains(">merchant<"));
    }

    #[test]
    fn the_shell_declares_charset_viewport_and_language() {
        let page = Page {
            title: "杭州 <zone>".into(),
            section: None,
            body: html! { p { "小米官方旗舰店" } },
        };
        let doc = shell(None, &page).into_string();
        assert!(doc.starts_with("<!DOCTYPE html><html lang=\"en\">"));
        assert!(doc.contains(r#"<meta charset="utf-8">"#));
        assert!(doc.contains(r#"content="width=device-width, initial-scale=1""#));
        assert!(doc.contains("<title>杭州 &lt;zone&gt; · cairn</title>"));
        assert!(doc.contains("小米官方旗舰店"));
    }
}
