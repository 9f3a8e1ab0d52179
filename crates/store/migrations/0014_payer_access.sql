-- A payer's account can be frozen by finance (with a reason) and can carry a validity window
-- (graduates, outside people): a frozen or expired account cannot log in, and its sessions end.
ALTER TABLE payers ADD COLUMN frozen_at_ms BIGINT;
ALTER TABLE payers ADD COLUMN frozen_reason TEXT NOT NULL DEFAULT '' CHECK (length(frozen_reason) <= 200);
ALTER TABLE payers ADD COLUMN valid_until_ms BIGINT;
