//! The knowledge base: search (Chinese and English, ranked, with the engine's
//! highlights), the articles by category and tag, one article rendered from Markdown
//! with its versions, and the staff editor. Merchants read published public articles
//! only; the use cases filter, so a merchant asking for an internal article gets 404.
//!
//! Markdown is rendered by `cairn_search::markdown::to_safe_html`, which writes only
//! the elements it knows and escapes all text (raw HTML in an article shows as text,
//! `javascript:` links lose their target), so its output goes into the page as is.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use cairn_app::tickets::{Article, SearchAnswer};
use cairn_domain::Principal;
use cairn_search::DocRef;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use serde_json::json;

use super::{after_form, bad, flash, form, highlighted, is_staff, params, tabs, when, KB_SECTION};
use crate::auth::Viewer;
use crate::ui::layout::respond;
use crate::ui::{Page, UiError};
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    tag: String,
    /// `article` (the default), `ticket` or `all`; staff only for tickets.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowParams {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ArticleForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body_markdown: String,
    #[serde(default)]
    category: String,
    /// Separated by commas.
    #[serde(default)]
    tags: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    status: String,
}

impl ArticleForm {
    fn to_json(&self) -> serde_json::Value {
        let tags: Vec<&str> = self
            .tags
            .split([',', '，'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        json!({
            "title": self.title,
            "body_markdown": self.body_markdown,
            "category": if self.category.trim().is_empty() { "general" } else { self.category.trim() },
            "tags": tags,
            "audience": if self.audience.is_empty() { "internal" } else { &self.audience },
            "status": if self.status.is_empty() { "draft" } else { &self.status },
        })
    }
}

/// `GET /ui/kb`: the articles, or the answers to a search.
pub async fn list(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let kind = match q.kind.as_str() {
            "" | "article" => Some("article"),
            "ticket" => Some("ticket"),
            "all" => None,
            other => {
                return Err(bad(
                    "kind",
                    format!("must be article, ticket or all, got {other:?}"),
                ))
            }
        };
        let articles = s.app.articles(&p).await?;
        let answer = if q.q.trim().is_empty() {
            None
        } else {
            let category = Some(q.category.as_str()).filter(|c| !c.is_empty());
            Some(s.app.search(&p, &q.q, kind, category, 0, 30).await?)
        };
        Ok(list_page(&p, &q, &articles, answer.as_ref()))
    };
    respond(&p, page.await)
}

/// `GET /ui/kb/{id}`: an article, or one of its versions (`?version=N`, staff).
pub async fn show(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    q: Result<Query<ShowParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        let (current, versions) = s.app.article(&p, &id).await?;
        let shown = match q.version.as_deref().filter(|v| !v.is_empty()) {
            None => current.clone(),
            Some(v) => {
                let n: u32 = v
                    .parse()
                    .map_err(|_| bad("version", format!("must be a whole number, got {v:?}")))?;
                versions
                    .iter()
                    .find(|a| a.version == n)
                    .cloned()
                    .ok_or_else(|| UiError::not_found(format!("article {id} has no version {n}")))?
            }
        };
        Ok(article_page(
            &p,
            &shown,
            current.version,
            &versions,
            q.done.as_deref(),
        ))
    };
    respond(&p, page.await)
}

/// `GET /ui/kb/new`: the editor for a new article (staff).
pub async fn new(Viewer(p): Viewer) -> Response {
    let page = if is_staff(&p) {
        Ok(editor_page(&p, None, None))
    } else {
        Err(UiError::new(
            axum::http::StatusCode::FORBIDDEN,
            format!("role {} may not write articles", p.role),
        ))
    };
    respond(&p, page)
}

/// `GET /ui/kb/{id}/edit`
pub async fn edit(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    q: Result<Query<ShowParams>, QueryRejection>,
) -> Response {
    let page = async {
        let q = params(q)?;
        if !is_staff(&p) {
            return Err(UiError::new(
                axum::http::StatusCode::FORBIDDEN,
                format!("role {} may not write articles", p.role),
            ));
        }
        let (a, _) = s.app.article(&p, &id).await?;
        Ok(editor_page(&p, Some(&a), q.done.as_deref()))
    };
    respond(&p, page.await)
}

/// `POST /ui/kb`: creates an article.
pub async fn create(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    f: Result<Form<ArticleForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let a = s.app.create_article(&p, f.to_json()).await?;
        Ok(format!("/ui/kb/{}?done=created", a.id))
    };
    after_form(&p, to.await)
}

/// `POST /ui/kb/{id}`: saves a new version.
pub async fn update(
    State(s): State<AppState>,
    Viewer(p): Viewer,
    Path(id): Path<String>,
    f: Result<Form<ArticleForm>, FormRejection>,
) -> Response {
    let to = async {
        let f = form(f)?;
        let a = s.app.update_article(&p, &id, f.to_json()).await?;
        Ok(format!("/ui/kb/{}?done=saved", a.id))
    };
    after_form(&p, to.await)
}

// ---------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------

fn counts<'a>(items: impl Iterator<Item = &'a str>) -> Vec<(&'a str, usize)> {
    let mut m: std::collections::BTreeMap<&str, usize> = Default::default();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    let mut v: Vec<(&str, usize)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v
}

fn audience_badges(a: &Article) -> Markup {
    html! {
        @if a.audience == "internal" { span .badge .warn { "internal" } " " }
        @if a.status == "draft" { span .badge .muted { "draft" } " " }
    }
}

fn list_page(
    p: &Principal,
    q: &ListParams,
    articles: &[Article],
    answer: Option<&SearchAnswer>,
) -> Page {
    let categories = counts(articles.iter().map(|a| a.category.as_str()));
    let tags = counts(
        articles
            .iter()
            .flat_map(|a| a.tags.iter().map(String::as_str)),
    );
    let shown: Vec<&Article> = articles
        .iter()
        .filter(|a| q.category.is_empty() || a.category == q.category)
        .filter(|a| q.tag.is_empty() || a.tags.contains(&q.tag))
        .collect();
    Page {
        title: "Knowledge base".into(),
        section: Some(KB_SECTION),
        body: html! {
            h1 { "Knowledge base" }
            (tabs(p, "/ui/kb"))
            (flash(q.done.as_deref()))
            form .stack-form #kb-search role="search" method="get" action="/ui/kb" {
                label for="kb-q" { "Search (中文 or English)" }
                input #kb-q type="search" name="q" value=(q.q) placeholder="重置密码 / reset password";
                @if !q.category.is_empty() { input type="hidden" name="category" value=(q.category); }
                @if is_staff(p) {
                    select name="kind" aria-label="What to search" {
                        option value="article" selected[q.kind.is_empty() || q.kind == "article"] { "articles" }
                        option value="ticket" selected[q.kind == "ticket"] { "tickets" }
                        option value="all" selected[q.kind == "all"] { "articles and tickets" }
                    }
                }
                button type="submit" { "Search" }
            }
            @if let Some(r) = answer {
                section .panel #results {
                    h2 { (r.total) " found" span .muted { " in " (format!("{:.1}", r.took_ms)) " ms" } }
                    @if r.hits.is_empty() { p .muted #no-results { "Nothing matches. Try other words, or open a ticket." } }
                    ol .results {
                        @for h in &r.hits {
                            @let href = match &h.doc { DocRef::Article(id) => format!("/ui/kb/{}", id.0), DocRef::Ticket(id) => format!("/ui/tickets/{}", id.0) };
                            li .hit data-kind=(match &h.doc { DocRef::Article(_) => "article", DocRef::Ticket(_) => "ticket" }) {
                                a .hit-title href=(href) { (highlighted(&h.title_html)) }
                                " " span .chip { (h.category) }
                                @if let DocRef::Ticket(_) = &h.doc { " " span .badge .muted { "ticket" } }
                                p .snippet { (highlighted(&h.snippet_html)) }
                            }
                        }
                    }
                }
            }
            div .columns {
                section .panel #categories {
                    h2 { "Categories" }
                    ul .chips {
                        li { a .chip href="/ui/kb" aria-current=[(q.category.is_empty() && q.tag.is_empty()).then_some("page")] { "all (" (articles.len()) ")" } }
                        @for (c, n) in &categories {
                            li { a .chip href=(format!("/ui/kb?category={}", urlencode(c))) aria-current=[(q.category == *c).then_some("page")] { (c) " (" (n) ")" } }
                        }
                    }
                }
                section .panel #tags {
                    h2 { "Tags" }
                    ul .chips {
                        @for (t, n) in tags.iter().take(40) {
                            li { a .chip href=(format!("/ui/kb?tag={}", urlencode(t))) aria-current=[(q.tag == *t).then_some("page")] { (t) " (" (n) ")" } }
                        }
                    }
                }
            }
            section .panel #articles {
                h2 { "Articles" @if is_staff(p) { " " a .secondary href="/ui/kb/new" #new-article { "Write an article" } } }
                @if shown.is_empty() { p .muted { "No articles here yet." } }
                ul .link-list {
                    @for a in &shown {
                        li data-article=(a.id) {
                            (audience_badges(a))
                            a href=(format!("/ui/kb/{}", a.id)) { (a.title) }
                            " " span .muted { (a.category) ", v" (a.version) }
                        }
                    }
                }
            }
        },
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)])
        .map(|e| e.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}

fn article_page(
    p: &Principal,
    a: &Article,
    latest: u32,
    versions: &[Article],
    done: Option<&str>,
) -> Page {
    Page {
        title: a.title.clone(),
        section: Some(KB_SECTION),
        body: html! {
            (tabs(p, ""))
            (flash(done))
            article .panel .kb-article #article data-article=(a.id) {
                h1 #article-title { (a.title) }
                p .muted {
                    (audience_badges(a))
                    span .chip { (a.category) }
                    @for t in &a.tags { " " a .chip href=(format!("/ui/kb?tag={}", urlencode(t))) { (t) } }
                    " · version " (a.version) " by " (a.author) ", " (when(a.updated_at))
                }
                @if a.version != latest {
                    p .notice #old-version { "An earlier version. " a href=(format!("/ui/kb/{}", a.id)) { "Read the current one (v" (latest) ")" } }
                }
                div .markdown #article-body { (PreEscaped(cairn_search::markdown::to_safe_html(&a.body_markdown))) }
                @if let Some(t) = &a.source_ticket {
                    @if is_staff(p) { p .muted { "Made from ticket " a href=(format!("/ui/tickets/{t}")) { (t) } } }
                }
            }
            @if is_staff(p) {
                p { a href=(format!("/ui/kb/{}/edit", a.id)) #edit-article { "Edit this article" } }
                section .panel #versions {
                    h2 { "Versions" }
                    ol .link-list reversed {
                        @for v in versions.iter().rev() {
                            li data-version=(v.version) {
                                a href=(format!("/ui/kb/{}?version={}", a.id, v.version)) aria-current=[(v.version == a.version).then_some("page")] { "v" (v.version) }
                                " " span .muted { (v.author) ", " (when(v.updated_at)) ", " (v.status) ", " (v.audience) }
                            }
                        }
                    }
                }
            } @else {
                p .muted { "Did not help? " a href="/ui/tickets/new" { "Open a ticket" } }
            }
        },
    }
}

fn editor_page(p: &Principal, a: Option<&Article>, done: Option<&str>) -> Page {
    let (action, heading) = match a {
        Some(a) => (format!("/ui/kb/{}", a.id), format!("Edit: {}", a.title)),
        None => ("/ui/kb".to_owned(), "New article".to_owned()),
    };
    let audience = a.map_or("internal", |a| a.audience.as_str());
    let status = a.map_or("draft", |a| a.status.as_str());
    Page {
        title: heading.clone(),
        section: Some(KB_SECTION),
        body: html! {
            (tabs(p, ""))
            (flash(done))
            h1 { (heading) }
            form .stack-form .wide #article-form method="post" action=(action) {
                label for="article-title-input" { "Title" }
                input #article-title-input type="text" name="title" required maxlength="200" value=(a.map_or("", |a| a.title.as_str()));
                label for="article-body" { "Body (Markdown)" }
                textarea #article-body name="body_markdown" rows="16" { (a.map_or("", |a| a.body_markdown.as_str())) }
                label for="article-category" { "Category" }
                input #article-category type="text" name="category" value=(a.map_or("general", |a| a.category.as_str()));
                label for="article-tags" { "Tags (separated by commas)" }
                input #article-tags type="text" name="tags" value=(a.map_or(String::new(), |a| a.tags.join(", ")));
                label for="article-audience" { "Who may read it" }
                select #article-audience name="audience" {
                    option value="internal" selected[audience == "internal"] { "Staff only (internal)" }
                    option value="public" selected[audience == "public"] { "Merchants too (public)" }
                }
                label for="article-status" { "Status" }
                select #article-status name="status" {
                    option value="draft" selected[status == "draft"] { "draft" }
                    option value="published" selected[status == "published"] { "published" }
                }
                button type="submit" #save-article { @if a.is_some() { "Save as a new version" } @else { "Create" } }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use cairn_domain::Role;

    use super::*;
    use crate::ui::tests::principal;

    fn article(id: &str, title: &str, audience: &str, status: &str, version: u32) -> Article {
        Article {
            id: id.into(),
            title: title.into(),
            body_markdown: "# 步骤\n\n在控制台点击**重置密码**。<script>alert(1)</script> [x](javascript:alert(1))".into(),
            category: "database".into(),
            tags: vec!["rds".into(), "密码".into()],
            audience: audience.into(),
            status: status.into(),
            version,
            author: "user:li".into(),
            updated_at: time::macros::datetime!(2026-11-25 04:00 UTC),
            source_ticket: Some("t-1".into()),
        }
    }

    #[test]
    fn articles_render_markdown_without_letting_html_through() {
        let a = article("kb-1", "如何重置 RDS 密码", "public", "published", 2);
        let versions = vec![
            article("kb-1", "旧标题", "public", "published", 1),
            a.clone(),
        ];
        let page = article_page(&principal(Role::Support), &a, 2, &versions, None)
            .body
            .into_string();
        assert!(page.contains("<strong>重置密码</strong>"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains(r#"href="javascript"#), "{page}");
        assert!(page.contains(r#"href="/ui/kb/kb-1?version=1""#));
        assert!(page.contains(r#"href="/ui/kb/kb-1/edit""#));
        assert!(page.contains(r#"href="/ui/tickets/t-1""#));
        let merchant = article_page(&principal(Role::Merchant), &a, 2, &[], None)
            .body
            .into_string();
        assert!(!merchant.contains("/edit") && !merchant.contains("id=\"versions\""));
        assert!(!merchant.contains("/ui/tickets/t-1"));
    }

    #[test]
    fn search_results_show_highlights_and_the_page_lists_categories_and_tags() {
        let articles = vec![
            article("kb-1", "如何重置 RDS 密码", "public", "published", 1),
            article("kb-2", "Runbook", "internal", "draft", 1),
        ];
        let answer = SearchAnswer {
            total: 1,
            took_ms: 1.5,
            hits: vec![cairn_search::Hit {
                doc: DocRef::Article(cairn_search::ArticleId("kb-1".into())),
                title: "如何重置 RDS 密码".into(),
                title_html: "如何重置 RDS <mark>密码</mark>".into(),
                snippet_html: "点击<mark>重置密码</mark> &lt;b&gt;".into(),
                score: 2.0,
                category: "database".into(),
                tags: vec![],
                audience: None,
                version: Some(1),
                merchant_id: None,
                status: None,
                time: time::macros::datetime!(2026-11-25 04:00 UTC),
            }],
        };
        let q = ListParams {
            q: "密码".into(),
            ..Default::default()
        };
        let page = list_page(&principal(Role::Support), &q, &articles, Some(&answer))
            .body
            .into_string();
        assert!(page.contains("如何重置 RDS <mark>密码</mark>"));
        assert!(page.contains("点击<mark>重置密码</mark> &lt;b&gt;"));
        assert!(page.contains("database (2)"));
        assert!(
            page.contains(r#"href="/ui/kb?tag=%E5%AF%86%E7%A0%81""#),
            "{page}"
        );
        assert!(page.contains("Write an article"));
        assert!(page.contains(">internal<") && page.contains(">draft<"));
    }

    #[test]
    fn the_editor_keeps_the_article_and_splits_tags() {
        let a = article("kb-1", "Reset <RDS>", "public", "published", 3);
        let page = editor_page(&principal(Role::Support), Some(&a), None)
            .body
            .into_string();
        assert!(page.contains(r#"action="/ui/kb/kb-1""#));
        assert!(page.contains(r#"value="Reset &lt;RDS&gt;""#));
        assert!(page.contains(r#"<option value="public" selected>"#));
        let f = ArticleForm {
            title: "t".into(),
            tags: "rds, 密码，  ,x".into(),
            ..Default::default()
        };
        let v = f.to_json();
        assert_eq!(v["tags"], json!(["rds", "密码", "x"]));
        assert_eq!(v["audience"], "internal");
        assert_eq!(v["category"], "general");
    }
}
