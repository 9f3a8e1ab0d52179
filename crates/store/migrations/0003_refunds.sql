-- Refunds: requested by a department, decided by finance, paid out by the channel (or by bank
-- transfer when the channel cannot). Lines say where each fen comes from.
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments(id),
    payer_id TEXT NOT NULL REFERENCES payers(id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt BIGINT NOT NULL DEFAULT 0,
    out_refund_no TEXT UNIQUE,
    channel_refund_id TEXT,
    failure_reason TEXT,
    bank_reference TEXT,
    requested_by TEXT NOT NULL,
    decided_by TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    succeeded_at_ms BIGINT
);
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_state ON refunds (state, created_at_ms);

CREATE TABLE refund_lines (
    refund_id TEXT NOT NULL REFERENCES refunds(id),
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    fee_item_id TEXT,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (refund_id, target_kind, target_id)
);
