-- What each fee item is owed and has collected, kept up to date by a trigger on receivables, so
-- the collection page reads a few rows per item instead of every receivable. Each item's totals
-- are spread over 16 slots (by the receivable id's last character) so that concurrent payments
-- of one item do not all update one row; readers add the slots up.
CREATE TABLE receivable_totals (
    fee_item_id TEXT NOT NULL REFERENCES fee_items(id),
    slot BIGINT NOT NULL CHECK (slot BETWEEN 0 AND 15),
    receivables BIGINT NOT NULL DEFAULT 0,
    settled BIGINT NOT NULL DEFAULT 0,
    due_fen BIGINT NOT NULL DEFAULT 0,
    waived_fen BIGINT NOT NULL DEFAULT 0,
    paid_fen BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (fee_item_id, slot)
);
INSERT INTO receivable_totals (fee_item_id, slot, receivables, settled, due_fen, waived_fen, paid_fen)
    SELECT fee_item_id, ascii(right(id, 1)) % 16, COUNT(*), SUM(CASE WHEN state = 'settled' THEN 1 ELSE 0 END),
           SUM(due_fen), SUM(waived_fen), SUM(paid_fen)
      FROM receivables GROUP BY fee_item_id, ascii(right(id, 1)) % 16;

CREATE FUNCTION receivable_totals_add(item TEXT, rid TEXT, sign BIGINT, st TEXT, due BIGINT, waived BIGINT, paid BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO receivable_totals (fee_item_id, slot) VALUES (item, ascii(right(rid, 1)) % 16) ON CONFLICT DO NOTHING;
    UPDATE receivable_totals
       SET receivables = receivables + sign, settled = settled + sign * (CASE WHEN st = 'settled' THEN 1 ELSE 0 END),
           due_fen = due_fen + sign * due, waived_fen = waived_fen + sign * waived, paid_fen = paid_fen + sign * paid
     WHERE fee_item_id = item AND slot = ascii(right(rid, 1)) % 16;
END $$;

CREATE FUNCTION receivable_totals_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM receivable_totals_add(OLD.fee_item_id, OLD.id, -1, OLD.state, OLD.due_fen, OLD.waived_fen, OLD.paid_fen);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM receivable_totals_add(NEW.fee_item_id, NEW.id, 1, NEW.state, NEW.due_fen, NEW.waived_fen, NEW.paid_fen);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER receivable_totals_insert AFTER INSERT OR DELETE ON receivables
    FOR EACH ROW EXECUTE FUNCTION receivable_totals_trigger();
CREATE TRIGGER receivable_totals_update AFTER UPDATE OF fee_item_id, state, due_fen, waived_fen, paid_fen ON receivables
    FOR EACH ROW EXECUTE FUNCTION receivable_totals_trigger();

-- What is deferred depends on the day, so it is summed at read time over the few receivables
-- that have a deferral.
CREATE INDEX receivables_deferred ON receivables (deferred_until_ms) WHERE deferred_until_ms IS NOT NULL;
