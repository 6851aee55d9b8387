//! Increments to apply to the buckets, summed in memory first so a batch of 1000 events becomes a few
//! dozen Redis operations inside one script call instead of thousands.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::member;
use crate::dashboard::Counts;
use crate::topology::{EventRecord, Kind};
use crate::window::Grain;

/// Per-bucket counter and product-view increments, for both grains.
#[derive(Clone, Debug, Default)]
pub struct Deltas {
    /// Counter increments per (grain, bucket).
    buckets: BTreeMap<(Grain, i64), Counts>,
    /// View increments per (grain, bucket, product).
    views: BTreeMap<(Grain, i64, i64), i64>,
}

impl Deltas {
    /// The increments of a batch of events (each counted in its minute and in its hour).
    pub fn from_events(events: &[EventRecord]) -> Self {
        let mut d = Self::default();
        for e in events {
            for grain in [Grain::Minute, Grain::Hour] {
                let bucket = grain.bucket(e.occurred_at);
                d.add_counts(grain, bucket, counts_of(e));
                if e.kind == Kind::View {
                    d.add_views(grain, bucket, e.product_id, 1);
                }
            }
        }
        d
    }

    /// Adds counter increments to one bucket.
    pub fn add_counts(&mut self, grain: Grain, bucket: i64, c: Counts) {
        let slot = self.buckets.entry((grain, bucket)).or_default();
        slot.views += c.views;
        slot.add_to_cart += c.add_to_cart;
        slot.orders += c.orders;
        slot.revenue_cents += c.revenue_cents;
    }

    /// Adds views of one product to one bucket.
    pub fn add_views(&mut self, grain: Grain, bucket: i64, product_id: i64, views: i64) {
        *self.views.entry((grain, bucket, product_id)).or_default() += views;
    }

    /// Number of entries (script work) held.
    pub fn len(&self) -> usize {
        self.buckets.len() + self.views.len()
    }

    /// True when there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The JSON the apply script reads (see `apply.lua`).
    pub fn to_json(&self) -> String {
        let b: Vec<Value> = self
            .buckets
            .iter()
            .map(|((g, b), c)| json!([g.tag(), b, c.views, c.add_to_cart, c.orders, c.revenue_cents, g.expire_at(*b)]))
            .collect();
        let p: Vec<Value> =
            self.views.iter().map(|((g, b, id), v)| json!([g.tag(), b, member(*id), v, g.expire_at(*b)])).collect();
        json!({ "b": b, "p": p, "w": super::windows_json() }).to_string()
    }
}

fn counts_of(e: &EventRecord) -> Counts {
    match e.kind {
        Kind::View => Counts { views: 1, ..Default::default() },
        Kind::AddToCart => Counts { add_to_cart: 1, ..Default::default() },
        Kind::Order => Counts { orders: 1, revenue_cents: e.amount_cents, ..Default::default() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_batch_sums_per_bucket_and_grain() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 30).unwrap();
        let ev = |kind, product_id, amount_cents| EventRecord {
            id: uuid::Uuid::now_v7(),
            occurred_at: at,
            kind,
            product_id,
            amount_cents,
        };
        let d = Deltas::from_events(&[ev(Kind::View, 5, 0), ev(Kind::View, 5, 0), ev(Kind::Order, 5, 700)]);
        // one minute bucket + one hour bucket, each with one product entry
        assert_eq!(d.len(), 4);
        let minute = d.buckets[&(Grain::Minute, Grain::Minute.bucket(at))];
        assert_eq!((minute.views, minute.orders, minute.revenue_cents), (2, 1, 700));
        assert_eq!(d.views[&(Grain::Hour, Grain::Hour.bucket(at), 5)], 2);
    }
}
