-- Reductions and deferrals asked for in bulk from a spreadsheet (a 绿色通道 list, the student
-- loan centre's list): every request of one file carries the file's batch id, so that the
-- approver can decide them together.
ALTER TABLE waivers ADD COLUMN batch_id TEXT;
ALTER TABLE deferrals ADD COLUMN batch_id TEXT;
CREATE INDEX waivers_batch ON waivers (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX deferrals_batch ON deferrals (batch_id) WHERE batch_id IS NOT NULL;
