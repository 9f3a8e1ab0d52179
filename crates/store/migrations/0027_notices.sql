-- Notices to payers (公告) shown on the portal for a period, and channel maintenance notices
-- (渠道维护) shown beside that channel where payers choose how to pay. Withdrawn, never deleted.
CREATE TABLE notices (
    id TEXT PRIMARY KEY,
    channel TEXT CHECK (channel IS NULL OR channel IN ('wechatpay', 'alipay', 'unionpay', 'campus_card')),
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 60),
    body TEXT NOT NULL CHECK (length(body) <= 1000),
    starts_at_ms BIGINT NOT NULL,
    ends_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    withdrawn_at_ms BIGINT,
    withdrawn_by TEXT,
    CHECK (ends_at_ms > starts_at_ms),
    CHECK ((withdrawn_at_ms IS NULL) = (withdrawn_by IS NULL))
);
CREATE INDEX notices_ends ON notices (ends_at_ms);
