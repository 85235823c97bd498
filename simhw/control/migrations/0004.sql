-- schema version 4
ALTER TABLE measurements ADD COLUMN settings TEXT /* the instrument state of the sweep (JSON): IF bandwidth, power, model, correction and cal set, averaging */;
