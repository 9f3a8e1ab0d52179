-- A second factor for operators (动态口令, RFC 6238 TOTP): the secret (hex, 20 bytes), a secret
-- being set up and not yet confirmed, the last time step accepted (a code is used once), and
-- when it was turned on. A login that proved the password and still owes the code waits in
-- login_challenges (one per operator, a few minutes, a few tries).
ALTER TABLE operators ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '' CHECK (length(totp_secret) IN (0, 40));
ALTER TABLE operators ADD COLUMN totp_pending TEXT NOT NULL DEFAULT '' CHECK (length(totp_pending) IN (0, 40));
ALTER TABLE operators ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0 CHECK (totp_last_step >= 0);
ALTER TABLE operators ADD COLUMN totp_enabled_at_ms BIGINT NOT NULL DEFAULT 0 CHECK (totp_enabled_at_ms >= 0);

CREATE TABLE login_challenges (
    token_digest TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL UNIQUE REFERENCES operators(id),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL CHECK (expires_at_ms > created_at_ms),
    failures BIGINT NOT NULL DEFAULT 0 CHECK (failures >= 0 AND failures <= 5)
);
CREATE INDEX login_challenges_expiry ON login_challenges (expires_at_ms);
