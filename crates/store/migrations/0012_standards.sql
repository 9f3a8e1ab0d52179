-- Fee standards (收费标准): what a fee item charges in an academic year per college, major,
-- grade and payer kind. Each change is a new version, proposed by one person and decided by
-- another; approving one supersedes the version in force. Receivables are raised from the one
-- in force.
CREATE TABLE fee_standards (
    id TEXT PRIMARY KEY,
    fee_item_id TEXT NOT NULL REFERENCES fee_items(id),
    academic_year TEXT NOT NULL CHECK (length(academic_year) = 9),
    version BIGINT NOT NULL CHECK (version >= 1),
    state TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'rejected', 'superseded')),
    note TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 200),
    requested_by TEXT NOT NULL,
    decided_by TEXT,
    decision_comment TEXT,
    created_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT,
    UNIQUE (fee_item_id, academic_year, version),
    CHECK ((state = 'requested') = (decided_at_ms IS NULL))
);
-- One version in force and one waiting, per item and year.
CREATE UNIQUE INDEX fee_standards_in_force ON fee_standards (fee_item_id, academic_year) WHERE state = 'approved';
CREATE UNIQUE INDEX fee_standards_waiting ON fee_standards (fee_item_id, academic_year) WHERE state = 'requested';

CREATE TABLE fee_standard_lines (
    standard_id TEXT NOT NULL REFERENCES fee_standards(id),
    line_no BIGINT NOT NULL CHECK (line_no >= 1),
    department_id TEXT REFERENCES departments(id),
    major TEXT NOT NULL DEFAULT '' CHECK (length(major) <= 60),
    grade TEXT NOT NULL DEFAULT '' CHECK (length(grade) <= 20),
    payer_kind TEXT CHECK (payer_kind IS NULL OR payer_kind IN ('enrolled_student', 'new_student', 'staff', 'registrant', 'external')),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (standard_id, line_no)
);

-- Raising by group reads payers by college, major and grade.
CREATE INDEX payers_group ON payers (department_id, grade, major);
