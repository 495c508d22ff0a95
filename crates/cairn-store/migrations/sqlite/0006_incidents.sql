-- Incidents and their timelines (sqlite). An incident is stored whole as JSON (`doc`)
-- beside the columns lists filter on; its timeline is append-only.
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    declared_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX incidents_declared ON incidents(declared_at);
CREATE TABLE incident_timeline (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    internal INTEGER NOT NULL,
    body TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX incident_timeline_incident ON incident_timeline(incident_id);
