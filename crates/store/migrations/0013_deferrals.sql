-- Deferrals (缓缴): what is owed stays owed, but not before a date — a hardship deferral, the
-- green channel (绿色通道) that lets a new student register first, or a student loan
-- (生源地助学贷款) expected to pay it. Asked for by a department or finance, decided by another
-- person; an approval sets the receivable's date in the same transaction.
CREATE TABLE deferrals (
    id TEXT PRIMARY KEY,
    receivable_id TEXT NOT NULL REFERENCES receivables(id),
    kind TEXT NOT NULL CHECK (kind IN ('hardship', 'green_channel', 'student_loan')),
    until_ms BIGINT NOT NULL,
    reason TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    state TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'rejected')),
    requested_by TEXT NOT NULL,
    decided_by TEXT,
    decision_comment TEXT,
    created_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT,
    CHECK ((state = 'requested') = (decided_at_ms IS NULL))
);
CREATE UNIQUE INDEX deferrals_one_waiting ON deferrals (receivable_id) WHERE state = 'requested';
CREATE INDEX deferrals_state ON deferrals (state, created_at_ms);
ALTER TABLE receivables ADD COLUMN deferred_until_ms BIGINT;
ALTER TABLE receivables ADD COLUMN deferral_kind TEXT
    CHECK (deferral_kind IS NULL OR deferral_kind IN ('hardship', 'green_channel', 'student_loan'));
