-- Refused input, recorded bounded: one row per (source, class of refusal, hour) with a count,
-- the bytes seen, and a short sanitised sample, never an attacker's bytes in full. Rows older
-- than the retention window are deleted as new ones are written.
CREATE TABLE refused_inputs (
    bucket_key TEXT PRIMARY KEY CHECK (length(bucket_key) <= 120),
    source TEXT NOT NULL CHECK (length(source) <= 40),
    class TEXT NOT NULL CHECK (class IN ('signature', 'format', 'unusable')),
    hour_ms BIGINT NOT NULL,
    occurrences BIGINT NOT NULL CHECK (occurrences > 0),
    bytes BIGINT NOT NULL CHECK (bytes >= 0),
    sample TEXT NOT NULL CHECK (length(sample) <= 160),
    sample_digest TEXT NOT NULL CHECK (length(sample_digest) <= 64),
    first_at_ms BIGINT NOT NULL,
    last_at_ms BIGINT NOT NULL
);
CREATE INDEX refused_inputs_hour ON refused_inputs (hour_ms);

-- What finance must look at: one open row per (kind, subject), repeats counted on it; resolved
-- with a comment by an operator (op-logged).
CREATE TABLE exceptions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('amount_mismatch', 'transaction_mismatch', 'unknown_payment', 'account_mismatch', 'signature_failures', 'unknown_refund')),
    subject TEXT NOT NULL CHECK (length(subject) <= 80),
    detail TEXT NOT NULL CHECK (length(detail) <= 400),
    state TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
    occurrences BIGINT NOT NULL CHECK (occurrences > 0),
    first_at_ms BIGINT NOT NULL,
    last_at_ms BIGINT NOT NULL,
    resolved_by TEXT,
    resolved_at_ms BIGINT,
    resolution TEXT CHECK (resolution IS NULL OR length(resolution) <= 400),
    CHECK ((state = 'open') = (resolved_at_ms IS NULL))
);
CREATE UNIQUE INDEX exceptions_open_subject ON exceptions (kind, subject) WHERE state = 'open';
CREATE INDEX exceptions_state ON exceptions (state, last_at_ms);

-- Idempotency keys: what a request committed (its effect) is recorded in the effect's own
-- transaction, so a retry after a crash or a hang-up replays it instead of running it again;
-- a key still "in progress" has a lease (its created_at_ms) after which a retry may take it.
ALTER TABLE api_idempotency ADD COLUMN effect_kind TEXT CHECK (effect_kind IS NULL OR effect_kind IN ('order', 'refund'));
ALTER TABLE api_idempotency ADD COLUMN effect_id TEXT;

-- One-time codes sent by SMS to verify a phone (one row per phone, bounded by the send limits;
-- expired rows are deleted as new codes are sent). Only a keyed digest of the code is kept.
CREATE TABLE phone_codes (
    phone TEXT PRIMARY KEY CHECK (length(phone) = 11),
    code_digest TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL CHECK (attempts >= 0),
    sent_today BIGINT NOT NULL CHECK (sent_today > 0),
    day_start_ms BIGINT NOT NULL,
    last_sent_at_ms BIGINT NOT NULL
);
-- When a payer's phone was proven by a code (NULL: never; such a phone matches no order).
ALTER TABLE payers ADD COLUMN phone_verified_at_ms BIGINT;
