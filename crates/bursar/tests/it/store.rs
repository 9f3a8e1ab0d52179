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
    payers::insert_department(tx.c(), &dept, "CW", "财务处")
        .await
        .unwrap();
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
    receivables::insert_receivable(tx.c(), &rid, &payer, &item, "2026-2027", Fen(100_000), now)
        .await
        .unwrap();
    ledger::post(
        &mut tx,
        &bursar_domain::ledger::receivable_raised(&rid, &item, Fen(100_000)).unwrap(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (payer, rid, item)
}

both_stores!(migrations_are_idempotent, |env: TestEnv| async move {
    let store = env.store().await;
    assert!(
        migrate::run(&store).await.unwrap().is_empty(),
        "a second run applies nothing"
    );
    let mut c = store.read().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
        .fetch_one(&mut *c)
        .await
        .unwrap();
    assert_eq!(n, migrate::MIGRATIONS.len() as i64);
});

both_stores!(
    payment_transitions_are_compare_and_set,
    |env: TestEnv| async move {
        let store = env.store().await;
        let (payer, rid, _) = fixture(&store).await;
        let mut tx = store.begin().await.unwrap();
        let now = tx.now_ms;
        let order = tx.new_id();
        pay_store::insert_order(tx.c(), &order, &payer, Fen(100), now)
            .await
            .unwrap();
        pay_store::insert_order_line(tx.c(), &order, &rid, Fen(100))
            .await
            .unwrap();
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
        pay_store::transition_payment(
            tx.c(),
            &pid,
            PaymentState::Created,
            PaymentState::Paying,
            now,
        )
        .await
        .unwrap();
        // The same transition again finds the row moved on: a conflict, not a silent success.
        let again = pay_store::transition_payment(
            tx.c(),
            &pid,
            PaymentState::Created,
            PaymentState::Paying,
            now,
        )
        .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        // Illegal transitions never reach the database.
        let illegal = pay_store::transition_payment(
            tx.c(),
            &pid,
            PaymentState::Paying,
            PaymentState::Created,
            now,
        )
        .await;
        assert!(matches!(illegal, Err(StoreError::Domain(_))), "{illegal:?}");
        tx.commit().await.unwrap();
        let mut c = store.read().await.unwrap();
        assert_eq!(
            pay_store::payment(&mut c, &pid).await.unwrap().state,
            "paying"
        );
    }
);

both_stores!(
    an_event_is_posted_once_and_receivable_credit_is_cas,
    |env: TestEnv| async move {
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
    }
);

both_stores!(verify_reports_tampering, |env: TestEnv| async move {
    let store = env.store().await;
    let (_, rid, _) = fixture(&store).await;
    assert_verified(&store).await;
    let mut c = store.read().await.unwrap();
    // Someone edits a receivable behind the ledger's back…
    sqlx::query("UPDATE receivables SET paid_fen = 500 WHERE id = $1")
        .bind(&rid)
        .execute(&mut *c)
        .await
        .unwrap();
    let report = bursar_store::verify::run(&mut c).await.unwrap();
    assert!(!report.is_clean());
    assert!(
        report
            .problems()
            .iter()
            .any(|p| p.contains(&rid) && p.contains("ledger says")),
        "{}",
        report.render()
    );
    // …or a posting amount.
    sqlx::query("UPDATE receivables SET paid_fen = 0 WHERE id = $1")
        .bind(&rid)
        .execute(&mut *c)
        .await
        .unwrap();
    sqlx::query("UPDATE postings SET amount_fen = amount_fen + 1 WHERE amount_fen > 0")
        .execute(&mut *c)
        .await
        .unwrap();
    let report = bursar_store::verify::run(&mut c).await.unwrap();
    assert!(
        report
            .problems()
            .iter()
            .any(|p| p.contains("sums to 1 fen")),
        "{}",
        report.render()
    );
});
