//! The login throttle: failed logins are limited per account and per client, always.
//!
//! This is a security control, not one of the case study's levers: it is on whatever the flags say,
//! and it is distinct from `auth.rate_limit` (the per-client token bucket on every route, off in the
//! before state). It only counts **failed** logins, so honest traffic — k6's seeded users logging in
//! with the right password thousands of times a minute — never meets it, while password guessing does:
//!
//! - per account (the address, lower-cased, whether or not it exists): `account_burst` failures, then
//!   one more per `account_every` (5, then one per 30 s by default). A correct password clears it.
//! - per client (the peer address): `client_burst` failures, then one per `client_every` (30, then one
//!   per second), so one client cannot spray guesses over many accounts.
//!
//! A throttled login is answered 429 + `Retry-After` before any database query or hash. Each key is a
//! leaky bucket of failures (level and time: no timer per key). Memory is bounded: at most
//! `MAX_KEYS` keys per table; a full table first forgets the keys whose level has drained, and if it is
//! still full, new keys go untracked until it drains (the other table and the hashing bound still hold).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::settings::ThrottleSettings;

/// Most keys one table remembers.
const MAX_KEYS: usize = 100_000;

/// One leaky bucket per key.
struct Table {
    /// Failures allowed before the key is throttled.
    burst: f64,
    /// Time for one failure to drain.
    every: Duration,
    /// Key -> (failure level, when it was last updated).
    levels: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Table {
    fn new(burst: u32, every: Duration) -> Self {
        let every = every.max(Duration::from_millis(1));
        Self { burst: f64::from(burst.max(1)), every, levels: Mutex::default() }
    }

    /// The level of `key` at `now`, drained by the time since its last update.
    fn level(&self, entry: Option<&(f64, Instant)>, now: Instant) -> f64 {
        entry.map_or(0.0, |(level, at)| (level - now.duration_since(*at).as_secs_f64() / self.every.as_secs_f64()).max(0.0))
    }

    /// `Some(wait)` when `key` has used up its failures.
    fn check(&self, key: &str, now: Instant) -> Option<Duration> {
        let levels = self.levels.lock().expect("throttle poisoned");
        let level = self.level(levels.get(key), now);
        (level + 1.0 > self.burst).then(|| self.every.mul_f64(level + 1.0 - self.burst))
    }

    /// Adds one failure to `key`.
    fn fail(&self, key: &str, now: Instant) {
        let mut levels = self.levels.lock().expect("throttle poisoned");
        if !levels.contains_key(key) && levels.len() >= MAX_KEYS {
            let drained =
                |(level, at): &(f64, Instant)| *level <= now.duration_since(*at).as_secs_f64() / self.every.as_secs_f64();
            levels.retain(|_, entry| !drained(entry));
            if levels.len() >= MAX_KEYS {
                return;
            }
        }
        let level = self.level(levels.get(key), now);
        levels.insert(key.to_owned(), (level + 1.0, now));
    }

    fn forget(&self, key: &str) {
        self.levels.lock().expect("throttle poisoned").remove(key);
    }

    fn len(&self) -> usize {
        self.levels.lock().expect("throttle poisoned").len()
    }
}

/// Failed-login limits per account and per client.
pub struct LoginThrottle {
    accounts: Table,
    clients: Table,
}

impl LoginThrottle {
    pub fn new(s: &ThrottleSettings) -> Self {
        Self { accounts: Table::new(s.account_burst, s.account_every), clients: Table::new(s.client_burst, s.client_every) }
    }

    /// `Err(wait)` when this account or this client has failed too often lately.
    pub fn check(&self, account: &str, client: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let waits = [self.accounts.check(&account.to_lowercase(), now), self.clients.check(client, now)];
        match waits.into_iter().flatten().max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Records a failed login.
    pub fn failed(&self, account: &str, client: &str) {
        let now = Instant::now();
        self.accounts.fail(&account.to_lowercase(), now);
        self.clients.fail(client, now);
    }

    /// Records a successful login: the account's failures are forgiven (the client's are not).
    pub fn succeeded(&self, account: &str) {
        self.accounts.forget(&account.to_lowercase());
    }

    /// Keys tracked, for `GET /admin/flags`.
    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({ "accounts_tracked": self.accounts.len(), "clients_tracked": self.clients.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ThrottleSettings {
        ThrottleSettings {
            account_burst: 3,
            account_every: Duration::from_secs(30),
            client_burst: 5,
            client_every: Duration::from_secs(1),
        }
    }

    #[test]
    fn an_account_is_throttled_after_its_failures_and_forgiven_by_a_success() {
        let t = LoginThrottle::new(&settings());
        for _ in 0..3 {
            assert!(t.check("Ada@x.test", "ip:a").is_ok());
            t.failed("Ada@x.test", "ip:a");
        }
        let wait = t.check("ada@X.test", "ip:b").expect_err("3 failures: the account waits, from any client");
        assert!(wait > Duration::from_secs(29) && wait <= Duration::from_secs(30), "{wait:?}");
        t.succeeded("ADA@x.test");
        assert!(t.check("ada@x.test", "ip:b").is_ok());
    }

    #[test]
    fn a_client_is_throttled_across_accounts() {
        let t = LoginThrottle::new(&settings());
        for i in 0..5 {
            t.failed(&format!("u{i}@x.test"), "ip:a");
        }
        assert!(t.check("fresh@x.test", "ip:a").is_err(), "5 failures over 5 accounts");
        assert!(t.check("fresh@x.test", "ip:b").is_ok(), "another client");
    }

    #[test]
    fn failures_drain_with_time() {
        let table = Table::new(2, Duration::from_secs(1));
        let t0 = Instant::now();
        table.fail("k", t0);
        table.fail("k", t0);
        assert!(table.check("k", t0).is_some());
        assert!(table.check("k", t0 + Duration::from_millis(1001)).is_none(), "one failure drained");
    }
}
