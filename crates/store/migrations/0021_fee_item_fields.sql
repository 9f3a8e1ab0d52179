-- What payers are asked when they pay a fee item on the portal (发票抬头, 考生号…): field lines in
-- the form project registrations use (name|label|kind|required|options), on the item and on each
-- change of it; and each receivable's answers (JSON), the latest the payer gave.
ALTER TABLE fee_items ADD COLUMN fields TEXT NOT NULL DEFAULT '' CHECK (length(fields) <= 20000);
ALTER TABLE fee_item_changes ADD COLUMN fields TEXT NOT NULL DEFAULT '' CHECK (length(fields) <= 20000);
CREATE TABLE receivable_answers (
    receivable_id TEXT PRIMARY KEY REFERENCES receivables(id),
    answers TEXT NOT NULL CHECK (length(answers) <= 40000),
    updated_at_ms BIGINT NOT NULL
);
