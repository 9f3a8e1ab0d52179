//! The ledger's invariants (LEDGER.md), checked against the whole store by `bursar verify` and
//! by tests after every money path.

use bursar_domain::fee::ReceivableState;
use bursar_domain::ledger::{AccountKind, EntryKind};
use bursar_domain::order::OrderState;
use bursar_domain::payment::PaymentState;
use bursar_domain::receipt::ReceiptState;
use bursar_domain::refund::RefundState;

use crate::db::{Conn, Store};
use crate::error::StoreError;

#[derive(Clone, Debug, Default)]
pub struct Check {
    pub name: &'static str,
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub checks: Vec<Check>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.checks.iter().all(|c| c.problems.is_empty())
    }
    pub fn problems(&self) -> Vec<String> {
        self.checks.iter().flat_map(|c| c.problems.iter().map(move |p| format!("{}: {p}", c.name))).collect()
    }
    /// A human report: one line per check, then each problem.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let mark = if c.problems.is_empty() { "ok  " } else { "FAIL" };
            out.push_str(&format!("{mark} {}\n", c.name));
            for p in c.problems.iter().take(50) {
                out.push_str(&format!("     - {p}\n"));
            }
            if c.problems.len() > 50 {
                out.push_str(&format!("     … and {} more\n", c.problems.len() - 50));
            }
        }
        out
    }
}

async fn rows(c: &mut impl Conn, sql: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar::<_, String>(sql).fetch_all(c.raw()).await?)
}

/// `'a', 'b'` for a set of enum values.
fn codes<T: Copy>(values: &[T], code: fn(T) -> &'static str) -> String {
    values.iter().map(|v| format!("'{}'", code(*v))).collect::<Vec<_>>().join(", ")
}

/// Seals the operation log's committed rows, then checks every invariant.
pub async fn run(store: &Store) -> Result<VerifyReport, StoreError> {
    crate::oplog::seal_all(store).await?;
    let now_ms = store.now_ms();
    let mut c = store.read().await?;
    check(&mut c, now_ms).await
}

async fn check(c: &mut impl Conn, now_ms: i64) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let succeeded = PaymentState::Succeeded.as_str();
    let receivable = AccountKind::Receivable.as_str();
    let settled = ReceivableState::Settled.as_str();
    let raised = EntryKind::ReceivableRaised.as_str();
    let credited = EntryKind::PaymentSucceeded.as_str();
    let in_transit = codes(&RefundState::IN_TRANSIT, RefundState::as_str);
    let paid_out = codes(&RefundState::PAID_OUT, RefundState::as_str);
    let payout_entries = codes(&[EntryKind::RefundConfirmed, EntryKind::RefundManual], EntryKind::as_str);
    let transit_account = AccountKind::RefundsInTransit.as_str();
    let rejected = RefundState::Rejected.as_str();
    let liabilities =
        codes(&[AccountKind::PayerCredit, AccountKind::CardWallet, AccountKind::MerchantPayable], AccountKind::as_str);

    report.checks.push(Check {
        name: "every journal entry balances",
        problems: rows(
            &mut *c,
            "SELECT 'entry ' || e.id || ' (' || e.kind || ' ' || e.source_id || ') sums to ' || CAST(COALESCE(SUM(p.amount_fen), 0) AS TEXT) || ' fen over ' || CAST(COUNT(p.id) AS TEXT) || ' postings'
               FROM journal_entries e LEFT JOIN postings p ON p.entry_id = e.id
              GROUP BY e.id, e.kind, e.source_id
             HAVING COUNT(p.id) < 2 OR COALESCE(SUM(p.amount_fen), 0) <> 0",
        )
        .await?,
    });

    report.checks.push(Check {
        name: "each receivable's ledger balance equals its outstanding amount",
        problems: rows(
            &mut *c,
            &format!("SELECT 'receivable ' || r.id || ': row says ' || CAST(r.due_fen - r.waived_fen - r.paid_fen AS TEXT) || ', ledger says ' || CAST(COALESCE(b.bal, 0) AS TEXT)
               FROM receivables r
               LEFT JOIN (SELECT a.dimension AS rid, SUM(p.amount_fen) AS bal FROM accounts a JOIN postings p ON p.account_id = a.id
                           WHERE a.kind = '{receivable}' GROUP BY a.dimension) b ON b.rid = r.id
              WHERE COALESCE(b.bal, 0) <> r.due_fen - r.waived_fen - r.paid_fen"),
        )
        .await?,
    });

    report.checks.push(Check {
        name: "receivable amounts are consistent and never negative",
        problems: rows(
            &mut *c,
            &format!("SELECT 'receivable ' || id || ': due ' || CAST(due_fen AS TEXT) || ', waived ' || CAST(waived_fen AS TEXT) || ', paid ' || CAST(paid_fen AS TEXT) || ', state ' || state
               FROM receivables
              WHERE due_fen < 0 OR waived_fen < 0 OR paid_fen < 0 OR waived_fen + paid_fen > due_fen
                 OR (state = '{settled}') <> (due_fen - waived_fen - paid_fen = 0)"),
        )
        .await?,
    });

    // The per-item totals the triggers keep agree with the receivables they sum.
    let kept = crate::receivables::collection_totals(&mut *c).await?;
    let summed = crate::receivables::collection_from_receivables(&mut *c).await?;
    let mut totals_problems = Vec::new();
    if kept != summed {
        let show = |v: &[crate::receivables::ItemTotals], id: &str| {
            v.iter().find(|r| r.0 == id).map(|r| format!("{:?}", (r.1, r.2, r.3, r.4, r.5))).unwrap_or("none".into())
        };
        let mut ids: Vec<&String> = kept.iter().chain(&summed).map(|r| &r.0).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            let (k, s) = (show(&kept, id), show(&summed, id));
            if k != s {
                totals_problems.push(format!("fee item {id}: totals kept {k}, receivables sum to {s}"));
            }
        }
    }
    report.checks.push(Check {
        name: "the collection totals per fee item equal the sum of its receivables",
        problems: totals_problems,
    });

    report.checks.push(Check {
        name: "every receivable was raised in the ledger exactly once",
        problems: rows(
            &mut *c,
            &format!(
                "SELECT 'receivable ' || r.id || ' has ' || CAST(COUNT(e.id) AS TEXT) || ' raising entries'
               FROM receivables r LEFT JOIN journal_entries e ON e.kind = '{raised}' AND e.source_id = r.id
              GROUP BY r.id HAVING COUNT(e.id) <> 1"
            ),
        )
        .await?,
    });

    let mut payment_problems = rows(
        &mut *c,
        &format!("SELECT 'payment entry ' || e.id || ' names ' || e.source_id || ', which is ' || COALESCE(pm.state, 'missing')
           FROM journal_entries e LEFT JOIN payments pm ON pm.id = e.source_id
          WHERE e.kind = '{credited}' AND (pm.id IS NULL OR pm.state <> '{succeeded}')"),
    )
    .await?;
    payment_problems.extend(
        rows(
            &mut *c,
            &format!("SELECT 'succeeded payment ' || pm.id || ' (' || pm.merchant_order_no || ') has ' || CAST(COUNT(e.id) AS TEXT) || ' credit entries'
               FROM payments pm LEFT JOIN journal_entries e ON e.kind = '{credited}' AND e.source_id = pm.id
              WHERE pm.state = '{succeeded}' GROUP BY pm.id, pm.merchant_order_no HAVING COUNT(e.id) <> 1"),
        )
        .await?,
    );
    payment_problems.extend(
        rows(
            &mut *c,
            &format!("SELECT 'payment ' || pm.id || ' collected ' || CAST(pm.amount_fen AS TEXT) || ' but its collecting account was debited ' || CAST(COALESCE(SUM(p.amount_fen), 0) AS TEXT)
               FROM payments pm JOIN journal_entries e ON e.kind = '{credited}' AND e.source_id = pm.id
               JOIN postings p ON p.entry_id = e.id AND p.amount_fen > 0
              GROUP BY pm.id, pm.amount_fen HAVING COALESCE(SUM(p.amount_fen), 0) <> pm.amount_fen"),
        )
        .await?,
    );
    payment_problems.extend(
        rows(
            &mut *c,
            &format!("SELECT 'succeeded payment ' || id || ' has no channel transaction id' FROM payments WHERE state = '{succeeded}' AND channel_txn_id IS NULL"),
        )
        .await?,
    );
    report.checks.push(Check {
        name: "every succeeded payment is credited exactly once, for its amount",
        problems: payment_problems,
    });

    report.checks.push(Check {
        name: "liability balances (payer credit, card wallets, merchant payables) are not negative",
        problems: rows(
            &mut *c,
            &format!(
                "SELECT a.kind || ' ' || a.dimension || ' is ' || CAST(-SUM(p.amount_fen) AS TEXT)
               FROM accounts a JOIN postings p ON p.account_id = a.id
              WHERE a.kind IN ({liabilities})
              GROUP BY a.kind, a.dimension HAVING SUM(p.amount_fen) > 0"
            ),
        )
        .await?,
    });

    let mut receipt_problems = rows(
        &mut *c,
        &format!(
            "SELECT 'succeeded payment ' || pm.id || ' has ' || CAST(COUNT(r.id) AS TEXT) || ' receipts'
           FROM payments pm LEFT JOIN receipts r ON r.payment_id = pm.id
          WHERE pm.state = '{succeeded}' GROUP BY pm.id HAVING COUNT(r.id) <> 1"
        ),
    )
    .await?;
    receipt_problems.extend(
        rows(
            &mut *c,
            &format!("SELECT 'receipt ' || r.number || ' says ' || CAST(r.amount_fen AS TEXT) || ' for a payment of ' || CAST(pm.amount_fen AS TEXT) || ' in state ' || pm.state
               FROM receipts r JOIN payments pm ON pm.id = r.payment_id
              WHERE r.amount_fen <> pm.amount_fen OR pm.state <> '{succeeded}'"),
        )
        .await?,
    );
    report.checks.push(Check {
        name: "every succeeded payment has exactly one receipt, for its amount",
        problems: receipt_problems,
    });

    let mut refund_problems = rows(
        &mut *c,
        &format!("SELECT 'refund ' || r.id || ' (' || r.state || ') holds ' || CAST(COALESCE(-b.bal, 0) AS TEXT) || ' fen in transit'
           FROM refunds r
           LEFT JOIN (SELECT a.dimension AS rid, SUM(p.amount_fen) AS bal FROM accounts a JOIN postings p ON p.account_id = a.id
                       WHERE a.kind = '{transit_account}' GROUP BY a.dimension) b ON b.rid = r.id
          WHERE COALESCE(-b.bal, 0) <> CASE WHEN r.state IN ({in_transit}) THEN r.amount_fen ELSE 0 END"),
    )
    .await?;
    refund_problems.extend(
        rows(
            &mut *c,
            &format!("SELECT 'payment ' || pm.id || ' of ' || CAST(pm.amount_fen AS TEXT) || ' has ' || CAST(SUM(r.amount_fen) AS TEXT) || ' in refunds'
               FROM payments pm JOIN refunds r ON r.payment_id = pm.id AND r.state <> '{rejected}'
              GROUP BY pm.id, pm.amount_fen HAVING SUM(r.amount_fen) > pm.amount_fen"),
        )
        .await?,
    );
    refund_problems.extend(
        rows(
            &mut *c,
            &format!("SELECT 'refund ' || r.id || ' (' || r.state || ') has ' || CAST(COUNT(e.id) AS TEXT) || ' pay-out entries'
               FROM refunds r LEFT JOIN journal_entries e ON e.source_id = r.id AND e.kind IN ({payout_entries})
              GROUP BY r.id, r.state HAVING COUNT(e.id) <> CASE WHEN r.state IN ({paid_out}) THEN 1 ELSE 0 END"),
        )
        .await?,
    );
    report.checks.push(Check {
        name: "refunds: money in transit matches each refund's state; never more than was paid",
        problems: refund_problems,
    });

    report.checks.push(Check {
        name: "the operation log's hash chain is intact",
        problems: crate::oplog::verify_chain(c, now_ms).await?,
    });

    // The schema's CHECK constraints make unknown codes impossible; this catches a schema
    // that lost them.
    report.checks.push(Check {
        name: "rows carry known states",
        problems: rows(
            &mut *c,
            &format!(
                "SELECT 'payment ' || id || ' has state ' || state FROM payments WHERE state NOT IN ({})
                 UNION ALL SELECT 'order ' || id || ' has state ' || state FROM orders WHERE state NOT IN ({})
                 UNION ALL SELECT 'receivable ' || id || ' has state ' || state FROM receivables WHERE state NOT IN ({})
                 UNION ALL SELECT 'refund ' || id || ' has state ' || state FROM refunds WHERE state NOT IN ({})
                 UNION ALL SELECT 'receipt ' || number || ' has state ' || state FROM receipts WHERE state NOT IN ({})",
                PaymentState::sql_list(),
                OrderState::sql_list(),
                ReceivableState::sql_list(),
                RefundState::sql_list(),
                ReceiptState::sql_list(),
            ),
        )
        .await?,
    });

    Ok(report)
}
