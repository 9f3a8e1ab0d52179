-- What each fee item is owed and has collected, kept up to date by triggers on receivables, so
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
    SELECT fee_item_id, unicode(substr(id, -1)) % 16, COUNT(*), SUM(CASE WHEN state = 'settled' THEN 1 ELSE 0 END),
           SUM(due_fen), SUM(waived_fen), SUM(paid_fen)
      FROM receivables GROUP BY fee_item_id, unicode(substr(id, -1)) % 16;

CREATE TRIGGER receivable_totals_insert AFTER INSERT ON receivables BEGIN
    INSERT OR IGNORE INTO receivable_totals (fee_item_id, slot) VALUES (NEW.fee_item_id, unicode(substr(NEW.id, -1)) % 16);
    UPDATE receivable_totals
       SET receivables = receivables + 1, settled = settled + (NEW.state = 'settled'), due_fen = due_fen + NEW.due_fen,
           waived_fen = waived_fen + NEW.waived_fen, paid_fen = paid_fen + NEW.paid_fen
     WHERE fee_item_id = NEW.fee_item_id AND slot = unicode(substr(NEW.id, -1)) % 16;
END;

CREATE TRIGGER receivable_totals_update AFTER UPDATE OF fee_item_id, state, due_fen, waived_fen, paid_fen ON receivables BEGIN
    UPDATE receivable_totals
       SET receivables = receivables - 1, settled = settled - (OLD.state = 'settled'), due_fen = due_fen - OLD.due_fen,
           waived_fen = waived_fen - OLD.waived_fen, paid_fen = paid_fen - OLD.paid_fen
     WHERE fee_item_id = OLD.fee_item_id AND slot = unicode(substr(OLD.id, -1)) % 16;
    INSERT OR IGNORE INTO receivable_totals (fee_item_id, slot) VALUES (NEW.fee_item_id, unicode(substr(NEW.id, -1)) % 16);
    UPDATE receivable_totals
       SET receivables = receivables + 1, settled = settled + (NEW.state = 'settled'), due_fen = due_fen + NEW.due_fen,
           waived_fen = waived_fen + NEW.waived_fen, paid_fen = paid_fen + NEW.paid_fen
     WHERE fee_item_id = NEW.fee_item_id AND slot = unicode(substr(NEW.id, -1)) % 16;
END;

CREATE TRIGGER receivable_totals_delete AFTER DELETE ON receivables BEGIN
    UPDATE receivable_totals
       SET receivables = receivables - 1, settled = settled - (OLD.state = 'settled'), due_fen = due_fen - OLD.due_fen,
           waived_fen = waived_fen - OLD.waived_fen, paid_fen = paid_fen - OLD.paid_fen
     WHERE fee_item_id = OLD.fee_item_id AND slot = unicode(substr(OLD.id, -1)) % 16;
END;

-- What is deferred depends on the day, so it is summed at read time over the few receivables
-- that have a deferral.
CREATE INDEX receivables_deferred ON receivables (deferred_until_ms) WHERE deferred_until_ms IS NOT NULL;
