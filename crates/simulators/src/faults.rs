//! Fault injection for the simulators, switchable while they run (`GET`/`POST /_faults/<channel>`
//! with a JSON body). Faults are how the engine's reliability is tested: notifications dropped,
//! doubled, delayed or reordered; API calls answered with an error or left to time out; payments
//! that succeed at the channel but are never notified; amounts reported differently; refunds that
//! fail.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Never deliver notifications (the payment succeeds at the channel; Bursar must ask).
    pub drop_notifications: bool,
    /// Deliver every notification twice.
    pub duplicate_notifications: bool,
    /// Wait this long before the first delivery attempt.
    pub notify_delay_ms: u64,
    /// Deliver notifications in a shuffled order (each held for a random 0–2 s).
    pub reorder_notifications: bool,
    /// Answer API calls with the channel's system error.
    pub api_errors: bool,
    /// Hold API answers for this long (longer than a client's timeout: the outcome is unknown).
    pub api_delay_ms: u64,
    /// Add this many fen to the amount reported in notifications and queries.
    pub amount_delta_fen: i64,
    /// Refunds end in failure.
    pub refunds_fail: bool,
}

/// The live switches of one simulator.
#[derive(Clone, Default)]
pub struct Faults(Arc<RwLock<FaultSettings>>);

impl Faults {
    pub fn get(&self) -> FaultSettings {
        self.0.read().map(|g| g.clone()).unwrap_or_default()
    }
    pub fn set(&self, s: FaultSettings) {
        if let Ok(mut g) = self.0.write() {
            *g = s;
        }
    }
    pub fn update(&self, f: impl FnOnce(&mut FaultSettings)) {
        if let Ok(mut g) = self.0.write() {
            f(&mut g);
        }
    }
    /// How long to hold the first delivery of a notification (delay plus reorder jitter).
    pub fn first_delivery_delay_ms(&self) -> u64 {
        use rand::Rng;
        let s = self.get();
        let jitter = if s.reorder_notifications { rand::thread_rng().gen_range(0..2_000) } else { 0 };
        s.notify_delay_ms + jitter
    }
    /// Sleeps when API answers are to be held.
    pub async fn hold_api(&self) {
        let ms = self.get().api_delay_ms;
        if ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }
}

/// `GET /_faults/<channel>` shows the switches; `POST` replaces them (JSON; unknown fields refused).
pub fn router(faults: Faults, path: &str) -> axum::Router {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Json;
    async fn show(State(f): State<Faults>) -> Json<FaultSettings> {
        Json(f.get())
    }
    async fn replace(
        State(f): State<Faults>,
        body: axum::body::Bytes,
    ) -> Result<Json<FaultSettings>, (StatusCode, String)> {
        let s: FaultSettings =
            serde_json::from_slice(&body).map_err(|e| (StatusCode::BAD_REQUEST, format!("bad fault settings: {e}")))?;
        f.set(s);
        Ok(Json(f.get()))
    }
    axum::Router::new().route(path, get(show).post(replace)).with_state(faults)
}
