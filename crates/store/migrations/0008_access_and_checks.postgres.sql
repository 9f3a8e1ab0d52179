-- Access and typed columns (PostgreSQL): the same result as the SQLite text, by ALTER TABLE.
-- See 0008_access_and_checks.sqlite.sql for what each part is for.

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

ALTER TABLE operators DROP COLUMN role;
ALTER TABLE operators DROP COLUMN department_id;
ALTER TABLE operators ADD COLUMN state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled'));
ALTER TABLE operators ADD COLUMN updated_at_ms BIGINT;
UPDATE operators SET updated_at_ms = created_at_ms;
ALTER TABLE operators ALTER COLUMN updated_at_ms SET NOT NULL;

ALTER TABLE payers ADD CONSTRAINT payers_kind_check CHECK (kind IN ('enrolled_student', 'new_student', 'staff', 'registrant', 'external'));
ALTER TABLE payers ADD CONSTRAINT payers_must_change_password_check CHECK (must_change_password IN (0, 1));
CREATE INDEX payers_identifier ON payers (identifier);

ALTER TABLE fee_items ADD CONSTRAINT fee_items_fee_type_check CHECK (fee_type IN ('tuition', 'accommodation', 'agency', 'service', 'exam', 'training', 'conference', 'donation', 'other'));
ALTER TABLE fee_items ADD CONSTRAINT fee_items_status_check CHECK (status IN ('pending_approval', 'rejected', 'collecting', 'stopped', 'closed'));
ALTER TABLE fee_items ADD CONSTRAINT fee_items_partial_allowed_check CHECK (partial_allowed IN (0, 1));
ALTER TABLE fee_items ADD CONSTRAINT fee_items_min_partial_fen_check CHECK (min_partial_fen >= 0);
ALTER TABLE fee_items ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
ALTER TABLE fee_items ADD COLUMN request_note TEXT NOT NULL DEFAULT '';
ALTER TABLE fee_items ADD COLUMN decided_by TEXT;
ALTER TABLE fee_items ADD COLUMN decision_comment TEXT;
ALTER TABLE fee_items ADD COLUMN decided_at_ms BIGINT;

ALTER TABLE receivables ADD CONSTRAINT receivables_state_check CHECK (state IN ('open', 'settled'));
ALTER TABLE orders ADD CONSTRAINT orders_state_check CHECK (state IN ('open', 'paid', 'closed'));

ALTER TABLE payments ADD CONSTRAINT payments_method_check CHECK (method IN ('wechat_native', 'wechat_jsapi', 'wechat_h5', 'wechat_code', 'alipay_qr', 'alipay_page', 'alipay_wap', 'alipay_code', 'unionpay_pc', 'unionpay_mobile', 'campus_card', 'offline_cash', 'offline_pos', 'offline_bank'));
ALTER TABLE payments ADD CONSTRAINT payments_channel_check CHECK (channel IN ('wechatpay', 'alipay', 'unionpay', 'campus_card', 'offline'));
ALTER TABLE payments ADD CONSTRAINT payments_state_check CHECK (state IN ('created', 'paying', 'succeeded', 'failed', 'closed'));
ALTER TABLE payments ADD COLUMN live_order_id TEXT UNIQUE;
UPDATE payments p SET live_order_id = p.order_id
 WHERE p.state IN ('created', 'paying') AND p.id = (
       SELECT q.id FROM payments q WHERE q.order_id = p.order_id AND q.state IN ('created', 'paying')
        ORDER BY q.created_at_ms DESC, q.id DESC LIMIT 1);
ALTER TABLE payments ADD CONSTRAINT payments_live_order_check
    CHECK (live_order_id IS NULL OR (live_order_id = order_id AND state IN ('created', 'paying')));

ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check CHECK (kind IN ('receivable', 'fee_income', 'channel_clearing', 'bank', 'cash', 'payer_credit', 'card_wallet', 'merchant_payable', 'channel_fees', 'refunds_in_transit'));
ALTER TABLE journal_entries ADD CONSTRAINT journal_entries_kind_check CHECK (kind IN ('receivable_raised', 'waiver', 'payment_succeeded', 'refund_approved', 'refund_confirmed', 'refund_manual', 'card_load'));

UPDATE channel_events SET kind = 'active_query' WHERE kind = 'payment';
ALTER TABLE channel_events ADD CONSTRAINT channel_events_kind_check CHECK (kind IN ('payment_notification', 'refund_notification', 'active_query'));
ALTER TABLE channel_events ADD CONSTRAINT channel_events_outcome_check CHECK (outcome IN ('credited', 'refunded', 'duplicate', 'refused', 'applied', 'unchanged', 'error'));
CREATE INDEX channel_events_received ON channel_events (received_at_ms);

ALTER TABLE sessions ADD CONSTRAINT sessions_subject_kind_check CHECK (subject_kind IN ('payer', 'operator'));
ALTER TABLE sessions ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'password' CHECK (auth_method IN ('password', 'id_and_name', 'sso'));
CREATE INDEX sessions_subject ON sessions (subject_kind, subject_id);

ALTER TABLE jobs ADD CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'running', 'done', 'dead'));

ALTER TABLE operation_log DROP CONSTRAINT operation_log_pkey;
ALTER TABLE operation_log ADD COLUMN id TEXT;
UPDATE operation_log SET id = lpad(seq::text, 32, '0');
ALTER TABLE operation_log ALTER COLUMN id SET NOT NULL;
ALTER TABLE operation_log ADD PRIMARY KEY (id);
ALTER TABLE operation_log ALTER COLUMN seq DROP NOT NULL;
ALTER TABLE operation_log ADD CONSTRAINT operation_log_seq_key UNIQUE (seq);
ALTER TABLE operation_log ALTER COLUMN prev_hash DROP NOT NULL;
ALTER TABLE operation_log ALTER COLUMN hash DROP NOT NULL;
ALTER TABLE operation_log ADD CONSTRAINT operation_log_actor_kind_check CHECK (actor_kind IN ('payer', 'operator', 'app', 'system', 'channel'));
ALTER TABLE operation_log ADD CONSTRAINT operation_log_sealed_check
    CHECK ((seq IS NULL) = (hash IS NULL) AND (seq IS NULL) = (prev_hash IS NULL));
CREATE INDEX operation_log_unsealed ON operation_log (id) WHERE seq IS NULL;
CREATE INDEX operation_log_actor ON operation_log (actor_kind, actor_id, at_ms);

ALTER TABLE receipts ADD CONSTRAINT receipts_state_check CHECK (state IN ('valid', 'partially_refunded', 'refunded', 'overpayment'));

ALTER TABLE refunds ADD CONSTRAINT refunds_kind_check CHECK (kind IN ('fee_cancelled', 'paid_in_error', 'overpayment'));
ALTER TABLE refunds ADD CONSTRAINT refunds_state_check CHECK (state IN ('requested', 'rejected', 'approved', 'processing', 'succeeded', 'failed', 'manual'));
ALTER TABLE refunds ADD COLUMN decision_comment TEXT;
ALTER TABLE refunds ADD COLUMN decided_at_ms BIGINT;
ALTER TABLE refund_lines ADD CONSTRAINT refund_lines_target_kind_check CHECK (target_kind IN ('receivable', 'payer_credit'));

ALTER TABLE merchant_accounts ADD CONSTRAINT merchant_accounts_channel_check CHECK (channel IN ('wechatpay', 'alipay', 'unionpay', 'campus_card', 'offline'));
ALTER TABLE merchant_accounts ADD CONSTRAINT merchant_accounts_state_check CHECK (state IN ('active', 'disabled'));
ALTER TABLE fee_item_channels ADD CONSTRAINT fee_item_channels_channel_check CHECK (channel IN ('wechatpay', 'alipay', 'unionpay', 'campus_card', 'offline'));
ALTER TABLE campus_cards ADD CONSTRAINT campus_cards_state_check CHECK (state IN ('active', 'lost', 'frozen'));
ALTER TABLE api_apps ADD CONSTRAINT api_apps_state_check CHECK (state IN ('active', 'disabled'));
ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_state_check CHECK (state IN ('pending', 'retrying', 'delivered', 'failed'));

ALTER TABLE projects ADD CONSTRAINT projects_state_check CHECK (state IN ('open', 'closed'));
ALTER TABLE projects ADD CONSTRAINT projects_fee_fen_check CHECK (fee_fen >= 0);
ALTER TABLE projects ADD CONSTRAINT projects_capacity_check CHECK (capacity IS NULL OR capacity > 0);
ALTER TABLE projects ADD CONSTRAINT projects_registered_check CHECK (registered >= 0 AND (capacity IS NULL OR registered <= capacity));
ALTER TABLE project_fields ADD CONSTRAINT project_fields_kind_check CHECK (kind IN ('text', 'textarea', 'select', 'phone', 'email', 'date'));
ALTER TABLE project_fields ADD CONSTRAINT project_fields_required_check CHECK (required IN (0, 1));
ALTER TABLE registrations ADD CONSTRAINT registrations_state_check CHECK (state IN ('registered', 'cancelled'));

-- What each order line raised (a business system's order may raise or add to a receivable, or
-- attach to one the payer already owes); closing an unpaid order waives only that.
ALTER TABLE order_lines ADD COLUMN raised_fen BIGINT NOT NULL DEFAULT 0 CHECK (raised_fen >= 0);
UPDATE order_lines SET raised_fen = amount_fen WHERE order_id IN (SELECT order_id FROM api_orders);
