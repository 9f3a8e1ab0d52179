//! Time and identity are injected so money paths can run as deterministic simulations.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch, UTC.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// New unique identifiers (text; UUIDv7 in production so they sort by creation time).
pub trait IdGen: Send + Sync + 'static {
    fn new_id(&self) -> String;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start_ms)))
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7Ids;

impl IdGen for UuidV7Ids {
    fn new_id(&self) -> String {
        uuid::Uuid::now_v7().simple().to_string()
    }
}

/// Deterministic ids for simulations: a prefix-free 32-hex-digit counter seeded per run.
#[derive(Clone, Debug)]
pub struct SeqIds {
    seed: u64,
    next: Arc<AtomicU64>,
}

impl SeqIds {
    pub fn new(seed: u64) -> Self {
        SeqIds { seed, next: Arc::new(AtomicU64::new(1)) }
    }
}

impl IdGen for SeqIds {
    fn new_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        format!("{:016x}{:016x}", self.seed, n)
    }
}

/// Whether two instants (in the same unit) are at most `window` apart, by checked arithmetic: a
/// timestamp far outside the range (`i64::MIN + now`) never wraps into the window.
pub fn within(a: i64, b: i64, window: i64) -> bool {
    a.checked_sub(b).is_some_and(|d| d.unsigned_abs() <= window.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_sortable_32_hex() {
        let ids = UuidV7Ids;
        let a = ids.new_id();
        let b = ids.new_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        let seq = SeqIds::new(7);
        assert!(seq.new_id() < seq.new_id());
    }

    #[test]
    fn windows_never_wrap() {
        let now = 1_764_000_000;
        assert!(within(now + 300, now, 300) && within(now - 300, now, 300));
        assert!(!within(now + 301, now, 300));
        assert!(!within(i64::MIN + now, now, 300));
        assert!(!within(i64::MIN, now, 300) && !within(i64::MAX, -now, 300));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1000);
        assert_eq!(c.now_ms(), 1000);
        c.advance_ms(500);
        assert_eq!(c.now_ms(), 1500);
    }
}
