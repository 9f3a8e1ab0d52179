//! Storage: migrations, compare-and-set transitions, idempotent posting, and `verify` catching
//! tampering.

use bursar_domain::fee::{FeeItemStatus, FeeType};
use bursar_domain::payment::PaymentState;
use bursar_domain::Fen;
use bursar_store::payments::{self as pay_store, NewPayment};
use bursar_store::{ledger, migrate, payers, receivables, StoreError};

use crate::both_stores;
use crate::support::*;

/// A payer with one receivable of 1,000.00 yuan; returns (payer id, receivable id, fee item id).
async fn fixture(store: &bursar_store::Store) -> (String, String, String) {
    let mut tx = store.begin().await.unwrap();
    let now = tx.now_ms;
    let dept = tx.new_id();
    payers::insert_department(tx.c(), &dept, "CW", "财务处").await.unwrap();
    let payer = tx.new_id();
    payers::insert_payer(
        tx.c(),
        &payer,
        &payers::NewPayer {
            kind: "enrolled_student",
            identifier: "S1",
            name: "测试",
            id_number_masked: "370***********1234",
            id_number_digest: "d",
            phone: "",
            department_id: None,
            class_name: "",
            password_hash: "x",
        },
        now,
    )
    .await
    .unwrap();
    let item = tx.new_id();
    receivables::insert_fee_item(
        tx.c(),
        &item,
        &receivables::NewFeeItem {
            code: "XF",
            name: "学费",
            department_id: &dept,
            fee_type: FeeType::Tuition,
            status: FeeItemStatus::Collecting,
            window_start_ms: None,
            window_end_ms: None,
            partial_allowed: true,
            min_partial: Fen(100),
        },
        now,
    )
    .await
    .unwrap();
    let rid = tx.new_id();
    receivables::insert_receivable(tx.c(), &rid, &payer, &item, "2026-2027", Fen(100_000), now).await.unwrap();
    ledger::post(&mut tx, &bursar_domain::ledger::receivable_raised(&rid, &item, Fen(100_000)).unwrap()).await.unwrap();
    tx.commit().await.unwrap();
    (payer, rid, item)
}

both_stores!(migrations_are_idempotent, |env: TestEnv| async move {
    let store = env.store().await;
    assert!(migrate::run(&store).await.unwrap().is_empty(), "a second run applies nothing");
    let mut c = store.read().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations").fetch_one(&mut *c).await.unwrap();
    assert_eq!(n, migrate::MIGRATIONS.len() as i64);
});

both_stores!(payment_transitions_are_compare_and_set, |env: TestEnv| async move {
    let store = env.store().await;
    let (payer, rid, _) = fixture(&store).await;
    let mut tx = store.begin().await.unwrap();
    let now = tx.now_ms;
    let order = tx.new_id();
    pay_store::insert_order(tx.c(), &order, &payer, Fen(100), now).await.unwrap();
    pay_store::insert_order_line(tx.c(), &order, &rid, Fen(100)).await.unwrap();
    let pid = tx.new_id();
    let no = tx.new_id();
    let p = NewPayment {
        id: &pid,
        order_id: &order,
        payer_id: &payer,
        method: "wechat_native",
        channel: "wechatpay",
        merchant_id: "m",
        merchant_order_no: &no,
        amount: Fen(100),
        expires_at_ms: now + 1000,
    };
    pay_store::insert_payment(tx.c(), &p, now).await.unwrap();
    pay_store::transition_payment(tx.c(), &pid, PaymentState::Created, PaymentState::Paying, now).await.unwrap();
    // The same transition again finds the row moved on: a conflict, not a silent success.
    let again = pay_store::transition_payment(tx.c(), &pid, PaymentState::Created, PaymentState::Paying, now).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    // Illegal transitions never reach the database.
    let illegal = pay_store::transition_payment(tx.c(), &pid, PaymentState::Paying, PaymentState::Created, now).await;
    assert!(matches!(illegal, Err(StoreError::Domain(_))), "{illegal:?}");
    tx.commit().await.unwrap();
    let mut c = store.read().await.unwrap();
    assert_eq!(pay_store::payment(&mut c, &pid).await.unwrap().state, "paying");
});

both_stores!(an_event_is_posted_once_and_receivable_credit_is_cas, |env: TestEnv| async move {
    let store = env.store().await;
    let (_, rid, item) = fixture(&store).await;
    let mut tx = store.begin().await.unwrap();
    let entry = bursar_domain::ledger::receivable_raised(&rid, &item, Fen(100_000)).unwrap();
    let dup = ledger::post(&mut tx, &entry).await;
    assert!(matches!(dup, Err(StoreError::AlreadyPosted(_))), "{dup:?}");
    tx.rollback().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let now = tx.now_ms;
    // Crediting against a stale paid amount fails; so does crediting more than is owed.
    let stale = receivables::add_paid(tx.c(), &rid, Fen(5), Fen(10), now).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))));
    let too_much = receivables::add_paid(tx.c(), &rid, Fen(0), Fen(100_001), now).await;
    assert!(matches!(too_much, Err(StoreError::Conflict(_))));
    tx.rollback().await.unwrap();
    assert_verified(&store).await;
});

both_stores!(verify_reports_tampering, |env: TestEnv| async move {
    let store = env.store().await;
    let (_, rid, _) = fixture(&store).await;
    assert_verified(&store).await;
    let mut c = store.read().await.unwrap();
    // Someone edits a receivable behind the ledger's back…
    sqlx::query("UPDATE receivables SET paid_fen = 500 WHERE id = $1").bind(&rid).execute(&mut *c).await.unwrap();
    let report = bursar_store::verify::run(&mut c).await.unwrap();
    assert!(!report.is_clean());
    assert!(report.problems().iter().any(|p| p.contains(&rid) && p.contains("ledger says")), "{}", report.render());
    // …or a posting amount.
    sqlx::query("UPDATE receivables SET paid_fen = 0 WHERE id = $1").bind(&rid).execute(&mut *c).await.unwrap();
    sqlx::query("UPDATE postings SET amount_fen = amount_fen + 1 WHERE amount_fen > 0").execute(&mut *c).await.unwrap();
    let report = bursar_store::verify::run(&mut c).await.unwrap();
    assert!(report.problems().iter().any(|p| p.contains("sums to 1 fen")), "{}", report.render());
});

both_stores!(operation_log_detects_edits_and_deletions, |env: TestEnv| async move {
    use bursar_store::oplog::{append, verify_chain, Actor, Change};
    let store = env.store().await;
    let mut c = store.read().await.unwrap();
    for i in 0..5 {
        let id = format!("p{i}");
        let change = Change {
            action: "payment.create",
            entity: "payment",
            entity_id: &id,
            before: "",
            after: "created",
            detail: "x",
        };
        append(&mut c, 1_000 + i, &Actor::payer("u"), &change).await.unwrap();
    }
    assert!(verify_chain(&mut c).await.unwrap().is_empty());

    sqlx::query("UPDATE operation_log SET after_state = 'succeeded' WHERE seq = 2").execute(&mut *c).await.unwrap();
    let problems = verify_chain(&mut c).await.unwrap();
    assert!(problems.iter().any(|p| p.contains("row 2 was edited")), "{problems:?}");
    sqlx::query("UPDATE operation_log SET after_state = 'created' WHERE seq = 2").execute(&mut *c).await.unwrap();
    assert!(verify_chain(&mut c).await.unwrap().is_empty(), "restoring the row restores the chain");

    sqlx::query("DELETE FROM operation_log WHERE seq = 3").execute(&mut *c).await.unwrap();
    let problems = verify_chain(&mut c).await.unwrap();
    assert!(problems.iter().any(|p| p.contains("missing")), "{problems:?}");

    // Deleting from the end is caught by the head, and `verify` reports it.
    sqlx::query("DELETE FROM operation_log WHERE seq >= 3").execute(&mut *c).await.unwrap();
    let problems = verify_chain(&mut c).await.unwrap();
    assert!(problems.iter().any(|p| p.contains("deleted from the end")), "{problems:?}");
    let report = bursar_store::verify::run(&mut c).await.unwrap();
    assert!(!report.is_clean());
});

both_stores!(jobs_are_leased_to_one_worker_at_a_time, |env: TestEnv| async move {
    use bursar_store::jobs::{self, NewJob};
    let store = env.store().await;
    let mut c = store.read().await.unwrap();
    // A lease that ran out counts as an attempt (the job may be what kills its workers).
    let job = NewJob { kind: "payment.query", dedupe_key: "p1", payload: "p1", run_at_ms: 1_000, max_attempts: 3 };
    assert!(jobs::enqueue(&mut c, "j1", &job, 0).await.unwrap());
    assert!(!jobs::enqueue(&mut c, "j2", &job, 0).await.unwrap(), "the same job is enqueued once");
    assert!(jobs::claim(&mut c, "a", 999, 100).await.unwrap().is_none(), "not due yet");

    let claimed = jobs::claim(&mut c, "a", 1_000, 100).await.unwrap().expect("due");
    assert_eq!(claimed.attempts, 1);
    assert!(jobs::claim(&mut c, "b", 1_050, 100).await.unwrap().is_none(), "leased to a");
    // a dies; its lease runs out; b takes over.
    let taken = jobs::claim(&mut c, "b", 1_101, 100).await.unwrap().expect("lease expired");
    assert_eq!(taken.lease_owner.as_deref(), Some("b"));
    assert!(matches!(jobs::complete(&mut c, "j1", "a", 1_102).await, Err(StoreError::Conflict(_))), "a lost its lease");

    // b fails it: backoff, then dead after the last attempt.
    assert!(!jobs::fail(&mut c, &taken, "b", "boom", 1_110, 1_000).await.unwrap());
    let row = jobs::job(&mut c, "payment.query", "p1").await.unwrap().unwrap();
    assert_eq!(row.state, "queued");
    assert!(row.run_at_ms >= 1_110 + 1_000, "backed off");
    assert!(jobs::claim(&mut c, "b", 1_200, 100).await.unwrap().is_none());
    let again = jobs::claim(&mut c, "b", row.run_at_ms, 100).await.unwrap().unwrap();
    assert_eq!(again.attempts, 3);
    assert!(jobs::fail(&mut c, &again, "b", "boom", row.run_at_ms, 1_000).await.unwrap(), "dead");
    assert_eq!(jobs::job(&mut c, "payment.query", "p1").await.unwrap().unwrap().state, "dead");

    // A rescheduled job starts its attempts afresh.
    let job2 = NewJob { kind: "payment.query", dedupe_key: "p2", payload: "p2", run_at_ms: 0, max_attempts: 2 };
    jobs::enqueue(&mut c, "j3", &job2, 0).await.unwrap();
    let j = jobs::claim(&mut c, "w", 10, 100).await.unwrap().unwrap();
    jobs::reschedule(&mut c, &j.id, "w", 500, 20).await.unwrap();
    let row = jobs::job(&mut c, "payment.query", "p2").await.unwrap().unwrap();
    assert_eq!((row.state.as_str(), row.attempts, row.run_at_ms), ("queued", 0, 500));
});
