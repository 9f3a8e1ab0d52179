//! Login limits per source (network address) and across all sources, kept in memory and
//! bounded. With the per-account count (in the store, for existing accounts only) they decide
//! when a captcha is needed and when a source is turned away.
//!
//! A campus puts thousands of students behind a few NAT addresses, so no source is ever turned
//! away (one person inside could otherwise shut out everyone behind the same address): a busy
//! source is asked for a captcha. No limit ever blocks an account either: what an attacker can
//! trigger against someone else's account is a captcha, and — for one account guessed from one
//! source — a pace of a few checks a minute from that source only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The limits (defaults for a university; tests may tighten them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimits {
    /// Window over which a source's failures are counted.
    pub window_ms: i64,
    /// Failures from one source in a window after which its logins need a captcha.
    pub source_captcha_after: u32,
    /// Logins with an initial (never changed) password from one source per hour, after which
    /// each further one needs a captcha: spraying a fixed initial password is slowed.
    pub initial_logins_per_hour: u32,
    /// Failures across all sources within a minute after which every login needs a captcha
    /// (stuffing from many addresses).
    pub global_captcha_per_minute: u32,
    /// Sources remembered at most; when full, new sources are asked for a captcha.
    pub max_sources: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            window_ms: 15 * 60_000,
            source_captcha_after: 10,
            initial_logins_per_hour: 3,
            global_captcha_per_minute: 300,
            max_sources: 100_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    window_start_ms: i64,
    failures: u32,
    hour_start_ms: i64,
    initial_logins: u32,
}

#[derive(Default)]
struct State {
    sources: HashMap<IpAddr, Entry>,
    minute_start_ms: i64,
    global_failures: u32,
}

/// What the limits say about a login attempt from a source, before its password is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// A captcha must be solved (the source or the whole platform sees many failures).
    Captcha,
    /// Refused without checking anything, for this many more minutes.
    Blocked {
        minutes: i64,
    },
}

pub struct SourceLimits {
    limits: LoginLimits,
    state: Mutex<State>,
}

impl SourceLimits {
    pub fn new(limits: LoginLimits) -> SourceLimits {
        SourceLimits { limits, state: Mutex::new(State::default()) }
    }

    pub fn limits(&self) -> &LoginLimits {
        &self.limits
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock only means another request panicked mid-update of counters; the
        // counters are still usable.
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    fn entry<'a>(&self, st: &'a mut State, source: IpAddr, now_ms: i64) -> Option<&'a mut Entry> {
        let l = &self.limits;
        if !st.sources.contains_key(&source) && st.sources.len() >= l.max_sources {
            st.sources.retain(|_, e| now_ms - e.window_start_ms < l.window_ms || now_ms - e.hour_start_ms < 3_600_000);
            if st.sources.len() >= l.max_sources {
                return None;
            }
        }
        let e = st.sources.entry(source).or_default();
        if now_ms - e.window_start_ms >= l.window_ms {
            e.window_start_ms = now_ms;
            e.failures = 0;
        }
        if now_ms - e.hour_start_ms >= 3_600_000 {
            e.hour_start_ms = now_ms;
            e.initial_logins = 0;
        }
        Some(e)
    }

    /// The verdict for a login from `source` now.
    pub fn verdict(&self, source: IpAddr, now_ms: i64) -> Verdict {
        let l = self.limits;
        self.with(|st| {
            if now_ms - st.minute_start_ms >= 60_000 {
                st.minute_start_ms = now_ms;
                st.global_failures = 0;
            }
            let global_busy = st.global_failures >= l.global_captcha_per_minute;
            let Some(e) = self.entry(st, source, now_ms) else { return Verdict::Captcha };
            if global_busy || e.failures >= l.source_captcha_after {
                Verdict::Captcha
            } else {
                Verdict::Allowed
            }
        })
    }

    /// Counts a failed login from `source`.
    pub fn failed(&self, source: IpAddr, now_ms: i64) {
        self.with(|st| {
            if now_ms - st.minute_start_ms >= 60_000 {
                st.minute_start_ms = now_ms;
                st.global_failures = 0;
            }
            st.global_failures = st.global_failures.saturating_add(1);
            if let Some(e) = self.entry(st, source, now_ms) {
                e.failures = e.failures.saturating_add(1);
            }
        })
    }

    /// Whether a login with an initial password from `source` needs a captcha now (it does
    /// after [`LoginLimits::initial_logins_per_hour`] of them).
    pub fn initial_needs_captcha(&self, source: IpAddr, now_ms: i64) -> bool {
        let l = self.limits;
        self.with(|st| match self.entry(st, source, now_ms) {
            Some(e) => e.initial_logins >= l.initial_logins_per_hour,
            None => true,
        })
    }

    /// Counts a login with an initial password from `source`.
    pub fn initial_login(&self, source: IpAddr, now_ms: i64) {
        self.with(|st| {
            if let Some(e) = self.entry(st, source, now_ms) {
                e.initial_logins = e.initial_logins.saturating_add(1);
            }
        })
    }

    /// Sources remembered now (for tests and the bound).
    pub fn sources(&self) -> usize {
        self.with(|st| st.sources.len())
    }
}

/// At most `max` hits per key in a window (e.g. SMS codes asked from one network per hour);
/// bounded like the other limits.
pub struct WindowCounter {
    window_ms: i64,
    max: u32,
    hits: Mutex<HashMap<String, (i64, u32)>>,
}

/// Keys a [`WindowCounter`] remembers at most; when full of live ones, it refuses.
const MAX_COUNTER_KEYS: usize = 100_000;

impl WindowCounter {
    pub fn new(window_ms: i64, max: u32) -> WindowCounter {
        WindowCounter { window_ms, max, hits: Mutex::new(HashMap::new()) }
    }

    /// Counts a hit; false (not counted) when the key already had `max` in its window.
    pub fn hit(&self, key: &str, now_ms: i64) -> bool {
        let mut hits = match self.hits.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !hits.contains_key(key) && hits.len() >= MAX_COUNTER_KEYS {
            let w = self.window_ms;
            hits.retain(|_, (start, _)| now_ms - *start < w);
            if hits.len() >= MAX_COUNTER_KEYS {
                return false;
            }
        }
        let e = hits.entry(key.to_string()).or_insert((now_ms, 0));
        if now_ms - e.0 >= self.window_ms {
            *e = (now_ms, 0);
        }
        if e.1 >= self.max {
            return false;
        }
        e.1 += 1;
        true
    }
}

/// Tokens that may be used once (captcha answers), remembered until they expire; bounded.
#[derive(Default)]
pub struct OnceTokens {
    used: Mutex<HashMap<String, i64>>,
}

/// Tokens remembered at most; when full of live ones, further tokens are refused.
const MAX_ONCE_TOKENS: usize = 200_000;

impl OnceTokens {
    /// Marks `id` used; false when it was used before (or no room is left).
    pub fn consume(&self, id: &str, expires_ms: i64, now_ms: i64) -> bool {
        let mut used = match self.used.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if used.len() >= MAX_ONCE_TOKENS {
            used.retain(|_, exp| *exp > now_ms);
            if used.len() >= MAX_ONCE_TOKENS {
                return false;
            }
        }
        used.insert(id.to_string(), expires_ms).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn a_failing_source_gets_a_captcha_never_a_block_and_others_are_untouched() {
        let l = LoginLimits { source_captcha_after: 3, ..LoginLimits::default() };
        let s = SourceLimits::new(l);
        for _ in 0..3 {
            assert_eq!(s.verdict(ip(1), 0), Verdict::Allowed);
            s.failed(ip(1), 0);
        }
        assert_eq!(s.verdict(ip(1), 0), Verdict::Captcha);
        for _ in 0..1_000 {
            s.failed(ip(1), 1_000);
        }
        assert_eq!(s.verdict(ip(1), 60_000), Verdict::Captcha, "still only a captcha");
        assert_eq!(s.verdict(ip(2), 60_000), Verdict::Allowed, "another source");
        assert_eq!(s.verdict(ip(1), l.window_ms), Verdict::Allowed, "a new window");
    }

    #[test]
    fn many_failures_everywhere_ask_everyone_for_a_captcha() {
        let l = LoginLimits { global_captcha_per_minute: 5, ..LoginLimits::default() };
        let s = SourceLimits::new(l);
        for n in 0..5 {
            s.failed(ip(n), 0);
        }
        assert_eq!(s.verdict(ip(99), 1), Verdict::Captcha);
        assert_eq!(s.verdict(ip(99), 60_001), Verdict::Allowed);
    }

    #[test]
    fn initial_password_logins_are_slowed_per_source() {
        let s = SourceLimits::new(LoginLimits::default());
        for _ in 0..3 {
            assert!(!s.initial_needs_captcha(ip(1), 0));
            s.initial_login(ip(1), 0);
        }
        assert!(s.initial_needs_captcha(ip(1), 10));
        assert!(!s.initial_needs_captcha(ip(2), 10));
        assert!(!s.initial_needs_captcha(ip(1), 3_600_000));
    }

    #[test]
    fn a_window_counts_per_key() {
        let c = WindowCounter::new(1_000, 2);
        assert!(c.hit("a", 0) && c.hit("a", 1) && !c.hit("a", 2));
        assert!(c.hit("b", 2));
        assert!(c.hit("a", 1_000));
    }

    #[test]
    fn a_token_is_used_once() {
        let t = OnceTokens::default();
        assert!(t.consume("a", 100, 0));
        assert!(!t.consume("a", 100, 1));
        assert!(t.consume("b", 100, 1));
    }

    #[test]
    fn the_memory_is_bounded() {
        let s = SourceLimits::new(LoginLimits { max_sources: 100, ..LoginLimits::default() });
        for n in 0..1_000 {
            s.failed(ip(n), 0);
        }
        assert_eq!(s.sources(), 100);
        assert_eq!(s.verdict(ip(5_000), 0), Verdict::Captcha, "unknown sources when full");
        // Once old entries expire they make room.
        assert_eq!(s.verdict(ip(5_000), 3_600_000), Verdict::Allowed);
        assert!(s.sources() <= 100);
    }
}
