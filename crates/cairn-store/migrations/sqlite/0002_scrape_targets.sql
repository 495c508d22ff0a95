-- Scrape targets added at run time through the API (SQLite).
CREATE TABLE scrape_targets (
    id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    address TEXT NOT NULL,
    metrics_path TEXT NOT NULL,
    interval_s INTEGER NOT NULL,
    timeout_s INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    UNIQUE (job, address, metrics_path)
);
