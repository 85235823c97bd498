-- lab schema version 3: the bench's temperature when a sweep was taken (kelvin; null: not reported).
ALTER TABLE measurements ADD COLUMN temperature_k double precision;
