-- Changes to an approved fee item (变更申请): its name, window and partial-payment terms, asked
-- for by the department or finance and applied only when another person approves (the first
-- approved application is version 1; each change is the next version). One waiting at a time.
CREATE TABLE fee_item_changes (
    id TEXT PRIMARY KEY,
    fee_item_id TEXT NOT NULL REFERENCES fee_items(id),
    version BIGINT NOT NULL CHECK (version >= 2),
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    window_start_ms BIGINT,
    window_end_ms BIGINT,
    partial_allowed BIGINT NOT NULL CHECK (partial_allowed IN (0, 1)),
    min_partial_fen BIGINT NOT NULL CHECK (min_partial_fen >= 0),
    note TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    state TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'rejected')),
    requested_by TEXT NOT NULL,
    decided_by TEXT,
    decision_comment TEXT,
    created_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT,
    UNIQUE (fee_item_id, version),
    CHECK ((state = 'requested') = (decided_at_ms IS NULL)),
    CHECK (window_start_ms IS NULL OR window_end_ms IS NULL OR window_end_ms > window_start_ms)
);
CREATE UNIQUE INDEX fee_item_changes_waiting ON fee_item_changes (fee_item_id) WHERE state = 'requested';
