//! What the product API answers, and the validated input it accepts.
//!
//! The response types are shared by the naive and the eager loaders so both produce byte-identical JSON:
//! the `product.eager_loading` lever changes how many queries a page costs, never what a client sees.
//! Input newtypes ([`Limit`], [`Cursor`], [`SearchText`]) parse once at the edge and answer bad input with
//! a JSON 400 naming the parameter.

use kit::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Page size when `limit` is absent; a page of 20 costs 81 queries the naive way (4 per product + 1;
/// the book says "dozens").
pub const DEFAULT_LIMIT: i64 = 20;
/// Largest page a client may ask for, so one request cannot ask for the whole catalogue.
pub const MAX_LIMIT: i64 = 100;

/// A product's category with its path from the top of the tree (the catalogue is two levels deep).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CategoryRef {
    pub id: i32,
    pub name: String,
    /// Names from the top-level category down to this one, e.g. `["Category 3", "Category 23"]`.
    pub path: Vec<String>,
}

/// The current price: the newest price row whose `valid_from` is not in the future.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Price {
    pub amount_cents: i64,
    pub currency: String,
}

/// Stock of one product in one warehouse.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct WarehouseStock {
    pub warehouse_id: i32,
    pub quantity: i32,
}

/// One product in a listing or a search result.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ProductItem {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub brand: String,
    pub popularity: i32,
    pub category: CategoryRef,
    /// `null` when the product has no valid price yet.
    pub price: Option<Price>,
    /// Total quantity over every warehouse.
    pub stock: i64,
    /// Full shape only (`?fields=full`, or every listing while `product.summary_fields` is off): the long
    /// description. Absent from the summary shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Full shape only: the specifications, an object of named values (several KB).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Value>,
    /// Full shape only: quantity per warehouse, by warehouse id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouses: Option<Vec<WarehouseStock>>,
}

/// A product's detail page.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ProductDetail {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub description: String,
    /// The specifications: an object of named values.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    pub brand: String,
    pub popularity: i32,
    pub category: CategoryRef,
    pub price: Option<Price>,
    /// Total quantity over every warehouse.
    pub stock: i64,
    /// Quantity per warehouse, by warehouse id.
    pub warehouses: Vec<WarehouseStock>,
}

/// Which shape a listing or search item has: `summary` (what a result list shows) or `full` (the whole
/// document: description, specifications, stock per warehouse). See `levers::summary_fields`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fields {
    #[default]
    Summary,
    Full,
}

/// A page of products; `next_cursor` is `null` on the last page.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Page {
    pub items: Vec<ProductItem>,
    pub next_cursor: Option<String>,
}

/// A category as listed by `GET /categories`.
#[derive(Clone, Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Category {
    pub id: i32,
    pub parent_id: Option<i32>,
    pub name: String,
    pub slug: String,
}

/// Query of `GET /products`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// Only products of this category (an id from `GET /categories`); all products when absent.
    #[param(minimum = 1)]
    pub category: Option<i32>,
    /// Page size, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub cursor: Option<String>,
    /// `full` asks for whole documents (description, attributes, stock per warehouse); the default is the
    /// summary shape while `product.summary_fields` is on, and the full shape while it is off.
    pub fields: Option<Fields>,
}

/// Query of `GET /search`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchParams {
    /// Words to look for in name, brand and description (web search syntax: `"quoted phrase"`, `-not`, `or`).
    #[param(required = true, min_length = 1)]
    pub q: Option<String>,
    /// Page size, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub cursor: Option<String>,
    /// `full` asks for whole documents (description, attributes, stock per warehouse); the default is the
    /// summary shape while `product.summary_fields` is on, and the full shape while it is off.
    pub fields: Option<Fields>,
}

/// Body of `PUT /products/{id}/price`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewPrice {
    /// The new price in cents: 0 to 2^53 - 1 (the largest integer a JavaScript client reads exactly).
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub amount_cents: i64,
    /// ISO 4217 code, three capital letters (default `EUR`).
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
}

/// Answer of `PUT /products/{id}/price`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceChanged {
    pub product_id: i64,
    pub price: Price,
    pub valid_from: chrono::DateTime<chrono::Utc>,
}

/// A validated page size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit(pub i64);

impl Limit {
    pub fn parse(raw: Option<i64>) -> Result<Self, ApiError> {
        match raw.unwrap_or(DEFAULT_LIMIT) {
            n @ 1..=MAX_LIMIT => Ok(Self(n)),
            n => Err(ApiError::bad_request("invalid_limit", format!("limit must be between 1 and {MAX_LIMIT}, got {n}"))),
        }
    }
}

/// Where a page starts: after the product with this (popularity, id), in "popularity desc, id" order,
/// which is also `offset` rows from the top.
///
/// A page can be fetched either way (the `product.keyset_pagination` lever): keyset pages start at the
/// position (an index range scan, page 500 as cheap as page 1), `OFFSET` pages skip `offset` rows. The
/// cursor carries both, so a cursor handed out in one mode still works after a flip and both modes return
/// the same page for it. The wire form is 32 hex digits, opaque to clients: offset (8), popularity (8),
/// id (16). A cursor whose offset is 0 but which is not the first page's came from before offsets were
/// recorded; it is always served by position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub popularity: i32,
    pub id: i64,
    /// Rows before this page (what `OFFSET` skips).
    pub offset: i64,
}

impl Cursor {
    /// The start of the first page: sorts before every product.
    pub const FIRST: Cursor = Cursor { popularity: i32::MAX, id: 0, offset: 0 };
    /// The largest offset the wire form holds.
    pub const MAX_OFFSET: i64 = u32::MAX as i64;

    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let Some(raw) = raw else { return Ok(Self::FIRST) };
        let bad = || ApiError::bad_request("invalid_cursor", "cursor must be a next_cursor value from a previous page");
        if raw.len() != 32 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let offset = u32::from_str_radix(&raw[..8], 16).map_err(|_| bad())?;
        let popularity = u32::from_str_radix(&raw[8..16], 16).map_err(|_| bad())?;
        let id = u64::from_str_radix(&raw[16..], 16).map_err(|_| bad())?;
        let popularity = i32::try_from(popularity).map_err(|_| bad())?;
        let id = i64::try_from(id).map_err(|_| bad())?;
        Ok(Self { popularity, id, offset: i64::from(offset) })
    }

    pub fn encode(&self) -> String {
        let offset = self.offset.clamp(0, Self::MAX_OFFSET);
        format!("{offset:08x}{:08x}{:016x}", self.popularity.max(0), self.id)
    }

    /// The cache-key form: `first` for the first page, the wire form otherwise.
    pub fn key(&self) -> String {
        if *self == Self::FIRST { "first".to_owned() } else { self.encode() }
    }
}

/// A search text: trimmed, whitespace collapsed, lower-cased (so equal searches share one cache entry).
#[derive(Clone, Debug, PartialEq)]
pub struct SearchText(pub String);

impl SearchText {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let text = raw.unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        match text.chars().count() {
            0 => Err(ApiError::bad_request("invalid_query", "q is required, e.g. /search?q=kettle")),
            1..=100 => Ok(Self(text)),
            _ => Err(ApiError::bad_request("invalid_query", "q must be at most 100 characters")),
        }
    }
}

/// A validated product id (path parameter).
pub fn product_id(raw: i64) -> Result<i64, ApiError> {
    if raw < 1 {
        return Err(ApiError::bad_request("invalid_id", format!("product id must be a positive integer, got {raw}")));
    }
    Ok(raw)
}

/// A validated category filter.
pub fn category_id(raw: Option<i32>) -> Result<Option<i32>, ApiError> {
    match raw {
        Some(c) if c < 1 => {
            Err(ApiError::bad_request("invalid_category", format!("category must be a positive integer, got {c}")))
        }
        other => Ok(other),
    }
}

/// The largest price accepted: 2^53 - 1, the largest integer a JSON client in JavaScript (k6, the
/// console, a browser) reads exactly. A larger one would be stored and then shown as a different number.
/// The OpenAPI `maximum` of [`NewPrice::amount_cents`] repeats this value (utoipa takes literals only).
pub const MAX_AMOUNT_CENTS: i64 = (1 << 53) - 1;

impl NewPrice {
    /// Checks the amount and currency; returns the currency to store.
    pub fn validate(&self) -> Result<String, ApiError> {
        if self.amount_cents < 0 {
            return Err(ApiError::unprocessable("invalid_price", "amount_cents must be >= 0"));
        }
        if self.amount_cents > MAX_AMOUNT_CENTS {
            return Err(ApiError::unprocessable(
                "invalid_price",
                format!("amount_cents must be at most {MAX_AMOUNT_CENTS}, got {}", self.amount_cents),
            ));
        }
        let currency = self.currency.clone().unwrap_or_else(|| "EUR".to_owned());
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ApiError::unprocessable("invalid_currency", "currency must be three capital letters, e.g. EUR"));
        }
        Ok(currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor { popularity: 1234, id: 42, offset: 9980 };
        assert_eq!(Cursor::parse(Some(&c.encode())).unwrap(), c);
        assert_eq!(Cursor::parse(None).unwrap(), Cursor::FIRST);
        // a cursor from before offsets were recorded reads as offset 0
        let legacy = format!("{:016x}{:016x}", 1234, 42);
        assert_eq!(Cursor::parse(Some(&legacy)).unwrap(), Cursor { popularity: 1234, id: 42, offset: 0 });
        for bad in ["", "abc", "zz000000000000000000000000000000", &"f".repeat(32), &"0".repeat(33)] {
            assert!(Cursor::parse(Some(bad)).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn price_is_bounded_and_currency_checked() {
        let price = |amount_cents, currency: Option<&str>| NewPrice { amount_cents, currency: currency.map(str::to_owned) };
        assert_eq!(price(0, None).validate().unwrap(), "EUR");
        assert_eq!(price(MAX_AMOUNT_CENTS, Some("USD")).validate().unwrap(), "USD");
        assert!(price(-1, None).validate().is_err());
        assert!(price(MAX_AMOUNT_CENTS + 1, None).validate().is_err());
        assert!(price(i64::MAX, None).validate().is_err());
        assert!(price(100, Some("eur")).validate().is_err());
    }

    #[test]
    fn limit_is_bounded() {
        assert_eq!(Limit::parse(None).unwrap(), Limit(20));
        assert_eq!(Limit::parse(Some(100)).unwrap(), Limit(100));
        assert!(Limit::parse(Some(0)).is_err());
        assert!(Limit::parse(Some(101)).is_err());
    }

    #[test]
    fn search_text_is_normalised() {
        assert_eq!(SearchText::parse(Some("  Acme   KETTLE ")).unwrap(), SearchText("acme kettle".into()));
        assert!(SearchText::parse(Some("   ")).is_err());
        assert!(SearchText::parse(None).is_err());
        assert!(SearchText::parse(Some(&"x".repeat(101))).is_err());
    }
}
