//! The search index of knowledge-base articles and tickets, over tantivy.
//!
//! **Writes** are buffered: [`SearchIndex::upsert_article`], [`SearchIndex::upsert_ticket`]
//! and [`SearchIndex::delete`] queue changes, and [`SearchIndex::commit`] makes them
//! durable and visible in one step, after which the reader is reloaded, so a search
//! right after `commit` sees the change and a search before it does not. Callers batch
//! (an import commits once at the end; a single edit commits at once).
//!
//! **Who sees what** is decided when a document is indexed: each one gets a *scope*
//! term (`public` for a public article, `internal` for an internal one, `m:<id>` for a
//! merchant's ticket) and every query carries a [`Visibility`], which it cannot be built
//! without. A merchant's query is restricted to the scopes `public` and its own, so an
//! internal article or another merchant's ticket cannot match, whatever the text.
//!
//! **Queries** never fail on their text: it is not parsed as a query language but cut
//! into words by the [tokenizer](crate::tokenizer), so stray quotes, colons and
//! parentheses are just separators. Each word (with the words inside it, and its
//! [glossary](crate::glossary) equivalents at a lower weight) must match in the title
//! or the body of most results: with up to two words all of them, beyond that two in
//! three. Ranking is BM25 with matches in the title counting [`TITLE_BOOST`] times.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Mutex;

use cairn_domain::MerchantId;
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query as TantivyQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{
    DateOptions, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST,
    INDEXED, STORED, STRING,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DateTime, DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher,
    TantivyDocument, Term,
};
use time::OffsetDateTime;

use crate::tokenizer::{self, Segmentation, TOKENIZER_NAME};
use crate::{glossary, markdown, SearchError};

/// How much more a word found in the title counts than one found in the body.
pub const TITLE_BOOST: f32 = 2.5;

/// The weight of a glossary equivalent relative to a word the user typed: a Chinese
/// query finds English articles too, but below the Chinese ones that match as typed.
pub const EQUIVALENT_WEIGHT: f32 = 0.4;

/// The most results one page may ask for.
pub const MAX_LIMIT: usize = 100;

/// A query's words beyond this many are ignored: a pasted log must not turn into a
/// query with thousands of clauses.
pub const MAX_QUERY_WORDS: usize = 32;

/// The snippet generator's window, in bytes of text (a Han character is three).
const SNIPPET_BYTES: usize = 240;

/// Memory for the writer's in-memory segment before it flushes to disk. tantivy
/// requires at least 15 MB per indexing thread.
const WRITER_MEMORY: usize = 50_000_000;

/// A knowledge-base article's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ArticleId(pub String);

/// A ticket's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(pub String);

/// Who may read an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// Merchants and staff.
    Public,
    /// Staff only (runbooks, escalation notes).
    Internal,
}

/// A knowledge-base article as the index takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleDoc {
    pub id: ArticleId,
    pub title: String,
    /// The article's Markdown; the index keeps its plain text.
    pub body_markdown: String,
    pub category: String,
    pub tags: Vec<String>,
    pub audience: Audience,
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A ticket as the index takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketDoc {
    pub id: TicketId,
    pub merchant_id: MerchantId,
    pub title: String,
    pub body: String,
    pub category: String,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The two kinds of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    Article,
    Ticket,
}

impl DocKind {
    fn as_str(self) -> &'static str {
        match self {
            DocKind::Article => "article",
            DocKind::Ticket => "ticket",
        }
    }
}

/// A document of either kind, by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum DocRef {
    Article(ArticleId),
    Ticket(TicketId),
}

impl DocRef {
    fn key(&self) -> String {
        match self {
            DocRef::Article(id) => format!("a:{}", id.0),
            DocRef::Ticket(id) => format!("t:{}", id.0),
        }
    }
}

/// Whose eyes a query is for. Every query and suggestion takes one, so no caller can
/// forget to restrict a merchant to what it may see.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// A merchant: public articles and its own tickets.
    Merchant(MerchantId),
    /// Support and ops staff: everything.
    Staff,
}

/// A search: the text as typed, who asks, and filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    text: String,
    visibility: Visibility,
    kind: Option<DocKind>,
    categories: Vec<String>,
    tags: Vec<String>,
    offset: usize,
    limit: usize,
}

impl Query {
    /// A query for `text` as seen by `visibility`, first page of 10. Any text is
    /// accepted; text without a searchable word (empty, or only stop words and
    /// punctuation) lists everything visible, newest first.
    pub fn new(text: impl Into<String>, visibility: Visibility) -> Self {
        Query {
            text: text.into(),
            visibility,
            kind: None,
            categories: Vec::new(),
            tags: Vec::new(),
            offset: 0,
            limit: 10,
        }
    }

    /// Only documents of this kind.
    pub fn kind(mut self, kind: DocKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Only documents in this category; several calls allow any of them.
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.categories.push(category.into());
        self
    }

    /// Only articles with this tag; several calls require all of them.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// The page: skip `offset` results, return at most `limit` (1 to [`MAX_LIMIT`]).
    pub fn page(mut self, offset: usize, limit: usize) -> Self {
        self.offset = offset;
        self.limit = limit;
        self
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// All matching documents, not only this page's.
    pub total: usize,
    pub hits: Vec<Hit>,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub doc: DocRef,
    pub title: String,
    /// The title as HTML, escaped, with the matched words in `<mark>`.
    pub title_html: String,
    /// The best passage of the body as HTML, escaped, with the matched words in
    /// `<mark>`; the body's beginning when only the title matched.
    pub snippet_html: String,
    pub score: f32,
    pub category: String,
    /// Articles' tags (empty for tickets).
    pub tags: Vec<String>,
    /// Articles only.
    pub audience: Option<Audience>,
    /// Articles only.
    pub version: Option<u32>,
    /// Tickets only.
    pub merchant_id: Option<MerchantId>,
    /// Tickets only.
    pub status: Option<String>,
    /// An article's last update, a ticket's creation.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
}

/// An article suggested while a ticket is being written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub id: ArticleId,
    pub title: String,
    pub category: String,
    pub score: f32,
}

#[derive(Clone, Copy)]
struct Fields {
    key: Field,
    kind: Field,
    id: Field,
    scope: Field,
    title: Field,
    body: Field,
    category: Field,
    tags: Field,
    audience: Field,
    version: Field,
    merchant_id: Field,
    status: Field,
    time: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Positions are not recorded: the tokenizer's overlapping Chinese words make phrase
    // queries meaningless, and without them the index is smaller and faster to build.
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER_NAME)
                .set_index_option(IndexRecordOption::WithFreqs),
        )
        .set_stored();
    let fields = Fields {
        key: b.add_text_field("key", STRING),
        kind: b.add_text_field("kind", STRING | STORED),
        id: b.add_text_field("id", STRING | STORED),
        scope: b.add_text_field("scope", STRING),
        title: b.add_text_field("title", text.clone()),
        body: b.add_text_field("body", text),
        category: b.add_text_field("category", STRING | STORED),
        tags: b.add_text_field("tags", STRING | STORED),
        audience: b.add_text_field("audience", STORED),
        version: b.add_u64_field("version", STORED),
        merchant_id: b.add_text_field("merchant_id", STRING | STORED),
        status: b.add_text_field("status", STRING | STORED),
        time: b.add_date_field("time", DateOptions::from(INDEXED | STORED | FAST)),
    };
    (b.build(), fields)
}

const SCOPE_PUBLIC: &str = "public";
const SCOPE_INTERNAL: &str = "internal";

fn merchant_scope(m: &MerchantId) -> String {
    format!("m:{}", m.as_str())
}

/// The index of articles and tickets. Searches may run from many threads at once;
/// writes are serialised on an internal lock.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("docs", &self.num_docs())
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, creating the directory and an empty index if needed.
    /// The index owns the directory: it writes nothing elsewhere, and nothing else
    /// should write there.
    pub fn open(dir: &Path) -> Result<SearchIndex, SearchError> {
        let open_err = |message: String| SearchError::Open {
            path: dir.to_owned(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let directory = MmapDirectory::open(dir).map_err(|e| open_err(e.to_string()))?;
        let (schema, fields) = schema();
        let index =
            Index::open_or_create(directory, schema).map_err(|e| open_err(e.to_string()))?;
        Self::with_index(index, fields)
    }

    /// An index in memory, for tests and benchmarks.
    pub fn open_in_ram() -> Result<SearchIndex, SearchError> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<SearchIndex, SearchError> {
        index
            .tokenizers()
            .register(TOKENIZER_NAME, tokenizer::analyzer());
        // One indexing thread: cairn shares its machine with the stores and the web
        // server, and documents arrive a few at a time except on a rebuild.
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        // Reloaded by `commit` itself, so visibility follows commits exactly instead of
        // a file watcher's timing.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
        })
    }

    /// Queues an article, replacing any earlier one with its id.
    pub fn upsert_article(&self, article: &ArticleDoc) -> Result<(), SearchError> {
        check_id("id", &article.id.0)?;
        let f = &self.fields;
        let key = DocRef::Article(article.id.clone()).key();
        let mut doc = TantivyDocument::default();
        doc.add_text(f.key, &key);
        doc.add_text(f.kind, DocKind::Article.as_str());
        doc.add_text(f.id, &article.id.0);
        let (scope, audience) = match article.audience {
            Audience::Public => (SCOPE_PUBLIC, "public"),
            Audience::Internal => (SCOPE_INTERNAL, "internal"),
        };
        doc.add_text(f.scope, scope);
        doc.add_text(f.audience, audience);
        doc.add_text(f.title, &article.title);
        doc.add_text(f.body, markdown::to_plain_text(&article.body_markdown));
        doc.add_text(f.category, &article.category);
        for tag in &article.tags {
            doc.add_text(f.tags, tag);
        }
        doc.add_u64(f.version, u64::from(article.version));
        doc.add_date(f.time, DateTime::from_utc(article.updated_at));
        self.replace(&key, doc)
    }

    /// Queues a ticket, replacing any earlier one with its id.
    pub fn upsert_ticket(&self, ticket: &TicketDoc) -> Result<(), SearchError> {
        check_id("id", &ticket.id.0)?;
        check_id("merchant_id", ticket.merchant_id.as_str())?;
        let f = &self.fields;
        let key = DocRef::Ticket(ticket.id.clone()).key();
        let mut doc = TantivyDocument::default();
        doc.add_text(f.key, &key);
        doc.add_text(f.kind, DocKind::Ticket.as_str());
        doc.add_text(f.id, &ticket.id.0);
        doc.add_text(f.scope, merchant_scope(&ticket.merchant_id));
        doc.add_text(f.merchant_id, ticket.merchant_id.as_str());
        doc.add_text(f.title, &ticket.title);
        doc.add_text(f.body, &ticket.body);
        doc.add_text(f.category, &ticket.category);
        doc.add_text(f.status, &ticket.status);
        doc.add_date(f.time, DateTime::from_utc(ticket.created_at));
        self.replace(&key, doc)
    }

    fn replace(&self, key: &str, doc: TantivyDocument) -> Result<(), SearchError> {
        let writer = self.writer();
        // tantivy orders operations by their stamps: the delete removes earlier
        // versions, committed or queued, and not the document added after it.
        writer.delete_term(Term::from_field_text(self.fields.key, key));
        writer.add_document(doc)?;
        Ok(())
    }

    /// Queues the removal of a document; removing one that is not there is no error.
    pub fn delete(&self, doc: &DocRef) -> Result<(), SearchError> {
        self.writer()
            .delete_term(Term::from_field_text(self.fields.key, &doc.key()));
        Ok(())
    }

    /// Queues the removal of every document, for a rebuild from the store.
    pub fn delete_all(&self) -> Result<(), SearchError> {
        self.writer().delete_all_documents()?;
        Ok(())
    }

    /// Makes the queued changes durable and visible to searches.
    pub fn commit(&self) -> Result<(), SearchError> {
        self.writer().commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Documents visible to searches (as of the last commit).
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        // A panic while holding the lock leaves the writer as usable as tantivy leaves
        // it after any failed operation: its queued operations, not a broken state.
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a query: one page of hits, best first, with the total count.
    pub fn search(&self, query: &Query) -> Result<Results, SearchError> {
        if query.limit == 0 || query.limit > MAX_LIMIT {
            return Err(SearchError::invalid(
                "limit",
                format!("must be 1 to {MAX_LIMIT}, got {}", query.limit),
            ));
        }
        let searcher = self.reader.searcher();
        let f = &self.fields;
        let words = query_words(&query.text);
        let text_query = self.text_query(&words);
        let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        match &text_query {
            Some(q) => clauses.push((Occur::Must, q.box_clone())),
            None => clauses.push((Occur::Must, Box::new(AllQuery))),
        }
        clauses.extend(self.visibility_filter(&query.visibility, query.kind));
        if !query.categories.is_empty() {
            let terms = query
                .categories
                .iter()
                .map(|c| Term::from_field_text(f.category, c));
            clauses.push(filter(Box::new(TermSetQuery::new(terms))));
        }
        for tag in &query.tags {
            clauses.push(filter(term_query(f.tags, tag)));
        }
        let full = BooleanQuery::new(clauses);
        let page = TopDocs::with_limit(query.limit).and_offset(query.offset);
        let (total, addresses): (usize, Vec<(f32, DocAddress)>) = if text_query.is_some() {
            searcher.search(&full, &(Count, page.order_by_score()))?
        } else {
            // No words: a listing, newest first.
            let (total, docs) = searcher.search(
                &full,
                &(
                    Count,
                    page.order_by_fast_field::<DateTime>("time", Order::Desc),
                ),
            )?;
            (total, docs.into_iter().map(|(_, a)| (0.0, a)).collect())
        };
        let snippets = match &text_query {
            Some(q) => {
                let mut g = SnippetGenerator::create(&searcher, q.as_ref(), f.body)?;
                g.set_max_num_chars(SNIPPET_BYTES);
                Some(g)
            }
            None => None,
        };
        let highlight: HashSet<String> = match &text_query {
            Some(q) => {
                let mut terms = HashSet::new();
                q.query_terms(&mut |term, _| {
                    if term.field() == f.title {
                        if let Some(s) = term.value().as_str() {
                            terms.insert(s.to_owned());
                        }
                    }
                });
                terms
            }
            None => HashSet::new(),
        };
        let mut hits = Vec::with_capacity(addresses.len());
        for (score, address) in addresses {
            let doc: TantivyDocument = searcher.doc(address)?;
            hits.push(self.hit(&doc, score, snippets.as_ref(), &highlight));
        }
        Ok(Results { total, hits })
    }

    /// Articles that may answer a ticket while it is being written, best first: public
    /// ones for a merchant, all for staff. `draft` is the title and body so far; its
    /// rarest words count most, so a long draft does not drown in common words.
    pub fn suggest_articles(
        &self,
        draft: &str,
        visibility: &Visibility,
        n: usize,
    ) -> Result<Vec<Suggestion>, SearchError> {
        if n == 0 || n > MAX_LIMIT {
            return Err(SearchError::invalid(
                "n",
                format!("must be 1 to {MAX_LIMIT}, got {n}"),
            ));
        }
        let searcher = self.reader.searcher();
        let f = &self.fields;
        let mut candidates: Vec<(u64, String)> = Vec::new();
        let mut seen = HashSet::new();
        for t in tokenizer::terms(draft, Segmentation::Search) {
            if !seen.insert(t.clone()) {
                continue;
            }
            let df = searcher.doc_freq(&Term::from_field_text(f.body, &t))?
                + searcher.doc_freq(&Term::from_field_text(f.title, &t))?;
            // A word no document has still counts through its glossary equivalents.
            candidates.push((df, t));
        }
        candidates.sort();
        candidates.truncate(MAX_QUERY_WORDS);
        let mut should: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        for (_, t) in &candidates {
            self.word_clauses(t, 1.0, &mut should);
            for e in glossary::equivalents(t) {
                if !seen.contains(e) {
                    self.word_clauses(e, EQUIVALENT_WEIGHT, &mut should);
                }
            }
        }
        if should.is_empty() {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> =
            vec![(Occur::Must, Box::new(BooleanQuery::new(should)))];
        clauses.extend(self.visibility_filter(visibility, Some(DocKind::Article)));
        let top = searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(n).order_by_score(),
        )?;
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            out.push(Suggestion {
                id: ArticleId(text_of(&doc, f.id)),
                title: text_of(&doc, f.title),
                category: text_of(&doc, f.category),
                score,
            });
        }
        Ok(out)
    }

    /// The filters every query carries: who may see the documents, and their kind.
    fn visibility_filter(
        &self,
        visibility: &Visibility,
        kind: Option<DocKind>,
    ) -> Vec<(Occur, Box<dyn TantivyQuery>)> {
        let f = &self.fields;
        let mut out = Vec::new();
        if let Visibility::Merchant(m) = visibility {
            let scopes = [
                Term::from_field_text(f.scope, SCOPE_PUBLIC),
                Term::from_field_text(f.scope, &merchant_scope(m)),
            ];
            out.push(filter(Box::new(TermSetQuery::new(scopes))));
        }
        if let Some(kind) = kind {
            out.push(filter(term_query(f.kind, kind.as_str())));
        }
        out
    }

    /// The query for the user's words, or `None` when the text has none.
    fn text_query(&self, words: &[Vec<String>]) -> Option<Box<dyn TantivyQuery>> {
        if words.is_empty() {
            return None;
        }
        let typed: HashSet<&str> = words.iter().flatten().map(String::as_str).collect();
        let mut groups: Vec<Box<dyn TantivyQuery>> = Vec::new();
        for word in words {
            let mut should = Vec::new();
            let mut equivalents = BTreeSet::new();
            for form in word {
                self.word_clauses(form, 1.0, &mut should);
                equivalents.extend(glossary::equivalents(form).filter(|e| !typed.contains(e)));
            }
            for e in equivalents {
                self.word_clauses(e, EQUIVALENT_WEIGHT, &mut should);
            }
            groups.push(Box::new(BooleanQuery::new(should)));
        }
        let n = groups.len();
        let required = if n <= 2 { n } else { (2 * n).div_ceil(3) };
        Some(Box::new(BooleanQuery::union_with_minimum_required_clauses(
            groups, required,
        )))
    }

    fn word_clauses(&self, term: &str, weight: f32, out: &mut Vec<(Occur, Box<dyn TantivyQuery>)>) {
        let f = &self.fields;
        for (field, boost) in [(f.title, TITLE_BOOST), (f.body, 1.0)] {
            let q = TermQuery::new(
                Term::from_field_text(field, term),
                IndexRecordOption::WithFreqs,
            );
            out.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(q), boost * weight)),
            ));
        }
    }

    fn hit(
        &self,
        doc: &TantivyDocument,
        score: f32,
        snippets: Option<&SnippetGenerator>,
        highlight: &HashSet<String>,
    ) -> Hit {
        let f = &self.fields;
        let id = text_of(doc, f.id);
        let is_article = text_of(doc, f.kind) == DocKind::Article.as_str();
        let title = text_of(doc, f.title);
        let body = text_of(doc, f.body);
        let snippet_html = snippets
            .map(|g| {
                let mut s = g.snippet(&body);
                s.set_snippet_prefix_postfix("<mark>", "</mark>");
                s.to_html()
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| markdown::escape_html(&beginning(&body, SNIPPET_BYTES)));
        let time = doc
            .get_first(f.time)
            .and_then(|v| v.as_datetime())
            .map(DateTime::into_utc)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Hit {
            doc: if is_article {
                DocRef::Article(ArticleId(id))
            } else {
                DocRef::Ticket(TicketId(id))
            },
            title_html: highlight_html(&title, highlight),
            title,
            snippet_html,
            score,
            category: text_of(doc, f.category),
            tags: doc
                .get_all(f.tags)
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            audience: is_article.then(|| {
                if text_of(doc, f.audience) == "internal" {
                    Audience::Internal
                } else {
                    Audience::Public
                }
            }),
            version: doc
                .get_first(f.version)
                .and_then(|v| v.as_u64())
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
            merchant_id: (!is_article).then(|| MerchantId::new(text_of(doc, f.merchant_id))),
            status: (!is_article).then(|| text_of(doc, f.status)),
            time,
        }
    }

    /// The underlying tantivy index, for diagnostics (segment counts, sizes).
    pub fn tantivy_index(&self) -> &Index {
        &self.index
    }

    /// A searcher over the last commit, for diagnostics.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }
}

/// The query's words: each is the tokens that overlap in the text (a word and the
/// words inside it, which search mode yields together), any one of which will do.
fn query_words(text: &str) -> Vec<Vec<String>> {
    let mut words: Vec<(usize, Vec<String>)> = Vec::new();
    let mut seen = HashSet::new();
    for t in tokenizer::tokens(text, Segmentation::Search) {
        match words.last_mut() {
            // Tokens are sorted by start, so an overlap is always with the last word.
            Some((end, forms)) if t.offset_from < *end => {
                *end = (*end).max(t.offset_to);
                if !forms.contains(&t.text) {
                    forms.push(t.text);
                }
            }
            _ => {
                if words.len() == MAX_QUERY_WORDS {
                    break;
                }
                words.push((t.offset_to, vec![t.text]));
            }
        }
    }
    // A word typed twice is one requirement, not two.
    words
        .into_iter()
        .map(|(_, forms)| forms)
        .filter(|forms| seen.insert(forms.clone()))
        .collect()
}

fn filter(q: Box<dyn TantivyQuery>) -> (Occur, Box<dyn TantivyQuery>) {
    // Filters must not change the ranking: they score zero.
    (Occur::Must, Box::new(ConstScoreQuery::new(q, 0.0)))
}

fn term_query(field: Field, text: &str) -> Box<dyn TantivyQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::Basic,
    ))
}

fn text_of(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn check_id(field: &'static str, id: &str) -> Result<(), SearchError> {
    if id.is_empty() {
        return Err(SearchError::invalid(field, "must not be empty"));
    }
    Ok(())
}

/// The text's beginning, at most `max` bytes, cut at a character boundary.
fn beginning(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The whole title, escaped, with the tokens that are query terms in `<mark>`. The
/// snippet generator would cut the title to its matched part; a title is shown whole.
fn highlight_html(text: &str, terms: &HashSet<String>) -> String {
    let mut ranges: Vec<(usize, usize)> = tokenizer::tokens(text, Segmentation::Search)
        .into_iter()
        .filter(|t| terms.contains(&t.text))
        .map(|t| (t.offset_from, t.offset_to))
        .collect();
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    let mut i = 0;
    while i < ranges.len() {
        let (start, mut end) = ranges[i];
        // Overlapping matches (a word and a word inside it) make one mark.
        while i + 1 < ranges.len() && ranges[i + 1].0 < end {
            end = end.max(ranges[i + 1].1);
            i += 1;
        }
        if start >= at {
            out.push_str(&markdown::escape_html(&text[at..start]));
            out.push_str("<mark>");
            out.push_str(&markdown::escape_html(&text[start..end]));
            out.push_str("</mark>");
            at = end;
        }
        i += 1;
    }
    out.push_str(&markdown::escape_html(&text[at..]));
    out
}
