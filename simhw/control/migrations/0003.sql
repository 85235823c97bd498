-- schema version 3
ALTER TABLE measurements ADD COLUMN flag TEXT /* why the label is not a verified push: see board_state */;
