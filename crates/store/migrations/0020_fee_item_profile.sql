-- What a fee item tells and gives its payers and whom it is for (收费对象, 票据种类, 缴费须知),
-- on the item and on each change of it (versioned with its other terms). The audience lists are
-- comma-separated (kinds are payer-kind codes, departments are ids); empty: anyone.
ALTER TABLE fee_items ADD COLUMN receipt_kind TEXT NOT NULL DEFAULT 'non_tax'
    CHECK (receipt_kind IN ('non_tax', 'settlement', 'donation', 'vat_invoice', 'voucher_only'));
ALTER TABLE fee_items ADD COLUMN payer_notice TEXT NOT NULL DEFAULT '' CHECK (length(payer_notice) <= 1000);
ALTER TABLE fee_items ADD COLUMN audience_kinds TEXT NOT NULL DEFAULT '' CHECK (length(audience_kinds) <= 200);
ALTER TABLE fee_items ADD COLUMN audience_departments TEXT NOT NULL DEFAULT '' CHECK (length(audience_departments) <= 20000);
ALTER TABLE fee_items ADD COLUMN audience_majors TEXT NOT NULL DEFAULT '' CHECK (length(audience_majors) <= 20000);
ALTER TABLE fee_items ADD COLUMN audience_grades TEXT NOT NULL DEFAULT '' CHECK (length(audience_grades) <= 20000);
ALTER TABLE fee_items ADD COLUMN audience_classes TEXT NOT NULL DEFAULT '' CHECK (length(audience_classes) <= 20000);
UPDATE fee_items SET receipt_kind = CASE fee_type
    WHEN 'agency' THEN 'settlement'
    WHEN 'donation' THEN 'donation'
    WHEN 'service' THEN 'vat_invoice'
    WHEN 'training' THEN 'vat_invoice'
    WHEN 'conference' THEN 'vat_invoice'
    ELSE 'non_tax' END;

ALTER TABLE fee_item_changes ADD COLUMN receipt_kind TEXT NOT NULL DEFAULT 'non_tax'
    CHECK (receipt_kind IN ('non_tax', 'settlement', 'donation', 'vat_invoice', 'voucher_only'));
ALTER TABLE fee_item_changes ADD COLUMN payer_notice TEXT NOT NULL DEFAULT '' CHECK (length(payer_notice) <= 1000);
ALTER TABLE fee_item_changes ADD COLUMN audience_kinds TEXT NOT NULL DEFAULT '' CHECK (length(audience_kinds) <= 200);
ALTER TABLE fee_item_changes ADD COLUMN audience_departments TEXT NOT NULL DEFAULT '' CHECK (length(audience_departments) <= 20000);
ALTER TABLE fee_item_changes ADD COLUMN audience_majors TEXT NOT NULL DEFAULT '' CHECK (length(audience_majors) <= 20000);
ALTER TABLE fee_item_changes ADD COLUMN audience_grades TEXT NOT NULL DEFAULT '' CHECK (length(audience_grades) <= 20000);
ALTER TABLE fee_item_changes ADD COLUMN audience_classes TEXT NOT NULL DEFAULT '' CHECK (length(audience_classes) <= 20000);
-- A change asked for before these existed keeps the item's own receipt kind when approved.
UPDATE fee_item_changes SET receipt_kind = (SELECT f.receipt_kind FROM fee_items f WHERE f.id = fee_item_changes.fee_item_id);
