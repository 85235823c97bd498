-- schema version 8: the board's latch report when a sweep started (JSON: crc, boot_id, latches; null: none).
ALTER TABLE measurements ADD COLUMN latched TEXT;
