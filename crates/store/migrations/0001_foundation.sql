-- Bursar foundation schema. One text for SQLite and PostgreSQL: BIGINT fen and UTC milliseconds,
-- TEXT ids (UUIDv7), BIGINT 0/1 flags. Every money column ends in _fen.

CREATE TABLE departments (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);

CREATE TABLE payers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    identifier TEXT NOT NULL,
    name TEXT NOT NULL,
    id_number_masked TEXT NOT NULL,
    id_number_digest TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    department_id TEXT REFERENCES departments(id),
    class_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    must_change_password BIGINT NOT NULL DEFAULT 1,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (kind, identifier)
);
CREATE INDEX payers_id_number_digest ON payers (id_number_digest);

CREATE TABLE operators (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    department_id TEXT REFERENCES departments(id),
    password_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE fee_items (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    department_id TEXT NOT NULL REFERENCES departments(id),
    fee_type TEXT NOT NULL,
    status TEXT NOT NULL,
    window_start_ms BIGINT,
    window_end_ms BIGINT,
    partial_allowed BIGINT NOT NULL,
    min_partial_fen BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE receivables (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL REFERENCES payers(id),
    fee_item_id TEXT NOT NULL REFERENCES fee_items(id),
    academic_year TEXT NOT NULL,
    due_fen BIGINT NOT NULL,
    waived_fen BIGINT NOT NULL DEFAULT 0,
    paid_fen BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (payer_id, fee_item_id, academic_year),
    CHECK (due_fen >= 0 AND waived_fen >= 0 AND paid_fen >= 0 AND waived_fen + paid_fen <= due_fen)
);
CREATE INDEX receivables_fee_item ON receivables (fee_item_id);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL REFERENCES payers(id),
    state TEXT NOT NULL,
    total_fen BIGINT NOT NULL CHECK (total_fen > 0),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX orders_payer ON orders (payer_id);

CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders(id),
    receivable_id TEXT NOT NULL REFERENCES receivables(id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (order_id, receivable_id)
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders(id),
    payer_id TEXT NOT NULL REFERENCES payers(id),
    method TEXT NOT NULL,
    channel TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    merchant_order_no TEXT NOT NULL UNIQUE,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    state TEXT NOT NULL,
    channel_txn_id TEXT,
    code_url TEXT,
    failure_reason TEXT,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    succeeded_at_ms BIGINT,
    updated_at_ms BIGINT NOT NULL,
    next_query_at_ms BIGINT,
    query_count BIGINT NOT NULL DEFAULT 0,
    UNIQUE (channel, channel_txn_id)
);
CREATE INDEX payments_order ON payments (order_id);
CREATE INDEX payments_payer ON payments (payer_id);
CREATE INDEX payments_state_next_query ON payments (state, next_query_at_ms);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    dimension TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (kind, dimension)
);

-- One business event is posted at most once: (kind, source_id) is unique.
CREATE TABLE journal_entries (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    source_id TEXT NOT NULL,
    memo TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (kind, source_id)
);

CREATE TABLE postings (
    id TEXT PRIMARY KEY,
    entry_id TEXT NOT NULL REFERENCES journal_entries(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen <> 0)
);
CREATE INDEX postings_entry ON postings (entry_id);
CREATE INDEX postings_account ON postings (account_id);

-- Every inbound channel message (notification) with what Bursar did with it.
CREATE TABLE channel_events (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    merchant_order_no TEXT,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL
);
CREATE INDEX channel_events_order_no ON channel_events (merchant_order_no);

CREATE TABLE sessions (
    token_digest TEXT PRIMARY KEY,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

CREATE TABLE login_throttle (
    throttle_key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    locked_until_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
