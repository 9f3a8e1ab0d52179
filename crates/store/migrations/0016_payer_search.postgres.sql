-- Finding a payer among tens of thousands without reading them all: the last four characters of
-- the ID number (kept with the masked number) get their own indexed column; number and name
-- prefixes are searched as byte ranges ("C" collation), which these indexes serve whatever the
-- database's own collation is.
ALTER TABLE payers ADD COLUMN id_last4 TEXT NOT NULL DEFAULT '';
UPDATE payers SET id_last4 = substr(id_number_masked, length(id_number_masked) - 3) WHERE length(id_number_masked) >= 4;
CREATE INDEX payers_id_last4 ON payers (id_last4);
CREATE INDEX payers_identifier_c ON payers (identifier COLLATE "C");
CREATE INDEX payers_name_c ON payers (name COLLATE "C");
