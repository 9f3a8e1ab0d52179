-- What the school's rosters (花名册) say about each payer, beyond what logging in needs.
ALTER TABLE payers ADD COLUMN id_type TEXT NOT NULL DEFAULT 'resident_id'
    CHECK (id_type IN ('resident_id', 'passport', 'hk_macau_permit', 'taiwan_permit', 'permanent_residence', 'other'));
ALTER TABLE payers ADD COLUMN gender TEXT CHECK (gender IS NULL OR gender IN ('male', 'female'));
ALTER TABLE payers ADD COLUMN major TEXT NOT NULL DEFAULT '';
ALTER TABLE payers ADD COLUMN grade TEXT NOT NULL DEFAULT '';
ALTER TABLE payers ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'suspended', 'graduated', 'withdrawn', 'left', 'retired'));
ALTER TABLE payers ADD COLUMN enrolled_year BIGINT CHECK (enrolled_year IS NULL OR enrolled_year BETWEEN 1950 AND 2100);
CREATE INDEX payers_name ON payers (name);
CREATE INDEX payers_class ON payers (class_name);
