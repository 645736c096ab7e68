//! Failed password attempts per client address, as Trilium limits its logins (10 per 15 minutes,
//! successful ones not counted). Shared by every endpoint that checks the document's password.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_FAILURES: usize = 10;
/// What Trilium's rate limiter answers (with 429).
pub const MESSAGE: &str = "Too many requests, please try again later.";

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl LoginLimiter {
    /// `false` when `addr` has used up its failed attempts for now.
    pub fn allows(&self, addr: IpAddr) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        failures.retain(|_, times| {
            times.retain(|t| now.duration_since(*t) < WINDOW);
            !times.is_empty()
        });
        failures.get(&addr).map_or(0, Vec::len) < MAX_FAILURES
    }

    pub fn record_failure(&self, addr: IpAddr) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).entry(addr).or_default().push(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_failure_in_the_window_is_refused_per_address() {
        let limiter = LoginLimiter::default();
        let (a, b) = (IpAddr::from([127, 0, 0, 1]), IpAddr::from([127, 0, 0, 2]));
        for _ in 0..MAX_FAILURES {
            assert!(limiter.allows(a));
            limiter.record_failure(a);
        }
        assert!(!limiter.allows(a));
        assert!(limiter.allows(b), "other addresses are not affected");
    }
}
