-- Tickets, their events and attachments, the knowledge base, deflections and the
-- per-user inbox (sqlite). Tickets and articles are stored whole as JSON (`doc`) beside
-- the columns lists filter and sort on.
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants(id),
    status TEXT NOT NULL,
    tier TEXT NOT NULL,
    priority TEXT NOT NULL,
    category TEXT NOT NULL,
    assignee TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX tickets_merchant ON tickets(merchant_id);
CREATE INDEX tickets_status ON tickets(status);
CREATE INDEX tickets_created ON tickets(created_at);
CREATE TABLE ticket_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    internal INTEGER NOT NULL,
    body TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events(ticket_id);
CREATE TABLE ticket_attachments (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    internal INTEGER NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments(ticket_id);
CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    audience TEXT NOT NULL,
    status TEXT NOT NULL,
    category TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE article_versions (
    article_id TEXT NOT NULL REFERENCES articles(id),
    version INTEGER NOT NULL,
    at TEXT NOT NULL,
    author TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (article_id, version)
);
CREATE TABLE deflections (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    article_id TEXT,
    draft TEXT NOT NULL
);
CREATE TABLE inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name TEXT NOT NULL,
    at TEXT NOT NULL,
    ticket_id TEXT,
    text TEXT NOT NULL,
    seen INTEGER NOT NULL
);
CREATE INDEX inbox_user ON inbox(user_name);
