-- When each operator's password was last set, for a school that has passwords changed every so
-- many days (系统设置 › 登录与密码). Existing passwords count from when they were last touched.
ALTER TABLE operators ADD COLUMN password_changed_at_ms BIGINT NOT NULL DEFAULT 0 CHECK (password_changed_at_ms >= 0);
UPDATE operators SET password_changed_at_ms = updated_at_ms;
