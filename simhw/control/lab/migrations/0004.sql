-- lab schema version 4: the board's latch report when a sweep started (crc, boot_id, latches; null: none).
ALTER TABLE measurements ADD COLUMN latched jsonb;
