//! Lever `product.cache_ttl_secs` — book chapter "Caching Strategies" (TTLs).
//!
//! The book: a 60 s TTL "expired entries too often", so popular products kept going back to the
//! database; raising it to 5 minutes (with background refresh so hot keys never expire under load) was
//! part of taking the hit rate from 25 % to 78 %. The cost: a longer TTL serves a changed row for longer
//! unless writes invalidate it — here every price update bumps the entry's version (see `cache`), so a
//! longer TTL costs memory, not correctness.
//!
//! Naive (60) and optimized (300) differ only in the number; it is read on every store, so a flip applies
//! to the next entry written.

use std::time::Duration;

use kit::flags::Flags;

/// The TTL entries are stored with now.
pub fn ttl(flags: &Flags) -> Duration {
    Duration::from_secs(flags.int("product.cache_ttl_secs").clamp(1, 86_400) as u64)
}

/// Refresh-ahead starts once less than this share of an entry's TTL is left (the book's "80 % of the TTL").
pub const REFRESH_WHEN_LEFT: f64 = 0.2;

/// True when an entry stored with `ttl_ms` and `remaining_ms` left is due for a background refresh.
pub fn due_for_refresh(ttl_ms: u64, remaining_ms: u64) -> bool {
    (remaining_ms as f64) < ttl_ms as f64 * REFRESH_WHEN_LEFT
}

#[cfg(test)]
mod tests {
    use super::due_for_refresh;

    #[test]
    fn refresh_window_is_the_last_fifth() {
        assert!(!due_for_refresh(300_000, 60_001));
        assert!(due_for_refresh(300_000, 59_999));
        assert!(due_for_refresh(60_000, 0));
    }
}
