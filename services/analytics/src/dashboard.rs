//! The dashboard document both levers produce, and how it is assembled from bucket counts.
//!
//! The levers differ only in *where* the per-bucket counts and the top products come from (a GROUP BY over
//! raw events, or buckets the aggregator keeps in Redis); the document is built here from those parts by
//! one function, so the two paths cannot drift apart in rounding, ordering or empty-bucket handling.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kit::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::window::Range;

/// How many products `top_products` lists.
pub const TOP_N: usize = 10;

/// A named dashboard (`/dashboards/{name}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dashboard {
    /// Views, carts, orders and revenue over time, plus the most viewed products.
    Overview,
}

impl Dashboard {
    /// Parses a dashboard name; an unknown one is a 404 listing the known ones.
    pub fn parse(name: &str) -> Result<Self, ApiError> {
        match name {
            "overview" => Ok(Self::Overview),
            other => Err(ApiError::NotFound(format!("no dashboard named '{other}' (known: overview)"))),
        }
    }

    /// The name in URLs and responses.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Overview => "overview",
        }
    }
}

/// Event counts of one bucket (or of a whole window).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub views: i64,
    pub add_to_cart: i64,
    pub orders: i64,
    /// Sum of `amount_cents` over `order` events.
    pub revenue_cents: i64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.views += o.views;
        self.add_to_cart += o.add_to_cart;
        self.orders += o.orders;
        self.revenue_cents += o.revenue_cents;
    }
}

/// The `overview` dashboard for one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Overview {
    /// Dashboard name (`overview`).
    pub dashboard: String,
    /// The requested window (`15m`, `1h`, `24h`, `7d`).
    pub window: String,
    /// Bucket size of `series` (`minute` or `hour`).
    pub grain: String,
    /// Start of the window (inclusive, bucket-aligned).
    pub from: DateTime<Utc>,
    /// End of the window (exclusive): the end of the current bucket.
    pub to: DateTime<Utc>,
    pub totals: Totals,
    /// The most viewed products in the window, most views first (ties: lower id first).
    pub top_products: Vec<TopProduct>,
    /// One point per bucket, oldest first, empty buckets included as zeros.
    pub series: Vec<Point>,
}

/// Sums over the whole window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Totals {
    pub views: i64,
    pub add_to_cart: i64,
    pub orders: i64,
    pub revenue_cents: i64,
    /// orders / views (0 when there were no views), rounded to 4 decimals.
    pub conversion_rate: f64,
}

/// One product of the top list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopProduct {
    pub product_id: i64,
    pub views: i64,
}

/// One bucket of the series.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Point {
    /// Start of the bucket.
    pub ts: DateTime<Utc>,
    pub views: i64,
    pub add_to_cart: i64,
    pub orders: i64,
    pub revenue_cents: i64,
}

impl Overview {
    /// Builds the document from per-bucket counts (missing buckets are zero) and the top products.
    pub fn build(range: Range, buckets: &HashMap<i64, Counts>, top: Vec<TopProduct>) -> Self {
        let mut total = Counts::default();
        let series = range
            .buckets()
            .map(|b| {
                let c = buckets.get(&b).copied().unwrap_or_default();
                total.add(&c);
                Point {
                    ts: range.grain().start(b),
                    views: c.views,
                    add_to_cart: c.add_to_cart,
                    orders: c.orders,
                    revenue_cents: c.revenue_cents,
                }
            })
            .collect();
        Self {
            dashboard: Dashboard::Overview.as_str().to_owned(),
            window: range.window.as_str().to_owned(),
            grain: range.grain().name().to_owned(),
            from: range.from(),
            to: range.to(),
            totals: Totals::from(total),
            top_products: top,
            series,
        }
    }
}

impl From<Counts> for Totals {
    fn from(c: Counts) -> Self {
        let rate = if c.views == 0 { 0.0 } else { (c.orders as f64 / c.views as f64 * 10_000.0).round() / 10_000.0 };
        Self {
            views: c.views,
            add_to_cart: c.add_to_cart,
            orders: c.orders,
            revenue_cents: c.revenue_cents,
            conversion_rate: rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::Window;

    #[test]
    fn empty_buckets_are_zero_points_and_totals_sum_the_series() {
        let range = Window::M15.range_ending(1000);
        let mut buckets = HashMap::new();
        buckets.insert(1000, Counts { views: 4, add_to_cart: 2, orders: 1, revenue_cents: 500 });
        buckets.insert(990, Counts { views: 6, ..Default::default() });
        buckets.insert(900, Counts { views: 99, ..Default::default() }); // outside the window
        let o = Overview::build(range, &buckets, vec![]);
        assert_eq!(o.series.len(), 15);
        assert_eq!(o.totals.views, 10);
        assert_eq!(o.totals.conversion_rate, 0.1);
        assert_eq!(o.series.last().map(|p| p.revenue_cents), Some(500));
    }
}
