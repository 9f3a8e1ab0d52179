-- Who took a payment at the counter or imported it (收费员): the operator's id, NULL for payments
-- a payer or a business system started. The reports per cashier and the cashier's day close read it.
ALTER TABLE payments ADD COLUMN collected_by TEXT;
CREATE INDEX payments_collected_by ON payments (collected_by, succeeded_at_ms) WHERE collected_by IS NOT NULL;
-- Reports read succeeded payments by the time they succeeded.
CREATE INDEX payments_succeeded_at ON payments (succeeded_at_ms) WHERE succeeded_at_ms IS NOT NULL;
