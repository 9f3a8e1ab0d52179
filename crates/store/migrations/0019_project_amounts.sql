-- Projects for some people only (colleges, grades) and projects whose payer chooses the amount
-- within bounds (捐赠, voluntary contributions): `fee_fen` is then the least one may pay and
-- `amount_max_fen` the most; NULL keeps the fee fixed.
ALTER TABLE projects ADD COLUMN amount_max_fen BIGINT CHECK (amount_max_fen IS NULL OR amount_max_fen > 0);
-- Comma-separated department ids and grades; empty: any.
ALTER TABLE projects ADD COLUMN open_departments TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN open_grades TEXT NOT NULL DEFAULT '';
