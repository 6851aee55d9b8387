//! Lever `product.cache_ttl_secs` — book chapter "Caching Strategies" (TTLs).
//!
//! The book: a 60 s TTL "expired entries too often", so popular products kept going back to the
//! database; raising it to 5 minutes (with background refresh so hot keys never expire under load) was
//! part of taking the hit rate from 25 % to 78 %. The cost: a longer TTL serves a changed row for longer
//! unless writes invalidate it — here every price update bumps the entry's version (see `cache`), so a
//! longer TTL costs memory, not correctness.
//!
//! Naive (60) and optimized (300) differ only in the number; it is read on every store, so a flip applies
//! to the next entry written. When a stored entry is refreshed is the `product.refresh_ahead` lever's
//! business (`refresh_ahead.rs`), not this one's.

use std::time::Duration;

use kit::flags::Flags;

/// The TTL entries are stored with now.
pub fn ttl(flags: &Flags) -> Duration {
    Duration::from_secs(flags.int("product.cache_ttl_secs").clamp(1, 86_400) as u64)
}
