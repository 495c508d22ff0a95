//! Small builders so that each story reads as what happens, not as struct literals.

use cairn_domain::MerchantId;
use cairn_search::{
    ArticleDoc, ArticleId, Audience, Hit, Query, SearchIndex, TicketDoc, TicketId, Visibility,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const T0: OffsetDateTime = datetime!(2025-06-01 08:00 UTC);

pub fn article(id: &str, title: &str, body: &str) -> ArticleDoc {
    ArticleDoc {
        id: ArticleId(id.to_owned()),
        title: title.to_owned(),
        body_markdown: body.to_owned(),
        category: "general".to_owned(),
        tags: Vec::new(),
        audience: Audience::Public,
        version: 1,
        updated_at: T0,
    }
}

pub fn internal(mut a: ArticleDoc) -> ArticleDoc {
    a.audience = Audience::Internal;
    a
}

pub fn ticket(id: &str, merchant: &str, title: &str, body: &str) -> TicketDoc {
    TicketDoc {
        id: TicketId(id.to_owned()),
        merchant_id: MerchantId::new(merchant),
        title: title.to_owned(),
        body: body.to_owned(),
        category: "general".to_owned(),
        status: "open".to_owned(),
        created_at: T0,
    }
}

pub fn days_later(days: i64) -> OffsetDateTime {
    T0 + Duration::days(days)
}

pub fn merchant(id: &str) -> Visibility {
    Visibility::Merchant(MerchantId::new(id))
}

/// An in-memory index holding `articles` and `tickets`, committed.
pub fn index_with(articles: &[ArticleDoc], tickets: &[TicketDoc]) -> SearchIndex {
    let index = SearchIndex::open_in_ram().expect("index in RAM");
    for a in articles {
        index.upsert_article(a).expect("article");
    }
    for t in tickets {
        index.upsert_ticket(t).expect("ticket");
    }
    index.commit().expect("commit");
    index
}

/// The ids of a search's hits, in order.
pub fn ids(index: &SearchIndex, query: &Query) -> Vec<String> {
    index
        .search(query)
        .expect("search")
        .hits
        .iter()
        .map(hit_id)
        .collect()
}

pub fn hit_id(hit: &Hit) -> String {
    match &hit.doc {
        cairn_search::DocRef::Article(a) => a.0.clone(),
        cairn_search::DocRef::Ticket(t) => t.0.clone(),
    }
}
