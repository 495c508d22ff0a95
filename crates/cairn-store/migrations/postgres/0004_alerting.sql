-- Alerting (postgres): documents (rule files, the routing configuration, schedules,
-- escalation policies, engine state) by namespace and key; the alert history and the
-- notification log, both append-only.
CREATE TABLE documents (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE alert_history (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    alertname TEXT NOT NULL,
    labels TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX alert_history_fingerprint ON alert_history(fingerprint);
CREATE INDEX alert_history_at ON alert_history(at);
CREATE TABLE notification_log (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    receiver TEXT NOT NULL,
    integration TEXT NOT NULL,
    group_key TEXT NOT NULL,
    status TEXT NOT NULL,
    alerts BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX notification_log_at ON notification_log(at);
CREATE TABLE anomaly_rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    expr TEXT NOT NULL,
    sensitivity DOUBLE PRECISION NOT NULL,
    severity TEXT NOT NULL,
    summary TEXT,
    enabled BIGINT NOT NULL
);
