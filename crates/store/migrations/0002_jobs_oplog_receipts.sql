-- Durable jobs, the hash-chained operation log, receipts.

-- A job runs at most once at a time: a worker claims it by compare-and-set, holding a lease;
-- a lease that runs out (the worker died) lets another worker claim it again.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_at_ms BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until_ms BIGINT,
    last_error TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (kind, dedupe_key)
);
CREATE INDEX jobs_due ON jobs (state, run_at_ms, id);
CREATE INDEX jobs_lease ON jobs (state, lease_until_ms);

-- Append-only; each row's hash covers the previous row's hash, so an edited or deleted row breaks
-- the chain. The head row serialises appends and remembers the last hash (tail deletion).
CREATE TABLE operation_log (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before_state TEXT NOT NULL,
    after_state TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX operation_log_entity ON operation_log (entity, entity_id);

CREATE TABLE operation_log_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO operation_log_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Named counters for human-facing numbers (receipt numbers).
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- 缴费凭证: one per succeeded payment, issued in the crediting transaction.
CREATE TABLE receipts (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    payment_id TEXT NOT NULL UNIQUE REFERENCES payments(id),
    payer_id TEXT NOT NULL REFERENCES payers(id),
    amount_fen BIGINT NOT NULL,
    state TEXT NOT NULL,
    verify_code TEXT NOT NULL UNIQUE,
    issued_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX receipts_payer ON receipts (payer_id);
