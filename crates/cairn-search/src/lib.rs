//! Search and text mining for cairn's tickets loop: the knowledge base and tickets are
//! found with a real search engine, and repeated requests are found by clustering.
//!
//! - [`tokenizer`]: one tokenizer for Chinese and English (jieba for Han text, English
//!   stemming, digits kept), shared by the index, the queries and the clustering.
//! - [`cluster`]: repeated requests: tickets grouped by text similarity and category over
//!   a sliding window, ranked by volume and by time spent.
//! - [`markdown`]: articles to plain text (for the index) and to safe HTML; a draft
//!   article from a resolved ticket.
//! - [`SearchIndex`]: articles and tickets in tantivy; every query carries a
//!   [`Visibility`], so a merchant sees public articles and its own tickets only.
//! - [`glossary`]: a small bilingual vocabulary of the trade, so "重置密码" and
//!   "password reset" meet.
//!
//! **Boundary:** no HTTP, no SQL, no system clock: times come in as values. The index
//! does file I/O only in the directory it is given.
pub mod cluster;
pub mod demo;
pub mod glossary;
mod index;
pub mod markdown;
pub mod tokenizer;

mod error;

pub use error::SearchError;
pub use index::{
    ArticleDoc, ArticleId, Audience, DocKind, DocRef, Hit, Query, Results, SearchIndex, Suggestion,
    TicketDoc, TicketId, Visibility, EQUIVALENT_WEIGHT, MAX_LIMIT, MAX_QUERY_WORDS, TITLE_BOOST,
};
