//! Lever `product.eager_loading` — book chapter "Database and Storage Selection" (N+1 and eager loading).
//!
//! The book: traces of the slow product API showed most of its time in the database, "mostly N+1 queries
//! for each product's category, inventory and pricing"; loading the related rows eagerly with JOINs took a
//! page from dozens of queries to 2. The cost: the queries are bigger and the code that stitches rows
//! back together is yours, not the ORM's.
//!
//! Both paths are here, side by side, and build the same [`ProductItem`]/[`ProductDetail`] values:
//!
//! - **naive** (off): what an ORM-style loop does. One query for the page, then for every product its
//!   category, the category's parent (for the path), its current price and its stock: `1 + 4N` queries,
//!   81 for a page of 20 (a detail page is 5). Each runs through `kit::db::traced`, so a trace shows 81
//!   database spans.
//! - **eager** (on): one query for the page JOINed with its categories, then one batch query for the
//!   prices and stock of every product on the page (`product_id = any($1)`): 2 queries whatever the page
//!   size.
//!
//! Without the composite indexes every per-product price or stock lookup is a sequential scan of the
//! table, which is why the two levers multiply: N+1 turns one scan into N.

use std::collections::HashMap;

use kit::db::{Db, traced};
use kit::flags::Flags;
use serde_json::Value as Json;
use sqlx::PgConnection;

use crate::model::{CategoryRef, Cursor, Limit, Page, Price, ProductDetail, ProductItem, WarehouseStock};

/// Which products a page lists.
#[derive(Clone, Debug)]
pub enum Filter {
    /// Every product (`GET /products`).
    All,
    /// One category (`GET /products?category=7`).
    Category(i32),
    /// A full-text search (`GET /search?q=...`), in `websearch_to_tsquery` syntax.
    Search(String),
}

/// One page request: filter, start, size and shape. Order is always popularity desc, id.
#[derive(Clone, Debug)]
pub struct PageQuery {
    pub filter: Filter,
    pub cursor: Cursor,
    pub limit: Limit,
    /// Full documents (description, attributes, stock per warehouse) instead of the summary shape; the
    /// `product.summary_fields` lever decides (the page query then reads the large columns too).
    pub full: bool,
    /// Start at the cursor's position (keyset) rather than skip its offset (`OFFSET`): the
    /// `product.keyset_pagination` lever's choice (`keyset_pagination::seek`).
    pub keyset: bool,
}

/// Loads one page of products through the path the flag selects.
pub async fn page(db: &Db, flags: &Flags, q: &PageQuery) -> Result<Page, sqlx::Error> {
    let mut conn = db.acquire().await?;
    if flags.bool("product.eager_loading") { eager::page(&mut conn, q).await } else { naive::page(&mut conn, q).await }
}

/// Loads the detail pages of `ids` (missing ids are left out) through the path the flag selects.
pub async fn details(db: &Db, flags: &Flags, ids: &[i64]) -> Result<Vec<ProductDetail>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    if flags.bool("product.eager_loading") { eager::details(&mut conn, ids).await } else { naive::details(&mut conn, ids).await }
}

/// The page query: keyset condition (`$1` popularity, `$2` id), page size `$3`, optional filter on `$4`.
/// Fetches one row more than the page so the caller knows whether there is a next page.
macro_rules! page_sql {
    ($select:expr, $filter:expr) => {
        concat!(
            $select,
            " where p.popularity <= $1 and (p.popularity < $1 or p.id > $2)",
            $filter,
            " order by p.popularity desc, p.id limit $3"
        )
    };
}
/// The same page the `OFFSET` way (`$1` rows to skip, page size `$2`, optional filter on `$3`): every
/// skipped row is read and thrown away.
macro_rules! offset_sql {
    ($select:expr, $filter:expr) => {
        concat!($select, $filter, " order by p.popularity desc, p.id offset $1 limit $2")
    };
}
macro_rules! naive_select {
    ($doc:expr) => {
        concat!("select p.id, p.sku, p.name, p.brand, p.popularity, p.category_id, ", $doc, " from product.products p")
    };
}
macro_rules! eager_select {
    ($doc:expr) => {
        concat!(
            "select p.id, p.sku, p.name, p.brand, p.popularity, c.id, c.name, parent.name, ",
            $doc,
            " from product.products p join product.categories c on c.id = p.category_id \
              left join product.categories parent on parent.id = c.parent_id"
        )
    };
}
/// The document columns of a full page, or nulls of their types for a summary page (large columns left unread).
macro_rules! full_doc {
    () => {
        "p.description, p.attributes"
    };
}
macro_rules! no_doc {
    () => {
        "null::text, null::jsonb"
    };
}

pub mod sql;

/// The document columns of a page row: description and attributes, null in the summary shape.
type Doc = (Option<String>, Option<Json>);
/// A product row as the page query returns it (before its relations are loaded).
type ProductRow = (i64, String, String, String, i32, i32, Option<String>, Option<Json>);
/// A product row JOINed with its category (id, name) and the parent's name.
type JoinedRow = (i64, String, String, String, i32, i32, String, Option<String>, Option<String>, Option<Json>);
/// A detail row JOINed with its category and the parent's name.
type DetailRow = (i64, String, String, String, Json, String, i32, i32, String, Option<String>);

/// A listing item: the summary fields, plus the document fields when the page is full.
#[allow(clippy::too_many_arguments)]
fn item(
    id: i64,
    sku: String,
    name: String,
    brand: String,
    popularity: i32,
    category: CategoryRef,
    price: Option<Price>,
    warehouses: Vec<WarehouseStock>,
    (description, attributes): Doc,
    full: bool,
) -> ProductItem {
    let stock = warehouses.iter().map(|w| i64::from(w.quantity)).sum();
    let warehouses = full.then_some(warehouses);
    ProductItem { id, sku, name, brand, popularity, category, price, stock, description, attributes, warehouses }
}

fn path(parent: Option<String>, name: &str) -> Vec<String> {
    parent.into_iter().chain(std::iter::once(name.to_owned())).collect()
}

/// The cursor of the next page, if the query returned more rows than the page holds. It carries both the
/// last row's position and the next page's offset, so it works whichever way the next page is fetched.
fn next_cursor(last: Option<(i32, i64)>, fetched: usize, q: &PageQuery) -> Option<String> {
    let (popularity, id) = last?;
    let offset = q.cursor.offset.saturating_add(q.limit.0).min(Cursor::MAX_OFFSET);
    (fetched as i64 > q.limit.0).then(|| Cursor { popularity, id, offset }.encode())
}

/// Binds the page query's parameters in the order [`page_sql!`] (keyset) or [`offset_sql!`] numbers them.
macro_rules! bind_page {
    ($sql:expr, $q:expr) => {{
        let q: &PageQuery = $q;
        let query = if q.keyset {
            sqlx::query_as($sql).bind(q.cursor.popularity).bind(q.cursor.id).bind(q.limit.0 + 1)
        } else {
            sqlx::query_as($sql).bind(q.cursor.offset).bind(q.limit.0 + 1)
        };
        match &q.filter {
            Filter::All => query,
            Filter::Category(c) => query.bind(*c),
            Filter::Search(text) => query.bind(text.clone()),
        }
    }};
}

/// Before: one query per relation per product.
mod naive {
    use super::*;

    pub async fn page(conn: &mut PgConnection, q: &PageQuery) -> Result<Page, sqlx::Error> {
        let sql = sql::page(false, &q.filter, q.full, q.keyset);
        let mut rows: Vec<ProductRow> = traced(sql, bind_page!(sql, q).fetch_all(&mut *conn)).await?;
        let fetched = rows.len();
        rows.truncate(q.limit.0 as usize);
        let next = next_cursor(rows.last().map(|r| (r.4, r.0)), fetched, q);
        let mut items = Vec::with_capacity(rows.len());
        for (id, sku, name, brand, popularity, category_id, description, attributes) in rows {
            let category = category(conn, category_id).await?;
            let price = current_price(conn, id).await?;
            let warehouses = stock(conn, id).await?;
            items.push(item(id, sku, name, brand, popularity, category, price, warehouses, (description, attributes), q.full));
        }
        Ok(Page { items, next_cursor: next })
    }

    pub async fn details(conn: &mut PgConnection, ids: &[i64]) -> Result<Vec<ProductDetail>, sqlx::Error> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            type Row = (i64, String, String, String, Json, String, i32, i32);
            let row: Option<Row> = traced(sql::PRODUCT, sqlx::query_as(sql::PRODUCT).bind(id).fetch_optional(&mut *conn)).await?;
            let Some((id, sku, name, description, attributes, brand, popularity, category_id)) = row else { continue };
            let category = category(conn, category_id).await?;
            let price = current_price(conn, id).await?;
            let warehouses = stock(conn, id).await?;
            let stock = warehouses.iter().map(|w| i64::from(w.quantity)).sum();
            out.push(ProductDetail {
                id,
                sku,
                name,
                description,
                attributes,
                brand,
                popularity,
                category,
                price,
                stock,
                warehouses,
            });
        }
        Ok(out)
    }

    /// The category and, with a second query, its parent (for the path).
    async fn category(conn: &mut PgConnection, id: i32) -> Result<CategoryRef, sqlx::Error> {
        let (id, name, _parent_id): (i32, String, Option<i32>) =
            traced(sql::CATEGORY, sqlx::query_as(sql::CATEGORY).bind(id).fetch_one(&mut *conn)).await?;
        let parent: Option<(i32, String, Option<i32>)> =
            traced(sql::PARENT, sqlx::query_as(sql::PARENT).bind(id).fetch_optional(&mut *conn)).await?;
        Ok(CategoryRef { id, path: path(parent.map(|p| p.1), &name), name })
    }

    async fn current_price(conn: &mut PgConnection, id: i64) -> Result<Option<Price>, sqlx::Error> {
        let row: Option<(i64, String)> =
            traced(sql::CURRENT_PRICE, sqlx::query_as(sql::CURRENT_PRICE).bind(id).fetch_optional(&mut *conn)).await?;
        Ok(row.map(|(amount_cents, currency)| Price { amount_cents, currency }))
    }

    async fn stock(conn: &mut PgConnection, id: i64) -> Result<Vec<WarehouseStock>, sqlx::Error> {
        let rows: Vec<(i32, i32)> = traced(sql::STOCK, sqlx::query_as(sql::STOCK).bind(id).fetch_all(&mut *conn)).await?;
        Ok(rows.into_iter().map(|(warehouse_id, quantity)| WarehouseStock { warehouse_id, quantity }).collect())
    }
}

/// After: one JOIN for the rows, one `= any($1)` batch for prices and stock.
mod eager {
    use super::*;

    /// Price and stock per warehouse of one product, from the batch query.
    #[derive(Default)]
    struct Extras {
        price: Option<Price>,
        warehouses: Vec<WarehouseStock>,
    }

    pub async fn page(conn: &mut PgConnection, q: &PageQuery) -> Result<Page, sqlx::Error> {
        let sql = sql::page(true, &q.filter, q.full, q.keyset);
        let mut rows: Vec<JoinedRow> = traced(sql, bind_page!(sql, q).fetch_all(&mut *conn)).await?;
        let fetched = rows.len();
        rows.truncate(q.limit.0 as usize);
        let next = next_cursor(rows.last().map(|r| (r.4, r.0)), fetched, q);
        let mut extras = prices_and_stock(conn, &rows.iter().map(|r| r.0).collect::<Vec<_>>()).await?;
        let items = rows
            .into_iter()
            .map(|(id, sku, name, brand, popularity, category_id, category_name, parent, description, attributes)| {
                let Extras { price, warehouses } = extras.remove(&id).unwrap_or_default();
                let category = CategoryRef { id: category_id, path: path(parent, &category_name), name: category_name };
                item(id, sku, name, brand, popularity, category, price, warehouses, (description, attributes), q.full)
            })
            .collect();
        Ok(Page { items, next_cursor: next })
    }

    pub async fn details(conn: &mut PgConnection, ids: &[i64]) -> Result<Vec<ProductDetail>, sqlx::Error> {
        let rows: Vec<DetailRow> = traced(sql::DETAILS, sqlx::query_as(sql::DETAILS).bind(ids).fetch_all(&mut *conn)).await?;
        let mut by_id: HashMap<i64, DetailRow> = rows.into_iter().map(|r| (r.0, r)).collect();
        let found: Vec<i64> = ids.iter().copied().filter(|id| by_id.contains_key(id)).collect();
        let mut extras = prices_and_stock(conn, &found).await?;
        let mut out = Vec::with_capacity(found.len());
        for id in found {
            let Some((id, sku, name, description, attributes, brand, popularity, category_id, category_name, parent)) =
                by_id.remove(&id)
            else {
                continue;
            };
            let Extras { price, warehouses } = extras.remove(&id).unwrap_or_default();
            let stock = warehouses.iter().map(|w| i64::from(w.quantity)).sum();
            let category = CategoryRef { id: category_id, path: path(parent, &category_name), name: category_name };
            out.push(ProductDetail {
                id,
                sku,
                name,
                description,
                attributes,
                brand,
                popularity,
                category,
                price,
                stock,
                warehouses,
            });
        }
        Ok(out)
    }

    async fn prices_and_stock(conn: &mut PgConnection, ids: &[i64]) -> Result<HashMap<i64, Extras>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        type Row = (i64, Option<i64>, Option<String>, Option<Vec<i32>>, Option<Vec<i32>>);
        let rows: Vec<Row> =
            traced(sql::PRICES_AND_STOCK, sqlx::query_as(sql::PRICES_AND_STOCK).bind(ids).fetch_all(&mut *conn)).await?;
        Ok(rows
            .into_iter()
            .map(|(id, amount, currency, warehouses, quantities)| {
                let price = amount.zip(currency).map(|(amount_cents, currency)| Price { amount_cents, currency });
                let warehouses = warehouses
                    .unwrap_or_default()
                    .into_iter()
                    .zip(quantities.unwrap_or_default())
                    .map(|(warehouse_id, quantity)| WarehouseStock { warehouse_id, quantity })
                    .collect();
                (id, Extras { price, warehouses })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sql_numbers_parameters_consistently() {
        assert!(sql::NAIVE_BY_CATEGORY.contains("p.category_id = $4") && sql::NAIVE_BY_CATEGORY.ends_with("limit $3"));
        assert!(!sql::EAGER_ALL.contains("$4"));
        assert!(sql::EAGER_SEARCH.ends_with("websearch_to_tsquery('english', $4) order by p.popularity desc, p.id limit $3"));
    }

    #[test]
    fn next_cursor_only_when_more_rows_exist() {
        let q = PageQuery { filter: Filter::All, cursor: Cursor::FIRST, limit: Limit(20), full: false, keyset: true };
        assert_eq!(next_cursor(Some((5, 9)), 20, &q), None);
        assert_eq!(next_cursor(Some((5, 9)), 21, &q), Some(Cursor { popularity: 5, id: 9, offset: 20 }.encode()));
        assert_eq!(next_cursor(None, 0, &q), None);
    }

    #[test]
    fn offset_sql_skips_then_takes() {
        assert!(sql::EAGER_ALL_OFFSET.ends_with("order by p.popularity desc, p.id offset $1 limit $2"));
        let (category, search) = (Filter::Category(1), Filter::Search("x".into()));
        for full in [false, true] {
            assert!(sql::page(false, &category, full, false).contains("where p.category_id = $3 order by"));
            assert!(!sql::page(true, &search, full, false).contains("$4"));
            assert!(sql::page(true, &search, full, true).contains("websearch_to_tsquery('english', $4)"));
            assert_eq!(sql::page(true, &Filter::All, full, true).contains("p.description, p.attributes"), full);
        }
    }
}
