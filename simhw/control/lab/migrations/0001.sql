-- lab schema version 1
CREATE TABLE IF NOT EXISTS lab_schema (version integer NOT NULL);
CREATE TABLE benches (name text PRIMARY KEY, endpoints jsonb NOT NULL DEFAULT '{}', public_keys jsonb NOT NULL
                      DEFAULT '[]', registered_at double precision NOT NULL, replicated_seq bigint NOT NULL DEFAULT 0,
                      replicated_at double precision, store_schema integer);
CREATE TABLE configs (bench text NOT NULL REFERENCES benches(name), hash text NOT NULL, name text, bits integer
                      NOT NULL, shape text NOT NULL, codes bytea NOT NULL, metadata text NOT NULL,
                      first_seen double precision NOT NULL, seq bigint NOT NULL, arrived_at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()),
                      PRIMARY KEY (bench, hash));
CREATE TABLE snapshots (bench text NOT NULL REFERENCES benches(name), local_id bigint NOT NULL, bench_file text
                        NOT NULL, software text NOT NULL, created_at double precision NOT NULL, seq bigint NOT NULL,
                        PRIMARY KEY (bench, local_id));
CREATE TABLE pushes (bench text NOT NULL REFERENCES benches(name), local_id bigint NOT NULL, hash text NOT NULL,
                     client text, request_id text, applied boolean NOT NULL, acked_at double precision NOT NULL,
                     seq bigint NOT NULL, arrived_at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()),
                      PRIMARY KEY (bench, local_id));
CREATE TABLE measurements (bench text NOT NULL REFERENCES benches(name), local_id bigint NOT NULL, hash text,
                           snapshot bigint, params jsonb NOT NULL, frequencies bytea NOT NULL, s bytea NOT NULL,
                           shape text NOT NULL, created_at double precision NOT NULL, flag text, settings jsonb,
                           seq bigint NOT NULL, arrived_at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()),
                      PRIMARY KEY (bench, local_id));
CREATE TABLE calibrations (bench text NOT NULL REFERENCES benches(name), local_id bigint NOT NULL, protocol text
                           NOT NULL, reason text, params jsonb NOT NULL, status text NOT NULL, stages jsonb,
                           metrics jsonb, model bytea, snapshot bigint, started_at double precision NOT NULL,
                           finished_at double precision, seq bigint NOT NULL, arrived_at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()),
                      PRIMARY KEY (bench, local_id));
CREATE TABLE events (bench text NOT NULL REFERENCES benches(name), local_id bigint NOT NULL, t double precision
                     NOT NULL, kind text NOT NULL, data jsonb NOT NULL, seq bigint NOT NULL,
                     PRIMARY KEY (bench, local_id));
CREATE TABLE tags (bench text NOT NULL REFERENCES benches(name), local_id bigint NOT NULL, kind text NOT NULL,
                   target text NOT NULL, tag text NOT NULL, operator text, t double precision NOT NULL,
                   seq bigint NOT NULL, arrived_at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()),
                      PRIMARY KEY (bench, local_id));
CREATE INDEX measurements_hash ON measurements (hash);
CREATE INDEX measurements_time ON measurements (bench, created_at);
CREATE INDEX pushes_hash ON pushes (hash);
CREATE INDEX calibrations_time ON calibrations (bench, started_at);
CREATE INDEX events_kind ON events (bench, kind, t);
CREATE INDEX tags_target ON tags (bench, kind, target);
CREATE INDEX tags_tag ON tags (tag);
