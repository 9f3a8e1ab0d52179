-- A cashier's day close (日结): what the system says they took, by method, against what they
-- counted; the difference with its reason; handed to the chief cashier (出纳), who confirms it or
-- returns it. A close is never changed: a correction is a new entry (seq 2, 3, …) for the day.
CREATE TABLE till_closes (
    id TEXT PRIMARY KEY,
    cashier_id TEXT NOT NULL REFERENCES operators(id),
    day TEXT NOT NULL CHECK (length(day) = 10),
    seq BIGINT NOT NULL CHECK (seq >= 1),
    payments BIGINT NOT NULL CHECK (payments >= 0),
    cash_expected_fen BIGINT NOT NULL CHECK (cash_expected_fen >= 0),
    pos_expected_fen BIGINT NOT NULL CHECK (pos_expected_fen >= 0),
    code_expected_fen BIGINT NOT NULL CHECK (code_expected_fen >= 0),
    cash_counted_fen BIGINT NOT NULL CHECK (cash_counted_fen >= 0),
    pos_counted_fen BIGINT NOT NULL CHECK (pos_counted_fen >= 0),
    difference_fen BIGINT NOT NULL,
    reason TEXT NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
    state TEXT NOT NULL CHECK (state IN ('submitted', 'confirmed', 'returned')),
    submitted_at_ms BIGINT NOT NULL,
    decided_by TEXT,
    decided_at_ms BIGINT,
    decision_comment TEXT NOT NULL DEFAULT '' CHECK (length(decision_comment) <= 200),
    UNIQUE (cashier_id, day, seq),
    CHECK (difference_fen = cash_counted_fen + pos_counted_fen - cash_expected_fen - pos_expected_fen),
    CHECK (difference_fen = 0 OR length(reason) > 0),
    CHECK ((state = 'submitted') = (decided_at_ms IS NULL))
);
CREATE INDEX till_closes_state ON till_closes (state, day);
-- The chief cashier (出纳) is a role of its own.
CREATE TABLE operator_roles_new (
    operator_id TEXT NOT NULL REFERENCES operators(id),
    role TEXT NOT NULL CHECK (role IN ('department_operator', 'cashier', 'chief_cashier', 'finance_clerk', 'finance_approver', 'finance_admin', 'auditor', 'leader', 'system_admin')),
    PRIMARY KEY (operator_id, role)
);
INSERT INTO operator_roles_new (operator_id, role) SELECT operator_id, role FROM operator_roles;
DROP TABLE operator_roles;
ALTER TABLE operator_roles_new RENAME TO operator_roles;
