//! Failed password attempts, as Trilium limits its logins (10 per 15 minutes, successful ones not
//! counted). Logins are limited per client address ([`LoginLimiter`], shared by every endpoint that
//! checks the document's password); the protected-session password per login (its session key), so a
//! stolen session cookie cannot try passwords from many addresses.
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_FAILURES: usize = 10;
/// What Trilium's rate limiter answers (with 429).
pub const MESSAGE: &str = "Too many requests, please try again later.";

/// Failed attempts per key within [`WINDOW`].
pub struct FailureLimiter<K> {
    failures: Mutex<HashMap<K, Vec<Instant>>>,
}

/// Failed logins per client address.
pub type LoginLimiter = FailureLimiter<IpAddr>;

impl<K> Default for FailureLimiter<K> {
    fn default() -> Self {
        FailureLimiter { failures: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    /// `false` when `key` has used up its failed attempts for now.
    pub fn allows(&self, key: &K) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        failures.retain(|_, times| {
            times.retain(|t| now.duration_since(*t) < WINDOW);
            !times.is_empty()
        });
        failures.get(key).map_or(0, Vec::len) < MAX_FAILURES
    }

    pub fn record_failure(&self, key: &K) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).entry(key.clone()).or_default().push(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_failure_in_the_window_is_refused_per_key() {
        let limiter = LoginLimiter::default();
        let (a, b) = (IpAddr::from([127, 0, 0, 1]), IpAddr::from([127, 0, 0, 2]));
        for _ in 0..MAX_FAILURES {
            assert!(limiter.allows(&a));
            limiter.record_failure(&a);
        }
        assert!(!limiter.allows(&a));
        assert!(limiter.allows(&b), "other addresses are not affected");
    }
}
