-- Reductions and waivers (减免) of what a payer owes: asked for by a department or finance,
-- decided by another person (four eyes), applied in the deciding transaction.
CREATE TABLE waivers (
    id TEXT PRIMARY KEY,
    receivable_id TEXT NOT NULL REFERENCES receivables(id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    reason TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    state TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'rejected')),
    requested_by TEXT NOT NULL,
    decided_by TEXT,
    decision_comment TEXT,
    created_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT,
    CHECK ((state = 'requested') = (decided_at_ms IS NULL))
);
CREATE INDEX waivers_state ON waivers (state, created_at_ms);
CREATE INDEX waivers_receivable ON waivers (receivable_id);
