-- Scrape targets added at run time through the API (PostgreSQL).
CREATE TABLE scrape_targets (
    id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    address TEXT NOT NULL,
    metrics_path TEXT NOT NULL,
    interval_s BIGINT NOT NULL,
    timeout_s BIGINT NOT NULL,
    enabled BIGINT NOT NULL,
    UNIQUE (job, address, metrics_path)
);
