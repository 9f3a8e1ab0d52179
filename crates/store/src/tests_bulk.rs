//! Bulk writes (an import's receivables and their ledger entries), the per-item totals the
//! triggers keep, and the payer search by index — on SQLite and, when configured, PostgreSQL.

use bursar_domain::ledger::receivable_raised;
use bursar_domain::payer::PayerKind;
use bursar_domain::Fen;

use crate::payers::{self, NewPayer, PayerSearch};
use crate::receivables::{self, NewReceivable};
use crate::tests::{fixture, stores};
use crate::{ledger, Conn, StoreError, Tx};

/// Adds payers (number, name, class, masked ID number); returns their ids.
async fn add_payers(store: &crate::Store, people: &[(&str, &str, &str, &str)]) -> Vec<String> {
    let people: Vec<(String, String, String, String)> =
        people.iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string())).collect();
    store
        .write(|tx: &mut Tx| {
            let people = people.clone();
            Box::pin(async move {
                let mut ids = Vec::new();
                for (identifier, name, class_name, masked) in &people {
                    let id = tx.new_id();
                    let p = NewPayer {
                        kind: PayerKind::EnrolledStudent,
                        identifier,
                        name,
                        id_number_masked: masked,
                        id_number_digest: "d",
                        phone: "",
                        department_id: None,
                        class_name,
                        password_hash: "x",
                    };
                    let now = tx.now_ms;
                    payers::insert_payer(tx, &id, &p, now).await?;
                    ids.push(id);
                }
                Ok::<_, StoreError>(ids)
            })
        })
        .await
        .expect("payers")
}

/// Raises one receivable per payer in bulk (ids made here), with its ledger entry.
async fn raise(tx: &mut Tx, payers: &[String], item: &str, year: &str, amount: Fen) -> Result<Vec<String>, StoreError> {
    let ids: Vec<String> = payers.iter().map(|_| tx.new_id()).collect();
    let rows: Vec<NewReceivable> = payers
        .iter()
        .zip(&ids)
        .map(|(p, id)| NewReceivable { id, payer_id: p, fee_item_id: item, academic_year: year, due: amount, note: "" })
        .collect();
    receivables::insert_receivables(tx, &rows).await?;
    let entries = ids.iter().map(|id| receivable_raised(id, item, amount)).collect::<Result<Vec<_>, _>>()?;
    ledger::post_many(tx, &entries).await?;
    Ok(ids)
}

#[tokio::test]
async fn bulk_raising_posts_every_receivable_and_keeps_the_item_totals() {
    for store in stores().await {
        let (_, first, item) = fixture(&store).await;
        let people: Vec<(String, String)> = (0..700).map(|i| (format!("B{i:04}"), format!("批量{i}"))).collect();
        let refs: Vec<(&str, &str, &str, &str)> =
            people.iter().map(|(n, name)| (n.as_str(), name.as_str(), "", "")).collect();
        let ids = add_payers(&store, &refs).await;
        // More rows than one statement takes, so the chunks are exercised.
        let item2 = item.clone();
        let raised = store
            .write(|tx: &mut Tx| {
                let (ids, item) = (ids.clone(), item2.clone());
                Box::pin(async move { raise(tx, &ids, &item, "2027-2028", Fen(350_000)).await })
            })
            .await
            .expect("bulk raise");
        assert_eq!(raised.len(), 700);
        let report = crate::verify::run(&store).await.expect("verify");
        assert!(report.is_clean(), "{}", report.render());
        let mut c = store.read().await.expect("conn");
        let row = receivables::collection_by_item(&mut c, 0).await.expect("collection");
        let row = row.iter().find(|r| r.fee_item_id == item).expect("the item");
        assert_eq!((row.receivables, row.due_fen), (701, Fen(100_000 + 700 * 350_000)));
        drop(c);

        // Raising one of them again fails the whole batch (the engine runs it again), and
        // posting an event twice is refused.
        let (item2, again) = (item.clone(), ids[..1].to_vec());
        let twice = store
            .write(|tx: &mut Tx| {
                let (again, item) = (again.clone(), item2.clone());
                Box::pin(async move { raise(tx, &again, &item, "2027-2028", Fen(1)).await })
            })
            .await;
        assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
        let (item2, rid) = (item.clone(), raised[0].clone());
        let posted = store
            .write(|tx: &mut Tx| {
                let (item, rid) = (item2.clone(), rid.clone());
                Box::pin(async move {
                    let e = receivable_raised(&rid, &item, Fen(350_000))?;
                    ledger::post_many(tx, &[e]).await
                })
            })
            .await;
        assert!(matches!(posted, Err(StoreError::AlreadyPosted(_))), "{posted:?}");

        // A payment moves the totals with the receivable.
        let rid = first.clone();
        store
            .write(|tx: &mut Tx| {
                let rid = rid.clone();
                Box::pin(async move {
                    let now = tx.now_ms;
                    receivables::add_paid(tx, &rid, Fen(0), Fen(100_000), now).await
                })
            })
            .await
            .expect("paid");
        let mut c = store.read().await.expect("conn");
        let rows = receivables::collection_by_item(&mut c, 0).await.expect("collection");
        let row = rows.iter().find(|r| r.fee_item_id == item).expect("the item");
        assert_eq!((row.settled, row.paid_fen), (1, Fen(100_000)));
        assert_eq!(
            receivables::collection_totals(&mut c).await.expect("kept"),
            receivables::collection_from_receivables(&mut c).await.expect("summed")
        );

        // Totals edited behind the receivables' back are reported.
        sqlx::query("UPDATE receivable_totals SET paid_fen = paid_fen + 7 WHERE fee_item_id = $1")
            .bind(&item)
            .execute(c.raw())
            .await
            .expect("tamper");
        let report = crate::verify::run(&store).await.expect("verify");
        assert!(
            report.problems().iter().any(|p| p.contains(&item) && p.contains("totals kept")),
            "{}",
            report.render()
        );
    }
}

/// The numbers a search finds.
async fn found(c: &mut impl Conn, text: &str) -> Vec<String> {
    let search = PayerSearch { text, kind: None, departments: None, after: None, limit: 50 };
    payers::search(c, &search).await.expect("search").into_iter().map(|r| r.identifier).collect()
}

#[tokio::test]
async fn payers_are_found_by_number_name_class_and_id_number_last_four() {
    for store in stores().await {
        add_payers(
            &store,
            &[
                ("2026001", "张三", "计科2601", "110***********123X"),
                ("2026002", "李小明", "计科2601", "110***********5678"),
                ("2027001", "张三丰", "电气2701", "110***********9012"),
                ("9900", "王五", "", "110***********0001"),
            ],
        )
        .await;
        let mut c = store.read().await.expect("conn");
        assert_eq!(found(&mut c, "2026").await, ["2026001", "2026002"]);
        assert_eq!(found(&mut c, "张三").await, ["2026001", "2027001"]);
        // A given name without the surname: nothing by prefix, so the names are searched.
        assert_eq!(found(&mut c, "小明").await, ["2026002"]);
        assert_eq!(found(&mut c, "计科2601").await, ["2026001", "2026002"]);
        assert_eq!(found(&mut c, "123X").await, ["2026001"]);
        // Four digits: a number prefix or an ID number's last four.
        assert_eq!(found(&mut c, "9012").await, ["2027001"]);
        assert_eq!(found(&mut c, "0001").await, ["9900"]);
        // What is typed is never a pattern.
        assert!(found(&mut c, "%").await.len() == 4, "an empty search lists everyone");
        assert!(found(&mut c, "20_6").await.is_empty());
        // The cursor pages on: after the first, the second.
        let first = PayerSearch { text: "2026", kind: None, departments: None, after: None, limit: 1 };
        let first = payers::search(&mut c, &first).await.expect("search");
        assert_eq!(first.len(), 1);
        let after = (first[0].identifier.as_str(), first[0].id.as_str());
        let next = PayerSearch { text: "2026", kind: None, departments: None, after: Some(after), limit: 1 };
        let rows = payers::search(&mut c, &next).await.expect("search");
        assert_eq!(rows.iter().map(|r| r.identifier.as_str()).collect::<Vec<_>>(), ["2026002"]);
    }
}
