-- Payers' security questions (for "forgot password"); answers are argon2id hashes.
CREATE TABLE payer_security (
    payer_id TEXT PRIMARY KEY REFERENCES payers(id),
    question1 TEXT NOT NULL,
    answer1_hash TEXT NOT NULL,
    question2 TEXT NOT NULL,
    answer2_hash TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
