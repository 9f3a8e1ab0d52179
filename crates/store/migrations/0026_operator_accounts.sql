-- Operators' accounts managed by the system administrator: a password reset by them is a
-- temporary one the operator must change at their next login; a disabled account says why.
ALTER TABLE operators ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1));
ALTER TABLE operators ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '' CHECK (length(disabled_reason) <= 200);
