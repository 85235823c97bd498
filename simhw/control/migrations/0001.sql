-- schema version 1
CREATE TABLE configs (hash TEXT PRIMARY KEY, name TEXT, bits INTEGER NOT NULL, shape TEXT NOT NULL,
                      codes BLOB NOT NULL, metadata TEXT NOT NULL /* the config file line */, first_seen REAL NOT NULL);
CREATE TABLE pushes (id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL REFERENCES configs(hash),
                     client TEXT, request_id TEXT, applied INTEGER NOT NULL, acked_at REAL NOT NULL);
CREATE TABLE snapshots (id INTEGER PRIMARY KEY AUTOINCREMENT, bench TEXT NOT NULL, software TEXT NOT NULL,
                        created_at REAL NOT NULL);
CREATE TABLE measurements (id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT REFERENCES configs(hash),
                           snapshot INTEGER REFERENCES snapshots(id), params TEXT NOT NULL,
                           frequencies BLOB NOT NULL, s BLOB NOT NULL, shape TEXT NOT NULL,
                           created_at REAL NOT NULL);
CREATE TABLE calibrations (id INTEGER PRIMARY KEY AUTOINCREMENT, protocol TEXT NOT NULL, reason TEXT,
                           params TEXT NOT NULL, status TEXT NOT NULL, stages TEXT, metrics TEXT,
                           model BLOB, snapshot INTEGER REFERENCES snapshots(id), started_at REAL NOT NULL,
                           finished_at REAL);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, t REAL NOT NULL, kind TEXT NOT NULL,
                     data TEXT NOT NULL);
