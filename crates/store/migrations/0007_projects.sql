-- Fee-bearing projects payers sign up for (项目报名). Each project collects through its own fee
-- item; a registration raises the payer's receivable for it in the same transaction.
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    department_id TEXT NOT NULL REFERENCES departments(id),
    fee_item_id TEXT NOT NULL UNIQUE REFERENCES fee_items(id),
    academic_year TEXT NOT NULL,
    description TEXT NOT NULL,
    notice TEXT NOT NULL,
    fee_fen BIGINT NOT NULL,
    -- NULL: no limit. `registered` is taken by compare-and-set against it.
    capacity BIGINT,
    registered BIGINT NOT NULL DEFAULT 0,
    -- Comma-separated payer kinds that may register.
    open_to TEXT NOT NULL,
    opens_at_ms BIGINT,
    closes_at_ms BIGINT,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE project_fields (
    project_id TEXT NOT NULL REFERENCES projects(id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    required BIGINT NOT NULL,
    -- Choices of a `select` field, separated by '|'.
    options TEXT NOT NULL,
    PRIMARY KEY (project_id, position)
);

CREATE TABLE registrations (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    payer_id TEXT NOT NULL REFERENCES payers(id),
    -- JSON object: field name -> answer.
    answers TEXT NOT NULL,
    receivable_id TEXT REFERENCES receivables(id),
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (project_id, payer_id)
);
CREATE INDEX registrations_payer ON registrations (payer_id);
