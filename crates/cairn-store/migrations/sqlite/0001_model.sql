-- The merchant-cloud model, access control and the audit log (SQLite).
-- Timestamps are RFC 3339 text in UTC. Column order follows cairn_domain::Kind::columns.
CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE zones (
    id TEXT PRIMARY KEY,
    region_id TEXT NOT NULL REFERENCES regions(id),
    name TEXT NOT NULL
);
CREATE INDEX zones_region_id ON zones(region_id);
CREATE TABLE products (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    lead_time_days INTEGER NOT NULL,
    description TEXT
);
CREATE TABLE pools (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products(id),
    zone_id TEXT NOT NULL REFERENCES zones(id),
    capacity REAL NOT NULL
);
CREATE INDEX pools_product_id ON pools(product_id);
CREATE INDEX pools_zone_id ON pools(zone_id);
CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    zone_id TEXT NOT NULL REFERENCES zones(id),
    rack TEXT NOT NULL,
    pool_id TEXT REFERENCES pools(id),
    state TEXT NOT NULL,
    cpu_cores INTEGER NOT NULL,
    memory_gib INTEGER NOT NULL,
    exporter TEXT
);
CREATE INDEX hosts_zone_id ON hosts(zone_id);
CREATE INDEX hosts_pool_id ON hosts(pool_id);
CREATE TABLE merchants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tier TEXT NOT NULL,
    contact_email TEXT
);
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants(id),
    product_id TEXT NOT NULL REFERENCES products(id),
    pool_id TEXT NOT NULL REFERENCES pools(id),
    host_id TEXT REFERENCES hosts(id),
    spec TEXT NOT NULL,
    units REAL NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX instances_merchant_id ON instances(merchant_id);
CREATE INDEX instances_pool_id ON instances(pool_id);
CREATE INDEX instances_host_id ON instances(host_id);
CREATE TABLE services (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    merchant_id TEXT REFERENCES merchants(id),
    team TEXT,
    product_id TEXT REFERENCES products(id),
    description TEXT
);
CREATE INDEX services_merchant_id ON services(merchant_id);
CREATE TABLE dependencies (
    id TEXT PRIMARY KEY,
    from_service_id TEXT NOT NULL REFERENCES services(id),
    to_service_id TEXT NOT NULL REFERENCES services(id),
    merchant_id TEXT REFERENCES merchants(id),
    UNIQUE (from_service_id, to_service_id)
);
CREATE INDEX dependencies_to ON dependencies(to_service_id);
CREATE INDEX dependencies_merchant_id ON dependencies(merchant_id);
CREATE TABLE promotions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    scope TEXT NOT NULL,
    region_id TEXT REFERENCES regions(id),
    merchant_id TEXT REFERENCES merchants(id),
    expected_uplift REAL NOT NULL
);
CREATE INDEX promotions_merchant_id ON promotions(merchant_id);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    merchant_id TEXT REFERENCES merchants(id),
    created_at TEXT NOT NULL
);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    merchant_id TEXT REFERENCES merchants(id),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE sessions (
    secret_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX audit_record ON audit(kind, record_id);
