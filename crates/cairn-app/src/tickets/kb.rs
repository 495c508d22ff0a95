//! The knowledge base (articles in Markdown with categories, tags, versions and an
//! audience), search over articles and tickets, suggestions while a ticket is being
//! written, deflection, drafts from resolved tickets, and repeated requests clustered
//! into product work.

use cairn_domain::tickets::TicketStatus;
use cairn_domain::{Principal, Role};
use cairn_search::cluster::{cluster, ClusterParams, TicketText};
use cairn_search::{ArticleDoc, ArticleId, Audience, DocKind, Query, Visibility};
use cairn_store::tickets::TicketFilter;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::records::parse_value;
use crate::{App, AppError, Result};

/// Namespace of cluster marks (to be built into the product, and how it goes).
pub const NS_CLUSTERS: &str = "ticket-clusters";

/// An article as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub body_markdown: String,
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `public` (merchants read it) or `internal`.
    pub audience: String,
    /// `draft` or `published`.
    pub status: String,
    pub version: u32,
    pub author: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: cairn_domain::Timestamp,
    /// The ticket a draft was made from.
    #[serde(default)]
    pub source_ticket: Option<String>,
}

/// What a write of an article takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleInput {
    pub title: String,
    pub body_markdown: String,
    #[serde(default = "general")]
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "internal")]
    pub audience: String,
    #[serde(default = "draft")]
    pub status: String,
}

fn general() -> String {
    "general".into()
}
fn internal() -> String {
    "internal".into()
}
fn draft() -> String {
    "draft".into()
}

/// A search answer.
#[derive(Debug, Clone, Serialize)]
pub struct SearchAnswer {
    pub total: usize,
    pub hits: Vec<cairn_search::Hit>,
    pub took_ms: f64,
}

/// A cluster of repeated requests, with its mark if someone made one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterView {
    #[serde(flatten)]
    pub cluster: cairn_search::cluster::Cluster,
    /// The tickets' titles of its examples.
    pub example_titles: Vec<(String, String)>,
    pub mark: Option<ClusterMark>,
}

/// A decision about a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterMark {
    /// `to-build`, `in-progress`, `shipped` or `declined`.
    pub status: String,
    pub note: String,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: cairn_domain::Timestamp,
    /// The tickets it held when marked, so the mark follows it across runs.
    pub tickets: Vec<String>,
}

fn visibility(p: &Principal) -> Result<Visibility> {
    match (p.role, &p.merchant_id) {
        (Role::Merchant, Some(m)) => Ok(Visibility::Merchant(m.clone())),
        (Role::Merchant, None) => Err(AppError::Forbidden("no merchant".into())),
        _ => Ok(Visibility::Staff),
    }
}

fn may_edit(p: &Principal) -> Result<()> {
    match p.role {
        Role::Admin | Role::Support | Role::AppOps | Role::BaseOps | Role::Developer => Ok(()),
        r => Err(AppError::Forbidden(format!(
            "role {r} may not write articles"
        ))),
    }
}

fn check_article(a: &ArticleInput) -> Result<()> {
    let bad = |f: &str, m: String| Err(AppError::Domain(cairn_domain::DomainError::invalid(f, m)));
    if a.title.trim().is_empty() || a.title.chars().count() > 200 {
        return bad("title", "must be 1 to 200 characters".into());
    }
    if a.body_markdown.chars().count() > 100_000 {
        return bad("body_markdown", "must be at most 100000 characters".into());
    }
    if !matches!(a.audience.as_str(), "public" | "internal") {
        return bad(
            "audience",
            format!("must be public or internal, got {:?}", a.audience),
        );
    }
    if !matches!(a.status.as_str(), "draft" | "published") {
        return bad(
            "status",
            format!("must be draft or published, got {:?}", a.status),
        );
    }
    if a.tags.len() > 20
        || a.tags
            .iter()
            .any(|t| t.trim().is_empty() || t.chars().count() > 40)
    {
        return bad("tags", "at most 20 tags of 1 to 40 characters".into());
    }
    Ok(())
}

pub(crate) fn to_doc(a: &Article) -> ArticleDoc {
    ArticleDoc {
        id: ArticleId(a.id.clone()),
        title: a.title.clone(),
        body_markdown: a.body_markdown.clone(),
        category: a.category.clone(),
        tags: a.tags.clone(),
        // Drafts are never public: the index shows them to staff only.
        audience: if a.audience == "public" && a.status == "published" {
            Audience::Public
        } else {
            Audience::Internal
        },
        version: a.version,
        updated_at: a.updated_at,
    }
}

fn parse_article(v: Value) -> Result<Article> {
    serde_json::from_value(v)
        .map_err(|e| AppError::Internal(format!("a stored article does not read: {e}")))
}

impl App {
    /// Creates an article (version 1).
    pub async fn create_article(&self, p: &Principal, body: Value) -> Result<Article> {
        may_edit(p)?;
        let t = self.tickets()?.clone();
        let input: ArticleInput = parse_value("article", body)?;
        check_article(&input)?;
        let now = self.now();
        let a = Article {
            id: crate::auth::new_id("kb"),
            title: input.title.trim().to_owned(),
            body_markdown: input.body_markdown,
            category: input.category,
            tags: input.tags,
            audience: input.audience,
            status: input.status,
            version: 1,
            author: p.actor.clone(),
            updated_at: now,
            source_ticket: None,
        };
        self.store_article(&a, true).await?;
        t.index
            .upsert_article(&to_doc(&a))
            .and_then(|_| t.index.commit())
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(a)
    }

    async fn store_article(&self, a: &Article, insert: bool) -> Result<()> {
        let doc = serde_json::to_value(a).unwrap_or_default();
        let mut tx = self.store.begin().await?;
        tx.put_article(&cairn_store::tickets::ArticleRow {
            id: &a.id,
            audience: &a.audience,
            status: &a.status,
            category: &a.category,
            version: i64::from(a.version),
            at: a.updated_at,
            author: &a.author,
            doc: &doc,
            insert,
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces an article's content: a new version.
    pub async fn update_article(&self, p: &Principal, id: &str, body: Value) -> Result<Article> {
        may_edit(p)?;
        let t = self.tickets()?.clone();
        let input: ArticleInput = parse_value("article", body)?;
        check_article(&input)?;
        let old = parse_article(
            self.store
                .article(id)
                .await?
                .ok_or_else(|| AppError::not_found("article", id))?,
        )?;
        let a = Article {
            title: input.title.trim().to_owned(),
            body_markdown: input.body_markdown,
            category: input.category,
            tags: input.tags,
            audience: input.audience,
            status: input.status,
            version: old.version + 1,
            author: p.actor.clone(),
            updated_at: self.now(),
            ..old
        };
        self.store_article(&a, false).await?;
        t.index
            .upsert_article(&to_doc(&a))
            .and_then(|_| t.index.commit())
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(a)
    }

    /// An article, if `p` may read it (merchants: published public ones).
    pub async fn article(&self, p: &Principal, id: &str) -> Result<(Article, Vec<Article>)> {
        let a = parse_article(
            self.store
                .article(id)
                .await?
                .ok_or_else(|| AppError::not_found("article", id))?,
        )?;
        if p.role == Role::Merchant && !(a.audience == "public" && a.status == "published") {
            return Err(AppError::not_found("article", id));
        }
        let versions = if p.role == Role::Merchant {
            Vec::new()
        } else {
            self.store
                .article_versions(id)
                .await?
                .into_iter()
                .filter_map(|v| parse_article(v).ok())
                .collect()
        };
        Ok((a, versions))
    }

    /// Every article `p` may read, newest first.
    pub async fn articles(&self, p: &Principal) -> Result<Vec<Article>> {
        let mut all: Vec<Article> = self
            .store
            .articles(if p.role == Role::Merchant {
                Some("public")
            } else {
                None
            })
            .await?
            .into_iter()
            .filter_map(|v| parse_article(v).ok())
            .filter(|a| p.role != Role::Merchant || a.status == "published")
            .collect();
        all.sort_by_key(|a| std::cmp::Reverse(a.updated_at));
        Ok(all)
    }

    /// Full-text search over articles and tickets as `p` may see them.
    pub async fn search(
        &self,
        p: &Principal,
        text: &str,
        kind: Option<&str>,
        category: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<SearchAnswer> {
        let t = self.tickets()?.clone();
        let mut q = Query::new(text, visibility(p)?).page(offset, limit.clamp(1, 100));
        match kind {
            None => {}
            Some("article") => q = q.kind(DocKind::Article),
            Some("ticket") => q = q.kind(DocKind::Ticket),
            Some(other) => {
                return Err(AppError::bad_input(
                    Some("kind".into()),
                    format!("must be article or ticket, got {other:?}"),
                ))
            }
        }
        if let Some(c) = category {
            q = q.category(c);
        }
        let began = std::time::Instant::now();
        let r = tokio::task::spawn_blocking(move || t.index.search(&q))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(|e| AppError::bad_input(None, e.to_string()))?;
        Ok(SearchAnswer {
            total: r.total,
            hits: r.hits,
            took_ms: began.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Articles that may answer a ticket being written.
    pub async fn suggest_articles(
        &self,
        p: &Principal,
        draft: &str,
    ) -> Result<Vec<cairn_search::Suggestion>> {
        let t = self.tickets()?.clone();
        let v = visibility(p)?;
        let d = draft.to_owned();
        tokio::task::spawn_blocking(move || t.index.suggest_articles(&d, &v, 5))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(|e| AppError::bad_input(None, e.to_string()))
    }

    /// A merchant who read a suggestion and left without filing: counted as deflected.
    pub async fn deflect(
        &self,
        p: &Principal,
        draft: &str,
        article_id: Option<&str>,
    ) -> Result<()> {
        let m = match (p.role, &p.merchant_id) {
            (Role::Merchant, Some(m)) => m.clone(),
            _ => {
                return Err(AppError::Forbidden(
                    "only a merchant's own abandoned ticket counts as deflected".into(),
                ))
            }
        };
        if let Some(a) = article_id {
            self.article(p, a).await?;
        }
        let draft: String = draft.chars().take(2000).collect();
        self.store
            .record_deflection(self.now(), m.as_str(), article_id, &draft)
            .await?;
        Ok(())
    }

    /// A draft internal article from a resolved ticket: problem from the ticket,
    /// solution from the last reply the merchant saw, personal data scrubbed.
    pub async fn draft_from_ticket(&self, p: &Principal, ticket_id: &str) -> Result<Article> {
        may_edit(p)?;
        let t = self.tickets()?.clone();
        let ticket = self
            .store
            .ticket(ticket_id)
            .await?
            .ok_or_else(|| AppError::not_found("ticket", ticket_id))?;
        if !matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed) {
            return Err(AppError::Conflict(format!(
                "ticket {ticket_id} is {}; only resolved tickets become articles",
                ticket.status.as_str()
            )));
        }
        let events = self.store.ticket_events(ticket_id, false).await?;
        let resolution = events
            .iter()
            .rev()
            .find(|e| e.kind == "comment" && e.actor != ticket.created_by)
            .map(|e| e.body.clone())
            .unwrap_or_default();
        let body = cairn_search::markdown::draft_article(
            ticket_id,
            &ticket.title,
            &ticket.body,
            &resolution,
        );
        let now = self.now();
        let a = Article {
            id: crate::auth::new_id("kb"),
            title: ticket.title.clone(),
            body_markdown: body,
            category: ticket.category.clone(),
            tags: vec!["from-ticket".into()],
            audience: "internal".into(),
            status: "draft".into(),
            version: 1,
            author: p.actor.clone(),
            updated_at: now,
            source_ticket: Some(ticket_id.to_owned()),
        };
        self.store_article(&a, true).await?;
        t.index
            .upsert_article(&to_doc(&a))
            .and_then(|_| t.index.commit())
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(a)
    }

    /// Repeated requests: tickets of the last `window_days` clustered by text and
    /// category, ranked by volume (or time spent), with their marks.
    pub async fn ticket_clusters(
        &self,
        p: &Principal,
        window_days: u32,
        by_time: bool,
    ) -> Result<Vec<ClusterView>> {
        if p.role == Role::Merchant {
            return Err(AppError::Forbidden(
                "role merchant may not read the request backlog".into(),
            ));
        }
        if !(1..=730).contains(&window_days) {
            return Err(AppError::bad_input(
                Some("window_days".into()),
                format!("must be from 1 to 730, got {window_days}"),
            ));
        }
        let now = self.now();
        let since = now - time::Duration::days(i64::from(window_days));
        let tickets = self
            .store
            .tickets(&TicketFilter {
                limit: 100_000,
                ..Default::default()
            })
            .await?;
        let titles: std::collections::HashMap<String, String> = tickets
            .iter()
            .map(|t| (t.id.clone(), t.title.clone()))
            .collect();
        let texts: Vec<TicketText> = tickets
            .into_iter()
            .filter(|t| t.created_at > since)
            .map(|t| TicketText {
                id: cairn_search::TicketId(t.id),
                category: t.category,
                title: t.title,
                body: t.body,
                created_at: t.created_at,
                time_spent_minutes: t.time_spent_minutes,
            })
            .collect();
        let params = ClusterParams {
            now,
            window_days,
            ..ClusterParams::new(now)
        };
        let mut clustering = tokio::task::spawn_blocking(move || cluster(&texts, &params))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let marks: Vec<(String, ClusterMark)> = self
            .store
            .documents(NS_CLUSTERS)
            .await?
            .into_iter()
            .filter_map(|d| serde_json::from_str(&d.value).ok().map(|m| (d.key, m)))
            .collect();
        // A mark follows its cluster by the tickets it held when marked.
        let prev: Vec<cairn_search::cluster::PreviousCluster> = marks
            .iter()
            .map(|(id, m)| cairn_search::cluster::PreviousCluster {
                id: id.clone(),
                tickets: m
                    .tickets
                    .iter()
                    .map(|t| cairn_search::TicketId(t.clone()))
                    .collect(),
            })
            .collect();
        clustering.carry_ids(&prev);
        let clusters: Vec<cairn_search::cluster::Cluster> = if by_time {
            clustering.by_time_spent().into_iter().cloned().collect()
        } else {
            clustering.by_volume().into_iter().cloned().collect()
        };
        Ok(clusters
            .into_iter()
            .map(|c| {
                let example_titles = c
                    .examples
                    .iter()
                    .map(|id| (id.0.clone(), titles.get(&id.0).cloned().unwrap_or_default()))
                    .collect();
                let mark = marks
                    .iter()
                    .find(|(id, _)| *id == c.id)
                    .map(|(_, m)| m.clone());
                ClusterView {
                    cluster: c,
                    example_titles,
                    mark,
                }
            })
            .collect())
    }

    /// Marks a cluster as product work and tracks it.
    pub async fn mark_cluster(
        &self,
        p: &Principal,
        id: &str,
        status: &str,
        note: &str,
    ) -> Result<ClusterMark> {
        if !matches!(
            p.role,
            Role::Admin | Role::AppOps | Role::BaseOps | Role::Developer | Role::Support
        ) {
            return Err(AppError::Forbidden(format!(
                "role {} may not mark clusters",
                p.role
            )));
        }
        if !matches!(status, "to-build" | "in-progress" | "shipped" | "declined") {
            return Err(AppError::bad_input(
                Some("status".into()),
                format!("must be to-build, in-progress, shipped or declined, got {status:?}"),
            ));
        }
        let clusters = self.ticket_clusters(p, 365, false).await?;
        let c = clusters
            .iter()
            .find(|c| c.cluster.id == id)
            .ok_or_else(|| AppError::not_found("cluster", id))?;
        let mark = ClusterMark {
            status: status.to_owned(),
            note: note.chars().take(2000).collect(),
            by: p.actor.clone(),
            at: self.now(),
            tickets: c.cluster.tickets.iter().map(|t| t.0.clone()).collect(),
        };
        let text = serde_json::to_string(&mark).unwrap_or_default();
        self.store
            .put_document(NS_CLUSTERS, id, &text, self.now(), &p.actor)
            .await?;
        Ok(mark)
    }
}
