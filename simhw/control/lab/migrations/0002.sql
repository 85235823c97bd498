-- lab schema version 2: every replicated table records when its rows reached the lab (snapshots and events
-- had no arrived_at); rows already there are dated by this migration.
ALTER TABLE snapshots ADD COLUMN arrived_at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp());
ALTER TABLE events ADD COLUMN arrived_at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp());
