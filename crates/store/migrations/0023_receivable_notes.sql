-- A receivable's note (备注) as the import that raised it gave it: finance's own words, shown on
-- the payer's record.
ALTER TABLE receivables ADD COLUMN note TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 200);
