//! Time windows of the dashboards and the bucket arithmetic both levers share.
//!
//! A window is a whole number of buckets ending with the bucket `now` falls in: `15m` is the 15 minute
//! buckets up to and including the current minute, `7d` the 168 hour buckets up to the current hour.
//! Aligning windows to buckets is what lets the pre-aggregated answer equal the SQL one *exactly*: both
//! read the same half-open time range `[from, to)` and group by the same `floor(epoch / grain)`.

use chrono::{DateTime, TimeZone, Utc};
use kit::ApiError;

/// The size of one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Minute,
    Hour,
}

impl Grain {
    /// Seconds in one bucket.
    pub const fn secs(self) -> i64 {
        match self {
            Grain::Minute => 60,
            Grain::Hour => 3600,
        }
    }

    /// The name used in responses (`minute`, `hour`).
    pub const fn name(self) -> &'static str {
        match self {
            Grain::Minute => "minute",
            Grain::Hour => "hour",
        }
    }

    /// The one-letter tag in Redis keys (`m:<bucket>`, `h:<bucket>`).
    pub const fn tag(self) -> &'static str {
        match self {
            Grain::Minute => "m",
            Grain::Hour => "h",
        }
    }

    /// How many buckets Redis keeps before they expire: longer than the longest window of this grain
    /// (1 h of minutes, 7 d of hours) so a window can still subtract the bucket that leaves it.
    pub const fn retention(self) -> i64 {
        match self {
            Grain::Minute => 180,
            Grain::Hour => 192,
        }
    }

    /// When Redis drops `bucket` (unix seconds, for `EXPIREAT`).
    pub const fn expire_at(self, bucket: i64) -> i64 {
        (bucket + self.retention()) * self.secs()
    }

    /// The bucket `at` falls in: `floor(epoch_seconds / grain)`, the same expression the SQL uses.
    pub fn bucket(self, at: DateTime<Utc>) -> i64 {
        at.timestamp().div_euclid(self.secs())
    }

    /// Start time of `bucket`.
    pub fn start(self, bucket: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(bucket * self.secs(), 0).single().unwrap_or_default()
    }
}

/// A dashboard window (`?window=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    M15,
    H1,
    H24,
    D7,
}

impl Window {
    /// Every window, shortest first.
    pub const ALL: [Window; 4] = [Window::M15, Window::H1, Window::H24, Window::D7];

    /// Parses `15m|1h|24h|7d`; anything else is a 400 listing the valid values.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        Self::ALL.into_iter().find(|w| w.as_str() == raw).ok_or_else(|| {
            ApiError::bad_request("invalid_window", format!("window must be one of 15m, 1h, 24h, 7d (got '{raw}')"))
        })
    }

    /// The query-string form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Window::M15 => "15m",
            Window::H1 => "1h",
            Window::H24 => "24h",
            Window::D7 => "7d",
        }
    }

    /// Per-minute buckets for the short windows, per-hour for the long ones.
    pub const fn grain(self) -> Grain {
        match self {
            Window::M15 | Window::H1 => Grain::Minute,
            Window::H24 | Window::D7 => Grain::Hour,
        }
    }

    /// Number of buckets in the window.
    pub const fn size(self) -> i64 {
        match self {
            Window::M15 => 15,
            Window::H1 => 60,
            Window::H24 => 24,
            Window::D7 => 168,
        }
    }

    /// The buckets of this window at time `now`.
    pub fn range_at(self, now: DateTime<Utc>) -> Range {
        self.range_ending(self.grain().bucket(now))
    }

    /// The buckets of this window when its newest bucket is `last`.
    pub fn range_ending(self, last: i64) -> Range {
        Range { window: self, first: last - self.size() + 1, last }
    }
}

/// The buckets `first..=last` of one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub window: Window,
    /// Oldest bucket index (inclusive).
    pub first: i64,
    /// Newest bucket index (inclusive): the bucket "now" falls in.
    pub last: i64,
}

impl Range {
    /// The grain of the buckets.
    pub fn grain(&self) -> Grain {
        self.window.grain()
    }

    /// Start of the window (inclusive).
    pub fn from(&self) -> DateTime<Utc> {
        self.grain().start(self.first)
    }

    /// End of the window (exclusive): the end of the current bucket.
    pub fn to(&self) -> DateTime<Utc> {
        self.grain().start(self.last + 1)
    }

    /// Every bucket index, oldest first.
    pub fn buckets(&self) -> impl Iterator<Item = i64> {
        self.first..=self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_with_the_current_bucket() {
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 10, 30, 45).unwrap();
        let r = Window::M15.range_at(now);
        assert_eq!(r.to(), Utc.with_ymd_and_hms(2026, 1, 2, 10, 31, 0).unwrap());
        assert_eq!(r.from(), Utc.with_ymd_and_hms(2026, 1, 2, 10, 16, 0).unwrap());
        let r = Window::D7.range_at(now);
        assert_eq!(r.buckets().count(), 168);
        assert_eq!(r.to(), Utc.with_ymd_and_hms(2026, 1, 2, 11, 0, 0).unwrap());
    }

    #[test]
    fn bucket_floors_like_sql() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 10, 30, 59).unwrap();
        assert_eq!(Grain::Minute.start(Grain::Minute.bucket(at)), Utc.with_ymd_and_hms(2026, 1, 2, 10, 30, 0).unwrap());
        assert_eq!(Grain::Hour.start(Grain::Hour.bucket(at)), Utc.with_ymd_and_hms(2026, 1, 2, 10, 0, 0).unwrap());
    }

    #[test]
    fn unknown_window_is_a_400() {
        assert!(Window::parse("2h").is_err());
        assert_eq!(Window::parse("24h").unwrap(), Window::H24);
    }
}
