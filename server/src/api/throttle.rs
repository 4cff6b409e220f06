//! Wrong admin tokens are rate limited per client address: at most [`FAILURES`] wrong tokens in
//! a [`WINDOW`] from one address; after that every login from it, right or wrong, gets 429 with
//! `Retry-After` until the window that began with its first failure ends. A success clears the
//! address's count. Cairn's own token is 256 random bits (guessing is hopeless anyway), but one
//! set through `CAIRN_ADMIN_TOKEN` may be weak, and `cairn serve` listens on the install network.
//!
//! Per address, not global, so that someone guessing cannot lock the operator out from another
//! machine. The address comes from the connection (`conn` puts it in the request's extensions);
//! requests without one (the router driven in-process) share one count.
//!
//! Must not: check a token while an address is blocked (that is what an attacker wants).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong tokens allowed per address per window.
pub const FAILURES: u32 = 10;
/// The window, from an address's first wrong token.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; older windows are dropped first when full.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Default)]
pub struct Throttle {
    seen: Mutex<HashMap<Option<IpAddr>, (Instant, u32)>>,
}

impl Throttle {
    /// `Err(wait)` when `addr` may not try now.
    pub fn check(&self, addr: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get(&addr) {
            Some((start, n)) if *n >= FAILURES && now < *start + WINDOW => {
                Err(*start + WINDOW - now)
            }
            _ => Ok(()),
        }
    }

    /// A wrong token from `addr`.
    pub fn failed(&self, addr: Option<IpAddr>, now: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_ADDRESSES && !seen.contains_key(&addr) {
            seen.retain(|_, (start, _)| now < *start + WINDOW);
            if seen.len() >= MAX_ADDRESSES {
                // Still full of live windows: forget the oldest rather than grow.
                if let Some(oldest) = seen.iter().min_by_key(|(_, (s, _))| *s).map(|(k, _)| *k) {
                    seen.remove(&oldest);
                }
            }
        }
        let e = seen.entry(addr).or_insert((now, 0));
        if now >= e.0 + WINDOW {
            *e = (now, 0);
        }
        e.1 += 1;
    }

    /// A right token from `addr`.
    pub fn succeeded(&self, addr: Option<IpAddr>) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&addr);
    }
}

/// The message of the 429 (pinned by tests).
pub fn message(wait: Duration) -> String {
    format!(
        "too many wrong tokens from this address: wait {} s before trying again",
        wait.as_secs().max(1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_wrong_tokens_per_address_per_minute_then_blocked_until_the_window_ends() {
        let t = Throttle::default();
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for i in 0..FAILURES {
            assert_eq!(t.check(a, t0), Ok(()), "attempt {i}");
            t.failed(a, t0);
        }
        let later = t0 + Duration::from_secs(15);
        assert_eq!(t.check(a, later), Err(Duration::from_secs(45)));
        assert_eq!(
            message(Duration::from_secs(45)),
            "too many wrong tokens from this address: wait 45 s before trying again"
        );
        // Another address is not affected.
        assert_eq!(t.check(b, later), Ok(()));
        // The window ends: ten more tries.
        let next = t0 + WINDOW;
        assert_eq!(t.check(a, next), Ok(()));
        t.failed(a, next);
        assert_eq!(t.check(a, next), Ok(()));
        // A right token clears the count.
        for _ in 0..FAILURES {
            t.failed(b, later);
        }
        assert!(t.check(b, later).is_err());
        t.succeeded(b);
        assert_eq!(t.check(b, later), Ok(()));
    }

    #[test]
    fn memory_stays_bounded() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 + 50) {
            t.failed(Some(IpAddr::from(i.to_be_bytes())), t0);
        }
        assert!(t.seen.lock().unwrap().len() <= MAX_ADDRESSES);
    }
}
