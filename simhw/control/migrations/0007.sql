-- schema version 7: the bench's temperature when a sweep was taken (the board's sensor, kelvin; null: not reported).
ALTER TABLE measurements ADD COLUMN temperature_k REAL;
