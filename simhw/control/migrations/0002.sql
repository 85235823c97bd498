-- schema version 2
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX pushes_hash ON pushes(hash);
CREATE INDEX events_kind ON events(kind);
