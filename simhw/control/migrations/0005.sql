-- schema version 5: the outbox every committed record is replicated from (simhw.control.lab), in commit
-- order, and tags on records. Triggers fill the outbox inside the writing transaction.
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, local_id INTEGER,
                     key TEXT, t REAL NOT NULL);
CREATE TABLE tags (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, target TEXT NOT NULL,
                   tag TEXT NOT NULL, operator TEXT, t REAL NOT NULL);
CREATE INDEX tags_target ON tags(kind, target);
INSERT INTO outbox (kind, key, t) SELECT 'config', hash, first_seen FROM configs ORDER BY first_seen;
INSERT INTO outbox (kind, local_id, t) SELECT 'snapshot', id, created_at FROM snapshots ORDER BY id;
INSERT INTO outbox (kind, local_id, t) SELECT 'push', id, acked_at FROM pushes ORDER BY id;
INSERT INTO outbox (kind, local_id, t) SELECT 'measurement', id, created_at FROM measurements ORDER BY id;
INSERT INTO outbox (kind, local_id, t) SELECT 'calibration', id, started_at FROM calibrations ORDER BY id;
INSERT INTO outbox (kind, local_id, t) SELECT 'event', id, t FROM events ORDER BY id;
CREATE TRIGGER outbox_configs AFTER INSERT ON configs BEGIN
  INSERT INTO outbox (kind, key, t) VALUES ('config', NEW.hash, NEW.first_seen); END;
CREATE TRIGGER outbox_snapshots AFTER INSERT ON snapshots BEGIN
  INSERT INTO outbox (kind, local_id, t) VALUES ('snapshot', NEW.id, NEW.created_at); END;
CREATE TRIGGER outbox_pushes AFTER INSERT ON pushes BEGIN
  INSERT INTO outbox (kind, local_id, t) VALUES ('push', NEW.id, NEW.acked_at); END;
CREATE TRIGGER outbox_measurements AFTER INSERT ON measurements BEGIN
  INSERT INTO outbox (kind, local_id, t) VALUES ('measurement', NEW.id, NEW.created_at); END;
CREATE TRIGGER outbox_calibrations AFTER INSERT ON calibrations BEGIN
  INSERT INTO outbox (kind, local_id, t) VALUES ('calibration', NEW.id, NEW.started_at); END;
CREATE TRIGGER outbox_calibrations_done AFTER UPDATE ON calibrations BEGIN
  INSERT INTO outbox (kind, local_id, t) VALUES ('calibration', NEW.id, COALESCE(NEW.finished_at, NEW.started_at)); END;
CREATE TRIGGER outbox_events AFTER INSERT ON events BEGIN
  INSERT INTO outbox (kind, local_id, t) VALUES ('event', NEW.id, NEW.t); END;
CREATE TRIGGER outbox_tags AFTER INSERT ON tags BEGIN
  INSERT INTO outbox (kind, local_id, t) VALUES ('tag', NEW.id, NEW.t); END;
