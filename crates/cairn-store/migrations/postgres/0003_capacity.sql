-- The capacity ledger: capacity changes, reservations and the sales ledger (postgres).
CREATE TABLE capacity_changes (
    id TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES pools(id),
    date TEXT NOT NULL,
    units DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    note TEXT
);
CREATE INDEX capacity_changes_pool_id ON capacity_changes(pool_id);
CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES pools(id),
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    units DOUBLE PRECISION NOT NULL,
    promotion_id TEXT REFERENCES promotions(id),
    merchant_id TEXT REFERENCES merchants(id),
    note TEXT
);
CREATE INDEX reservations_pool_id ON reservations(pool_id);
-- Append-only: one row per sale or release. Days are YYYY-MM-DD, so they sort as text.
CREATE TABLE ledger (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES pools(id),
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    units DOUBLE PRECISION NOT NULL,
    merchant_id TEXT,
    instance_id TEXT,
    source TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX ledger_pool_day ON ledger(pool_id, day);
