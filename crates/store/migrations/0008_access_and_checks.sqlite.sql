-- Access and typed columns (SQLite). Operators hold roles and departments; fee items wait for
-- finance's approval; at most one payment of an order is live; approvals record who decided
-- and why; the operation log is sealed in commit order by one sealer (no row every writer
-- waits on); every state, kind and role column gets a CHECK constraint listing exactly its
-- domain enum's codes (crates/domain; a test compares them).
--
-- SQLite cannot add a CHECK constraint to a table, so each table is rebuilt (SQLite's documented
-- procedure: create the new table, copy, drop the old, rename; the migration runner turns
-- foreign keys off around it and runs foreign_key_check before committing).

-- Operators: roles and departments in their own tables.
CREATE TABLE operators_new (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    password_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
INSERT INTO operators_new (id, username, name, state, password_hash, created_at_ms, updated_at_ms)
    SELECT id, username, name, 'active', password_hash, created_at_ms, created_at_ms FROM operators;

CREATE TABLE operator_roles (
    operator_id TEXT NOT NULL REFERENCES operators(id),
    role TEXT NOT NULL CHECK (role IN ('department_operator', 'cashier', 'finance_clerk', 'finance_approver', 'finance_admin', 'auditor', 'leader', 'system_admin')),
    PRIMARY KEY (operator_id, role)
);
INSERT INTO operator_roles (operator_id, role)
    SELECT id, CASE role WHEN 'finance' THEN 'finance_admin' ELSE 'department_operator' END FROM operators;

CREATE TABLE operator_departments (
    operator_id TEXT NOT NULL REFERENCES operators(id),
    department_id TEXT NOT NULL REFERENCES departments(id),
    PRIMARY KEY (operator_id, department_id)
);
INSERT INTO operator_departments (operator_id, department_id)
    SELECT id, department_id FROM operators WHERE department_id IS NOT NULL;

DROP TABLE operators;
ALTER TABLE operators_new RENAME TO operators;

-- Payers.
CREATE TABLE payers_new (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('enrolled_student', 'new_student', 'staff', 'registrant', 'external')),
    identifier TEXT NOT NULL,
    name TEXT NOT NULL,
    id_number_masked TEXT NOT NULL,
    id_number_digest TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    department_id TEXT REFERENCES departments(id),
    class_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    must_change_password BIGINT NOT NULL DEFAULT 1 CHECK (must_change_password IN (0, 1)),
    created_at_ms BIGINT NOT NULL,
    UNIQUE (kind, identifier)
);
INSERT INTO payers_new SELECT id, kind, identifier, name, id_number_masked, id_number_digest, phone, department_id,
    class_name, password_hash, must_change_password, created_at_ms FROM payers;
DROP TABLE payers;
ALTER TABLE payers_new RENAME TO payers;
CREATE INDEX payers_id_number_digest ON payers (id_number_digest);
CREATE INDEX payers_identifier ON payers (identifier);

-- Fee items: a life cycle with finance's decision recorded.
CREATE TABLE fee_items_new (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    department_id TEXT NOT NULL REFERENCES departments(id),
    fee_type TEXT NOT NULL CHECK (fee_type IN ('tuition', 'accommodation', 'agency', 'service', 'exam', 'training', 'conference', 'donation', 'other')),
    status TEXT NOT NULL CHECK (status IN ('pending_approval', 'rejected', 'collecting', 'stopped', 'closed')),
    window_start_ms BIGINT,
    window_end_ms BIGINT,
    partial_allowed BIGINT NOT NULL CHECK (partial_allowed IN (0, 1)),
    min_partial_fen BIGINT NOT NULL CHECK (min_partial_fen >= 0),
    created_at_ms BIGINT NOT NULL,
    requested_by TEXT NOT NULL DEFAULT '',
    request_note TEXT NOT NULL DEFAULT '',
    decided_by TEXT,
    decision_comment TEXT,
    decided_at_ms BIGINT
);
INSERT INTO fee_items_new (id, code, name, department_id, fee_type, status, window_start_ms, window_end_ms,
        partial_allowed, min_partial_fen, created_at_ms)
    SELECT id, code, name, department_id, fee_type, status, window_start_ms, window_end_ms, partial_allowed,
        min_partial_fen, created_at_ms FROM fee_items;
DROP TABLE fee_items;
ALTER TABLE fee_items_new RENAME TO fee_items;

CREATE TABLE receivables_new (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL REFERENCES payers(id),
    fee_item_id TEXT NOT NULL REFERENCES fee_items(id),
    academic_year TEXT NOT NULL,
    due_fen BIGINT NOT NULL,
    waived_fen BIGINT NOT NULL DEFAULT 0,
    paid_fen BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('open', 'settled')),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (payer_id, fee_item_id, academic_year),
    CHECK (due_fen >= 0 AND waived_fen >= 0 AND paid_fen >= 0 AND waived_fen + paid_fen <= due_fen)
);
INSERT INTO receivables_new SELECT id, payer_id, fee_item_id, academic_year, due_fen, waived_fen, paid_fen, state,
    created_at_ms, updated_at_ms FROM receivables;
DROP TABLE receivables;
ALTER TABLE receivables_new RENAME TO receivables;
CREATE INDEX receivables_fee_item ON receivables (fee_item_id);

CREATE TABLE orders_new (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL REFERENCES payers(id),
    state TEXT NOT NULL CHECK (state IN ('open', 'paid', 'closed')),
    total_fen BIGINT NOT NULL CHECK (total_fen > 0),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
INSERT INTO orders_new SELECT id, payer_id, state, total_fen, created_at_ms, updated_at_ms FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX orders_payer ON orders (payer_id);

-- Payments: `live_order_id` is the order id while the payment is created or paying, NULL
-- otherwise; unique, so an order has at most one live payment. Only the newest live payment
-- of an order that had several (before this rule) takes the slot.
CREATE TABLE payments_new (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders(id),
    payer_id TEXT NOT NULL REFERENCES payers(id),
    method TEXT NOT NULL CHECK (method IN ('wechat_native', 'wechat_jsapi', 'wechat_h5', 'wechat_code', 'alipay_qr', 'alipay_page', 'alipay_wap', 'alipay_code', 'unionpay_pc', 'unionpay_mobile', 'campus_card', 'offline_cash', 'offline_pos', 'offline_bank')),
    channel TEXT NOT NULL CHECK (channel IN ('wechatpay', 'alipay', 'unionpay', 'campus_card', 'offline')),
    merchant_id TEXT NOT NULL,
    merchant_order_no TEXT NOT NULL UNIQUE,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    state TEXT NOT NULL CHECK (state IN ('created', 'paying', 'succeeded', 'failed', 'closed')),
    channel_txn_id TEXT,
    code_url TEXT,
    failure_reason TEXT,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    succeeded_at_ms BIGINT,
    updated_at_ms BIGINT NOT NULL,
    next_query_at_ms BIGINT,
    query_count BIGINT NOT NULL DEFAULT 0,
    pay_action TEXT,
    live_order_id TEXT UNIQUE,
    UNIQUE (channel, channel_txn_id),
    CHECK (live_order_id IS NULL OR (live_order_id = order_id AND state IN ('created', 'paying')))
);
INSERT INTO payments_new (id, order_id, payer_id, method, channel, merchant_id, merchant_order_no, amount_fen, state,
        channel_txn_id, code_url, failure_reason, created_at_ms, expires_at_ms, succeeded_at_ms, updated_at_ms,
        next_query_at_ms, query_count, pay_action, live_order_id)
    SELECT p.id, p.order_id, p.payer_id, p.method, p.channel, p.merchant_id, p.merchant_order_no, p.amount_fen, p.state,
        p.channel_txn_id, p.code_url, p.failure_reason, p.created_at_ms, p.expires_at_ms, p.succeeded_at_ms,
        p.updated_at_ms, p.next_query_at_ms, p.query_count, p.pay_action,
        CASE WHEN p.state IN ('created', 'paying') AND p.id = (
            SELECT q.id FROM payments q WHERE q.order_id = p.order_id AND q.state IN ('created', 'paying')
             ORDER BY q.created_at_ms DESC, q.id DESC LIMIT 1) THEN p.order_id END
      FROM payments p;
DROP TABLE payments;
ALTER TABLE payments_new RENAME TO payments;
CREATE INDEX payments_order ON payments (order_id);
CREATE INDEX payments_payer ON payments (payer_id);
CREATE INDEX payments_state_next_query ON payments (state, next_query_at_ms);

CREATE TABLE accounts_new (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('receivable', 'fee_income', 'channel_clearing', 'bank', 'cash', 'payer_credit', 'card_wallet', 'merchant_payable', 'channel_fees', 'refunds_in_transit')),
    dimension TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (kind, dimension)
);
INSERT INTO accounts_new SELECT id, kind, dimension, created_at_ms FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;

CREATE TABLE journal_entries_new (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('receivable_raised', 'waiver', 'payment_succeeded', 'refund_approved', 'refund_confirmed', 'refund_manual', 'card_load')),
    source_id TEXT NOT NULL,
    memo TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (kind, source_id)
);
INSERT INTO journal_entries_new SELECT id, kind, source_id, memo, created_at_ms FROM journal_entries;
DROP TABLE journal_entries;
ALTER TABLE journal_entries_new RENAME TO journal_entries;

CREATE TABLE channel_events_new (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('payment_notification', 'refund_notification', 'active_query')),
    merchant_order_no TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('credited', 'refunded', 'duplicate', 'refused', 'applied', 'unchanged', 'error')),
    reason TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL
);
INSERT INTO channel_events_new SELECT id, channel, CASE kind WHEN 'payment' THEN 'active_query' ELSE kind END,
    merchant_order_no, outcome, reason, received_at_ms FROM channel_events;
DROP TABLE channel_events;
ALTER TABLE channel_events_new RENAME TO channel_events;
CREATE INDEX channel_events_order_no ON channel_events (merchant_order_no);
CREATE INDEX channel_events_received ON channel_events (received_at_ms);

-- Sessions say how their subject proved who they are (an SSO session asks for the password
-- before account changes).
CREATE TABLE sessions_new (
    token_digest TEXT PRIMARY KEY,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('payer', 'operator')),
    subject_id TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    auth_method TEXT NOT NULL DEFAULT 'password' CHECK (auth_method IN ('password', 'id_and_name', 'sso')),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
INSERT INTO sessions_new (token_digest, subject_kind, subject_id, csrf_token, created_at_ms, expires_at_ms)
    SELECT token_digest, subject_kind, subject_id, csrf_token, created_at_ms, expires_at_ms FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_subject ON sessions (subject_kind, subject_id);

CREATE TABLE jobs_new (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
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
INSERT INTO jobs_new SELECT id, kind, dedupe_key, payload, state, attempts, max_attempts, run_at_ms, lease_owner,
    lease_until_ms, last_error, created_at_ms, updated_at_ms FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_due ON jobs (state, run_at_ms, id);
CREATE INDEX jobs_lease ON jobs (state, lease_until_ms);

-- The operation log: a transaction inserts its rows unsealed (no seq, no hash); the sealer
-- gives them their place in the chain in the order it finds them committed. Only the sealer
-- touches the head row.
CREATE TABLE operation_log_new (
    id TEXT PRIMARY KEY,
    seq BIGINT UNIQUE,
    at_ms BIGINT NOT NULL,
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('payer', 'operator', 'app', 'system', 'channel')),
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before_state TEXT NOT NULL,
    after_state TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT,
    hash TEXT,
    CHECK ((seq IS NULL) = (hash IS NULL) AND (seq IS NULL) = (prev_hash IS NULL))
);
INSERT INTO operation_log_new SELECT printf('%032d', seq), seq, at_ms, actor_kind, actor_id, action, entity, entity_id,
    before_state, after_state, detail, prev_hash, hash FROM operation_log;
DROP TABLE operation_log;
ALTER TABLE operation_log_new RENAME TO operation_log;
CREATE INDEX operation_log_entity ON operation_log (entity, entity_id);
CREATE INDEX operation_log_unsealed ON operation_log (id) WHERE seq IS NULL;
CREATE INDEX operation_log_actor ON operation_log (actor_kind, actor_id, at_ms);

CREATE TABLE receipts_new (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    payment_id TEXT NOT NULL UNIQUE REFERENCES payments(id),
    payer_id TEXT NOT NULL REFERENCES payers(id),
    amount_fen BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('valid', 'partially_refunded', 'refunded', 'overpayment')),
    verify_code TEXT NOT NULL UNIQUE,
    issued_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
INSERT INTO receipts_new SELECT id, number, payment_id, payer_id, amount_fen, state, verify_code, issued_at_ms,
    updated_at_ms FROM receipts;
DROP TABLE receipts;
ALTER TABLE receipts_new RENAME TO receipts;
CREATE INDEX receipts_payer ON receipts (payer_id);

-- Refunds: the decision's comment and time.
CREATE TABLE refunds_new (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments(id),
    payer_id TEXT NOT NULL REFERENCES payers(id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    kind TEXT NOT NULL CHECK (kind IN ('fee_cancelled', 'paid_in_error', 'overpayment')),
    reason TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('requested', 'rejected', 'approved', 'processing', 'succeeded', 'failed', 'manual')),
    attempt BIGINT NOT NULL DEFAULT 0,
    out_refund_no TEXT UNIQUE,
    channel_refund_id TEXT,
    failure_reason TEXT,
    bank_reference TEXT,
    requested_by TEXT NOT NULL,
    decided_by TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    succeeded_at_ms BIGINT,
    decision_comment TEXT,
    decided_at_ms BIGINT
);
INSERT INTO refunds_new (id, payment_id, payer_id, amount_fen, kind, reason, state, attempt, out_refund_no,
        channel_refund_id, failure_reason, bank_reference, requested_by, decided_by, created_at_ms, updated_at_ms,
        succeeded_at_ms)
    SELECT id, payment_id, payer_id, amount_fen, kind, reason, state, attempt, out_refund_no, channel_refund_id,
        failure_reason, bank_reference, requested_by, decided_by, created_at_ms, updated_at_ms, succeeded_at_ms
      FROM refunds;
DROP TABLE refunds;
ALTER TABLE refunds_new RENAME TO refunds;
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_state ON refunds (state, created_at_ms);

CREATE TABLE refund_lines_new (
    refund_id TEXT NOT NULL REFERENCES refunds(id),
    target_kind TEXT NOT NULL CHECK (target_kind IN ('receivable', 'payer_credit')),
    target_id TEXT NOT NULL,
    fee_item_id TEXT,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (refund_id, target_kind, target_id)
);
INSERT INTO refund_lines_new SELECT refund_id, target_kind, target_id, fee_item_id, amount_fen FROM refund_lines;
DROP TABLE refund_lines;
ALTER TABLE refund_lines_new RENAME TO refund_lines;

CREATE TABLE merchant_accounts_new (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL CHECK (channel IN ('wechatpay', 'alipay', 'unionpay', 'campus_card', 'offline')),
    merchant_no TEXT NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    sealed_secrets TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (channel, merchant_no)
);
INSERT INTO merchant_accounts_new SELECT id, channel, merchant_no, name, settings, sealed_secrets, state, created_at_ms,
    updated_at_ms FROM merchant_accounts;
DROP TABLE merchant_accounts;
ALTER TABLE merchant_accounts_new RENAME TO merchant_accounts;

CREATE TABLE fee_item_channels_new (
    fee_item_id TEXT NOT NULL REFERENCES fee_items(id),
    channel TEXT NOT NULL CHECK (channel IN ('wechatpay', 'alipay', 'unionpay', 'campus_card', 'offline')),
    merchant_account_id TEXT NOT NULL REFERENCES merchant_accounts(id),
    PRIMARY KEY (fee_item_id, channel)
);
INSERT INTO fee_item_channels_new SELECT fee_item_id, channel, merchant_account_id FROM fee_item_channels;
DROP TABLE fee_item_channels;
ALTER TABLE fee_item_channels_new RENAME TO fee_item_channels;

CREATE TABLE campus_cards_new (
    card_no TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL UNIQUE REFERENCES payers(id),
    password_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'lost', 'frozen')),
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
INSERT INTO campus_cards_new SELECT card_no, payer_id, password_hash, state, failed_attempts, locked_until_ms,
    created_at_ms, updated_at_ms FROM campus_cards;
DROP TABLE campus_cards;
ALTER TABLE campus_cards_new RENAME TO campus_cards;

CREATE TABLE api_apps_new (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    sealed_previous_secret TEXT,
    previous_valid_until_ms BIGINT,
    rsa_public_key_pem TEXT,
    notify_url TEXT NOT NULL,
    return_url TEXT NOT NULL,
    ip_allowlist TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
INSERT INTO api_apps_new SELECT id, app_id, name, sealed_secret, sealed_previous_secret, previous_valid_until_ms,
    rsa_public_key_pem, notify_url, return_url, ip_allowlist, state, created_at_ms, updated_at_ms FROM api_apps;
DROP TABLE api_apps;
ALTER TABLE api_apps_new RENAME TO api_apps;

CREATE TABLE webhook_events_new (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES api_apps(id),
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'retrying', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT,
    delivered_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL
);
INSERT INTO webhook_events_new SELECT id, app_id, type, payload, state, attempts, next_attempt_at_ms, delivered_at_ms,
    created_at_ms FROM webhook_events;
DROP TABLE webhook_events;
ALTER TABLE webhook_events_new RENAME TO webhook_events;
CREATE INDEX webhook_events_app ON webhook_events (app_id, created_at_ms);

CREATE TABLE projects_new (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    department_id TEXT NOT NULL REFERENCES departments(id),
    fee_item_id TEXT NOT NULL UNIQUE REFERENCES fee_items(id),
    academic_year TEXT NOT NULL,
    description TEXT NOT NULL,
    notice TEXT NOT NULL,
    fee_fen BIGINT NOT NULL CHECK (fee_fen >= 0),
    capacity BIGINT CHECK (capacity IS NULL OR capacity > 0),
    registered BIGINT NOT NULL DEFAULT 0,
    open_to TEXT NOT NULL,
    opens_at_ms BIGINT,
    closes_at_ms BIGINT,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    created_at_ms BIGINT NOT NULL,
    CHECK (registered >= 0 AND (capacity IS NULL OR registered <= capacity))
);
INSERT INTO projects_new SELECT id, code, title, department_id, fee_item_id, academic_year, description, notice, fee_fen,
    capacity, registered, open_to, opens_at_ms, closes_at_ms, state, created_at_ms FROM projects;
DROP TABLE projects;
ALTER TABLE projects_new RENAME TO projects;

CREATE TABLE project_fields_new (
    project_id TEXT NOT NULL REFERENCES projects(id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('text', 'textarea', 'select', 'phone', 'email', 'date')),
    required BIGINT NOT NULL CHECK (required IN (0, 1)),
    options TEXT NOT NULL,
    PRIMARY KEY (project_id, position)
);
INSERT INTO project_fields_new SELECT project_id, position, name, label, kind, required, options FROM project_fields;
DROP TABLE project_fields;
ALTER TABLE project_fields_new RENAME TO project_fields;

CREATE TABLE registrations_new (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    payer_id TEXT NOT NULL REFERENCES payers(id),
    answers TEXT NOT NULL,
    receivable_id TEXT REFERENCES receivables(id),
    state TEXT NOT NULL CHECK (state IN ('registered', 'cancelled')),
    created_at_ms BIGINT NOT NULL,
    UNIQUE (project_id, payer_id)
);
INSERT INTO registrations_new SELECT id, project_id, payer_id, answers, receivable_id, state, created_at_ms
    FROM registrations;
DROP TABLE registrations;
ALTER TABLE registrations_new RENAME TO registrations;
CREATE INDEX registrations_payer ON registrations (payer_id);

-- What each order line raised (a business system's order may raise or add to a receivable, or
-- attach to one the payer already owes); closing an unpaid order waives only that.
ALTER TABLE order_lines ADD COLUMN raised_fen BIGINT NOT NULL DEFAULT 0 CHECK (raised_fen >= 0);
UPDATE order_lines SET raised_fen = amount_fen WHERE order_id IN (SELECT order_id FROM api_orders);
