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
    SELECT fee_item_id, ascii(right(id, 1)) % 16, COUNT(*), SUM(CASE WHEN state = 'settled' THEN 1 ELSE 0 END),
           SUM(due_fen), SUM(waived_fen), SUM(paid_fen)
      FROM receivables GROUP BY fee_item_id, ascii(right(id, 1)) % 16;

-- Statement-level triggers with transition tables: a bulk insert of 200,000 receivables updates
-- each (item, slot) row once per statement, not once per receivable; an update that moves no
-- amount (a deferral, a timestamp) writes nothing here.
CREATE FUNCTION receivable_totals_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO receivable_totals AS t (fee_item_id, slot, receivables, settled, due_fen, waived_fen, paid_fen)
        SELECT fee_item_id, ascii(right(id, 1)) % 16, COUNT(*), SUM(CASE WHEN state = 'settled' THEN 1 ELSE 0 END),
               SUM(due_fen), SUM(waived_fen), SUM(paid_fen)
          FROM new_rows GROUP BY fee_item_id, ascii(right(id, 1)) % 16
    ON CONFLICT (fee_item_id, slot) DO UPDATE
       SET receivables = t.receivables + EXCLUDED.receivables, settled = t.settled + EXCLUDED.settled,
           due_fen = t.due_fen + EXCLUDED.due_fen, waived_fen = t.waived_fen + EXCLUDED.waived_fen,
           paid_fen = t.paid_fen + EXCLUDED.paid_fen;
    RETURN NULL;
END $$;

CREATE FUNCTION receivable_totals_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO receivable_totals AS t (fee_item_id, slot, receivables, settled, due_fen, waived_fen, paid_fen)
        SELECT fee_item_id, slot, SUM(n), SUM(s), SUM(d), SUM(w), SUM(p)
          FROM (SELECT fee_item_id, ascii(right(id, 1)) % 16 AS slot, 1 AS n,
                       CASE WHEN state = 'settled' THEN 1 ELSE 0 END AS s, due_fen AS d, waived_fen AS w, paid_fen AS p
                  FROM new_rows
                UNION ALL
                SELECT fee_item_id, ascii(right(id, 1)) % 16, -1, -(CASE WHEN state = 'settled' THEN 1 ELSE 0 END),
                       -due_fen, -waived_fen, -paid_fen
                  FROM old_rows) x
         GROUP BY fee_item_id, slot
        HAVING SUM(n) <> 0 OR SUM(s) <> 0 OR SUM(d) <> 0 OR SUM(w) <> 0 OR SUM(p) <> 0
    ON CONFLICT (fee_item_id, slot) DO UPDATE
       SET receivables = t.receivables + EXCLUDED.receivables, settled = t.settled + EXCLUDED.settled,
           due_fen = t.due_fen + EXCLUDED.due_fen, waived_fen = t.waived_fen + EXCLUDED.waived_fen,
           paid_fen = t.paid_fen + EXCLUDED.paid_fen;
    RETURN NULL;
END $$;

CREATE FUNCTION receivable_totals_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE receivable_totals t
       SET receivables = t.receivables - o.n, settled = t.settled - o.s, due_fen = t.due_fen - o.d,
           waived_fen = t.waived_fen - o.w, paid_fen = t.paid_fen - o.p
      FROM (SELECT fee_item_id, ascii(right(id, 1)) % 16 AS slot, COUNT(*) AS n,
                   SUM(CASE WHEN state = 'settled' THEN 1 ELSE 0 END) AS s, SUM(due_fen) AS d,
                   SUM(waived_fen) AS w, SUM(paid_fen) AS p
              FROM old_rows GROUP BY fee_item_id, ascii(right(id, 1)) % 16) o
     WHERE t.fee_item_id = o.fee_item_id AND t.slot = o.slot;
    RETURN NULL;
END $$;

CREATE TRIGGER receivable_totals_insert AFTER INSERT ON receivables
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION receivable_totals_on_insert();
CREATE TRIGGER receivable_totals_update AFTER UPDATE ON receivables
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION receivable_totals_on_update();
CREATE TRIGGER receivable_totals_delete AFTER DELETE ON receivables
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION receivable_totals_on_delete();

-- What is deferred depends on the day, so it is summed at read time over the few receivables
-- that have a deferral.
CREATE INDEX receivables_deferred ON receivables (deferred_until_ms) WHERE deferred_until_ms IS NOT NULL;
