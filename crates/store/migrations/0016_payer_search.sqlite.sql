-- Finding a payer among tens of thousands without reading them all: the last four characters of
-- the ID number (kept with the masked number) get their own indexed column; number and name
-- prefixes use the indexes on identifier and name (SQLite compares text bytewise).
ALTER TABLE payers ADD COLUMN id_last4 TEXT NOT NULL DEFAULT '';
UPDATE payers SET id_last4 = substr(id_number_masked, length(id_number_masked) - 3) WHERE length(id_number_masked) >= 4;
CREATE INDEX payers_id_last4 ON payers (id_last4);
