//! Background work. For now: the active-query sweeper, which asks the channel about every payment
//! still waiting whose next query is due — recovering payments whose notification never came
//! (掉单) and closing expired ones at the channel. Several instances may run it at once: every
//! state change it causes is a compare-and-set in the engine, so racing sweepers cannot credit
//! twice.

use std::time::Duration;

use bursar_engine::{ApplyResult, Engine};
use bursar_store::payments;
use tokio::sync::watch;

/// One sweep: queries every due payment (up to `limit`) and returns how many were credited.
pub async fn sweep_payments(engine: &Engine, limit: i64) -> usize {
    let now = engine.store().now_ms();
    let due = match engine.store().read().await {
        Ok(mut c) => payments::due_for_query(&mut c, now, limit).await,
        Err(e) => Err(e),
    };
    let due = match due {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "payment sweep could not read due payments");
            return 0;
        }
    };
    let mut credited = 0;
    for p in due {
        match engine.query_payment(&p.id).await {
            Ok(ApplyResult::Credited { .. }) => {
                credited += 1;
                tracing::info!(payment = %p.id, merchant_order_no = %p.merchant_order_no, "recovered a payment by active query");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::info!(payment = %p.id, error = %e, "active query failed; rescheduled")
            }
        }
    }
    credited
}

/// Runs sweeps every `every` until `shutdown` turns true.
pub async fn run_payment_sweeper(
    engine: Engine,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        sweep_payments(&engine, 200).await;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
            }
        }
    }
}
