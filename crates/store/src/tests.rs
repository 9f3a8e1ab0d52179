//! The store's own tests, on SQLite and — when `BURSAR_TEST_POSTGRES_URL` is set — on
//! PostgreSQL (each run in a fresh schema): migrations, compare-and-set transitions, one live
//! payment per order, idempotent posting, job leases, the operation log's chain, and `verify`
//! catching tampering.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bursar_domain::access::{PayerPrincipal, Principal};
use bursar_domain::fee::{FeeItemStatus, FeeType};
use bursar_domain::payer::PayerKind;
use bursar_domain::payment::{PayMethod, PaymentState};
use bursar_domain::{Clock, Fen, SystemClock, UuidV7Ids};
use futures_util::future::BoxFuture;

use crate::jobs::{self, JobState, NewJob};
use crate::oplog::{self, Change};
use crate::payments::{self as pay, NewPayment};
use crate::{ledger, migrate, payers, receivables, Conn, Store, StoreError, Tx};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh store per backend available: SQLite always; PostgreSQL when configured (a failure
/// when `BURSAR_REQUIRE_POSTGRES=1` and it is not).
pub(crate) async fn stores() -> Vec<Store> {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let stamp = format!("{}_{}_{n}", std::process::id(), SystemClock.now_ms());
    let dir = std::env::temp_dir().join(format!("bursar-store-test-{stamp}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut urls = vec![format!("sqlite://{}?mode=rwc", dir.join("t.db").display())];
    match std::env::var("BURSAR_TEST_POSTGRES_URL") {
        Ok(base) => {
            sqlx::any::install_default_drivers();
            let schema = format!("st_{stamp}");
            let admin = sqlx::AnyPool::connect(&base).await.expect("connect to PostgreSQL");
            sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.expect("create schema");
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            urls.push(format!("{base}{sep}options=-c%20search_path%3D{schema}"));
        }
        Err(_) => assert_ne!(
            std::env::var("BURSAR_REQUIRE_POSTGRES").as_deref(),
            Ok("1"),
            "BURSAR_REQUIRE_POSTGRES=1 but BURSAR_TEST_POSTGRES_URL is not set"
        ),
    }
    let mut out = Vec::new();
    for url in urls {
        out.push(Store::open(&url, Arc::new(SystemClock), Arc::new(UuidV7Ids)).await.expect("open store"));
    }
    out
}

/// Runs `work` in one write transaction that is rolled back afterwards unless it fails first.
async fn in_tx<T: Send>(store: &Store, work: impl for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, T> + Send) -> T {
    let mut tx = store.begin().await.expect("begin");
    let out = work(&mut tx).await;
    tx.tx.rollback().await.expect("rollback");
    out
}

/// A payer with one receivable of 1,000.00 yuan; returns (payer id, receivable id, fee item id).
pub(crate) async fn fixture(store: &Store) -> (String, String, String) {
    store
        .write(|tx: &mut Tx| {
            Box::pin(async move {
                let now = tx.now_ms;
                let dept = tx.new_id();
                payers::insert_department(tx, &dept, "CW", "财务处").await?;
                let payer = tx.new_id();
                let p = payers::NewPayer {
                    kind: PayerKind::EnrolledStudent,
                    identifier: "S1",
                    name: "测试",
                    id_number_masked: "370***********1234",
                    id_number_digest: "d",
                    phone: "",
                    department_id: None,
                    class_name: "",
                    password_hash: "x",
                };
                payers::insert_payer(tx, &payer, &p, now).await?;
                let item = tx.new_id();
                let f = receivables::NewFeeItem {
                    code: "XF",
                    name: "学费",
                    department_id: &dept,
                    fee_type: FeeType::Tuition,
                    status: FeeItemStatus::Collecting,
                    window_start_ms: None,
                    window_end_ms: None,
                    partial_allowed: true,
                    min_partial: Fen(100),
                    requested_by: "system:cli",
                    request_note: "",
                    profile: &bursar_domain::audience::Profile::usual_for(FeeType::Tuition),
                };
                receivables::insert_fee_item(tx, &item, &f, now).await?;
                let rid = tx.new_id();
                receivables::insert_receivable(tx, &rid, &payer, &item, "2026-2027", Fen(100_000), now).await?;
                ledger::post(tx, &bursar_domain::ledger::receivable_raised(&rid, &item, Fen(100_000))?).await?;
                Ok::<_, StoreError>((payer, rid, item))
            })
        })
        .await
        .expect("fixture")
}

/// An open order of `amount` over the receivable; returns its id.
async fn order(tx: &mut Tx, payer: &str, rid: &str, amount: Fen) -> String {
    let id = tx.new_id();
    let now = tx.now_ms;
    pay::insert_order(tx, &id, payer, amount, now).await.expect("order");
    pay::insert_order_line(tx, &id, rid, amount, Fen(0)).await.expect("line");
    id
}

async fn payment(tx: &mut Tx, order_id: &str, payer: &str, amount: Fen) -> Result<String, StoreError> {
    let id = tx.new_id();
    let no = tx.new_id();
    let now = tx.now_ms;
    let p = NewPayment {
        id: &id,
        order_id,
        payer_id: payer,
        method: PayMethod::WechatNative,
        merchant_id: "m",
        merchant_order_no: &no,
        amount,
        expires_at_ms: now + 1000,
        collected_by: None,
    };
    pay::insert_payment(tx, &p, now).await.map(|()| id)
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for store in stores().await {
        assert!(migrate::run(&store).await.expect("migrate").is_empty(), "a second run applies nothing");
        let mut c = store.read().await.expect("conn");
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations").fetch_one(c.raw()).await.expect("count");
        assert_eq!(n, migrate::MIGRATIONS.len() as i64);
    }
}

#[tokio::test]
async fn payment_transitions_are_compare_and_set() {
    for store in stores().await {
        let (payer, rid, _) = fixture(&store).await;
        let pid = store
            .write(|tx: &mut Tx| {
                let (payer, rid) = (payer.clone(), rid.clone());
                Box::pin(async move {
                    let o = order(tx, &payer, &rid, Fen(100)).await;
                    let pid = payment(tx, &o, &payer, Fen(100)).await?;
                    let now = tx.now_ms;
                    pay::transition_payment(tx, &pid, PaymentState::Created, PaymentState::Paying, now).await?;
                    // The same transition again finds the row moved on: a conflict, not a
                    // silent success.
                    let again =
                        pay::transition_payment(tx, &pid, PaymentState::Created, PaymentState::Paying, now).await;
                    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
                    // Illegal transitions never reach the database.
                    let illegal =
                        pay::transition_payment(tx, &pid, PaymentState::Paying, PaymentState::Created, now).await;
                    assert!(matches!(illegal, Err(StoreError::Domain(_))), "{illegal:?}");
                    Ok::<_, StoreError>(pid)
                })
            })
            .await
            .expect("write");
        let mut c = store.read().await.expect("conn");
        assert_eq!(pay::payment(&mut c, &pid).await.expect("payment").state, PaymentState::Paying);
    }
}

#[tokio::test]
async fn an_order_has_one_live_payment_at_a_time() {
    for store in stores().await {
        let (payer, rid, _) = fixture(&store).await;
        let (o, first) = store
            .write(|tx: &mut Tx| {
                let (payer, rid) = (payer.clone(), rid.clone());
                Box::pin(async move {
                    let o = order(tx, &payer, &rid, Fen(100)).await;
                    let first = payment(tx, &o, &payer, Fen(100)).await?;
                    Ok::<_, StoreError>((o, first))
                })
            })
            .await
            .expect("first payment");
        // A unique rule aborts a PostgreSQL transaction, so each attempt gets its own.
        in_tx(&store, |tx| {
            let (o, payer) = (o.clone(), payer.clone());
            Box::pin(async move {
                let second = payment(tx, &o, &payer, Fen(100)).await;
                assert!(matches!(second, Err(StoreError::Duplicate(_))), "{second:?}");
            })
        })
        .await;
        // Once the first has failed, the order's slot is free again.
        in_tx(&store, |tx| {
            Box::pin(async move {
                let now = tx.now_ms;
                pay::transition_payment(tx, &first, PaymentState::Created, PaymentState::Failed, now)
                    .await
                    .expect("fail the first");
                let third = payment(tx, &o, &payer, Fen(100)).await.expect("a new payment after the first ended");
                assert_eq!(pay::live_payment_of_order(tx, &o).await.expect("live").map(|p| p.id), Some(third));
            })
        })
        .await;
    }
}

#[tokio::test]
async fn an_event_is_posted_once_and_receivable_credit_is_cas() {
    for store in stores().await {
        let (_, rid, item) = fixture(&store).await;
        in_tx(&store, |tx| {
            Box::pin(async move {
                let entry = bursar_domain::ledger::receivable_raised(&rid, &item, Fen(100_000)).expect("entry");
                let dup = ledger::post(tx, &entry).await;
                assert!(matches!(dup, Err(StoreError::AlreadyPosted(_))), "{dup:?}");
            })
        })
        .await;
        let rid2 = fixture_rid(&store).await;
        in_tx(&store, |tx| {
            Box::pin(async move {
                let now = tx.now_ms;
                // Crediting against a stale paid amount fails; so does crediting more than is owed.
                let stale = receivables::add_paid(tx, &rid2, Fen(5), Fen(10), now).await;
                assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
                let too_much = receivables::add_paid(tx, &rid2, Fen(0), Fen(100_001), now).await;
                assert!(matches!(too_much, Err(StoreError::Conflict(_))), "{too_much:?}");
            })
        })
        .await;
        let report = crate::verify::run(&store).await.expect("verify");
        assert!(report.is_clean(), "{}", report.render());
    }
}

async fn fixture_rid(store: &Store) -> String {
    let mut c = store.read().await.expect("conn");
    sqlx::query_scalar("SELECT id FROM receivables LIMIT 1").fetch_one(c.raw()).await.expect("receivable")
}

#[tokio::test]
async fn verify_reports_tampering() {
    for store in stores().await {
        let (_, rid, _) = fixture(&store).await;
        let report = crate::verify::run(&store).await.expect("verify");
        assert!(report.is_clean(), "{}", report.render());
        let mut c = store.read().await.expect("conn");
        // Someone edits a receivable behind the ledger's back…
        sqlx::query("UPDATE receivables SET paid_fen = 500 WHERE id = $1")
            .bind(&rid)
            .execute(c.raw())
            .await
            .expect("tamper");
        let report = crate::verify::run(&store).await.expect("verify");
        assert!(!report.is_clean());
        assert!(report.problems().iter().any(|p| p.contains(&rid) && p.contains("ledger says")), "{}", report.render());
        // …or a posting amount.
        sqlx::query("UPDATE receivables SET paid_fen = 0 WHERE id = $1")
            .bind(&rid)
            .execute(c.raw())
            .await
            .expect("undo");
        sqlx::query("UPDATE postings SET amount_fen = amount_fen + 1 WHERE amount_fen > 0")
            .execute(c.raw())
            .await
            .expect("tamper");
        let report = crate::verify::run(&store).await.expect("verify");
        assert!(report.problems().iter().any(|p| p.contains("sums to 1 fen")), "{}", report.render());
    }
}

#[tokio::test]
async fn operation_log_is_sealed_into_a_chain_that_detects_edits_and_deletions() {
    for store in stores().await {
        let by = Principal::Payer(PayerPrincipal { id: "u".into(), kind: PayerKind::EnrolledStudent, via_sso: false });
        for i in 0..5 {
            let id = format!("p{i}");
            let by = by.clone();
            store
                .write(|tx: &mut Tx| {
                    let (id, by) = (id.clone(), by.clone());
                    Box::pin(async move {
                        let change = Change {
                            action: "payment.create",
                            entity: "payment",
                            entity_id: &id,
                            before: "",
                            after: "created",
                            detail: "x",
                        };
                        oplog::append(tx, &by, &change).await
                    })
                })
                .await
                .expect("append");
        }
        let now = store.now_ms();
        let mut c = store.read().await.expect("conn");
        // Unsealed rows are not yet part of the chain; past the grace period they are reported.
        assert!(oplog::verify_chain(&mut c, now).await.expect("chain").is_empty());
        let late = oplog::verify_chain(&mut c, now + oplog::SEAL_GRACE_MS + 60_000).await.expect("chain");
        assert!(late.iter().any(|p| p.contains("5 rows have waited")), "{late:?}");
        assert_eq!(oplog::seal_all(&store).await.expect("seal"), 5);
        assert_eq!(oplog::seal_all(&store).await.expect("seal"), 0, "sealing twice seals nothing");
        assert!(oplog::verify_chain(&mut c, now).await.expect("chain").is_empty());

        let q = |sql: &'static str| sqlx::query(sql);
        q("UPDATE operation_log SET after_state = 'succeeded' WHERE seq = 2").execute(c.raw()).await.expect("edit");
        let problems = oplog::verify_chain(&mut c, now).await.expect("chain");
        assert!(problems.iter().any(|p| p.contains("row 2 was edited")), "{problems:?}");
        q("UPDATE operation_log SET after_state = 'created' WHERE seq = 2").execute(c.raw()).await.expect("undo");
        assert!(
            oplog::verify_chain(&mut c, now).await.expect("chain").is_empty(),
            "restoring the row restores the chain"
        );

        q("DELETE FROM operation_log WHERE seq = 3").execute(c.raw()).await.expect("delete");
        let problems = oplog::verify_chain(&mut c, now).await.expect("chain");
        assert!(problems.iter().any(|p| p.contains("missing")), "{problems:?}");

        // Deleting from the end is caught by the head, and `verify` reports it.
        q("DELETE FROM operation_log WHERE seq >= 3").execute(c.raw()).await.expect("delete");
        let problems = oplog::verify_chain(&mut c, now).await.expect("chain");
        assert!(problems.iter().any(|p| p.contains("deleted from the end")), "{problems:?}");
        let report = crate::verify::run(&store).await.expect("verify");
        assert!(!report.is_clean());
    }
}

#[tokio::test]
async fn jobs_are_leased_to_one_worker_at_a_time() {
    for store in stores().await {
        in_tx(&store, |c| {
            Box::pin(async move {
                // A lease that ran out counts as an attempt (the job may be what kills its workers).
                let job = NewJob {
                    kind: "payment.query",
                    dedupe_key: "p1",
                    payload: "p1",
                    run_at_ms: 1_000,
                    max_attempts: 3,
                };
                assert!(jobs::enqueue(c, "j1", &job, 0).await.expect("enqueue"));
                assert!(!jobs::enqueue(c, "j2", &job, 0).await.expect("enqueue"), "the same job is enqueued once");
                assert!(jobs::claim(c, "a", 999, 100).await.expect("claim").is_none(), "not due yet");

                let claimed = jobs::claim(c, "a", 1_000, 100).await.expect("claim").expect("due");
                assert_eq!(claimed.attempts, 1);
                assert!(jobs::claim(c, "b", 1_050, 100).await.expect("claim").is_none(), "leased to a");
                // a dies; its lease runs out; b takes over.
                let taken = jobs::claim(c, "b", 1_101, 100).await.expect("claim").expect("lease expired");
                assert_eq!(taken.lease_owner.as_deref(), Some("b"));
                let lost = jobs::complete(c, "j1", "a", 1_102).await;
                assert!(matches!(lost, Err(StoreError::Conflict(_))), "a lost its lease: {lost:?}");

                // b fails it: backoff, then dead after the last attempt.
                assert!(!jobs::fail(c, &taken, "b", "boom", 1_110, 1_000).await.expect("fail"));
                let row = jobs::job(c, "payment.query", "p1").await.expect("job").expect("row");
                assert_eq!(row.state, JobState::Queued);
                assert!(row.run_at_ms >= 1_110 + 1_000, "backed off");
                assert!(jobs::claim(c, "b", 1_200, 100).await.expect("claim").is_none());
                let again = jobs::claim(c, "b", row.run_at_ms, 100).await.expect("claim").expect("due again");
                assert_eq!(again.attempts, 3);
                assert!(jobs::fail(c, &again, "b", "boom", row.run_at_ms, 1_000).await.expect("fail"), "dead");
                let dead = jobs::job(c, "payment.query", "p1").await.expect("job").expect("row");
                assert_eq!(dead.state, JobState::Dead);

                // A rescheduled job starts its attempts afresh.
                let job2 =
                    NewJob { kind: "payment.query", dedupe_key: "p2", payload: "p2", run_at_ms: 0, max_attempts: 2 };
                jobs::enqueue(c, "j3", &job2, 0).await.expect("enqueue");
                let j = jobs::claim(c, "w", 10, 100).await.expect("claim").expect("due");
                jobs::reschedule(c, &j.id, "w", 500, 20).await.expect("reschedule");
                let row = jobs::job(c, "payment.query", "p2").await.expect("job").expect("row");
                assert_eq!((row.state, row.attempts, row.run_at_ms), (JobState::Queued, 0, 500));
            })
        })
        .await;
    }
}

#[tokio::test]
async fn the_operation_log_reads_in_pages_with_filters() {
    for store in stores().await {
        let by = Principal::Payer(PayerPrincipal { id: "u".into(), kind: PayerKind::EnrolledStudent, via_sso: false });
        for i in 0..7 {
            let (id, by) = (format!("e{}", i % 2), by.clone());
            store
                .write(|tx: &mut Tx| {
                    let (id, by) = (id.clone(), by.clone());
                    Box::pin(async move {
                        let change = Change {
                            action: "x.y",
                            entity: "thing",
                            entity_id: &id,
                            before: "",
                            after: "",
                            detail: "",
                        };
                        oplog::append(tx, &by, &change).await
                    })
                })
                .await
                .expect("append");
        }
        let mut c = store.read().await.expect("conn");
        let mut q =
            oplog::LogQuery { entity: Some("thing".into()), entity_id: Some("e0".into()), ..Default::default() };
        let first = oplog::page(&mut c, &q, 3).await.expect("page");
        assert_eq!(first.len(), 3);
        assert!(first.iter().all(|r| r.entity_id == "e0"));
        let last = first.last().expect("a row");
        q.after = Some((last.at_ms, last.id.clone()));
        let second = oplog::page(&mut c, &q, 3).await.expect("page");
        assert_eq!(second.len(), 1, "four rows of e0 in all");
        assert!(second[0].id < last.id || second[0].at_ms < last.at_ms, "older than the first page");
        let none = oplog::LogQuery { actor_id: Some("nobody".into()), ..Default::default() };
        assert!(oplog::page(&mut c, &none, 10).await.expect("page").is_empty());
        let window = oplog::LogQuery { from_ms: Some(i64::MAX - 1), ..Default::default() };
        assert!(oplog::page(&mut c, &window, 10).await.expect("page").is_empty());
    }
}
