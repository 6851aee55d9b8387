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

/// One page request: filter, start and size. Order is always popularity desc, id.
#[derive(Clone, Debug)]
pub struct PageQuery {
    pub filter: Filter,
    pub cursor: Cursor,
    pub limit: Limit,
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
    () => {
        "select p.id, p.sku, p.name, p.brand, p.popularity, p.category_id from product.products p"
    };
}
macro_rules! eager_select {
    () => {
        "select p.id, p.sku, p.name, p.brand, p.popularity, c.id, c.name, parent.name from product.products p \
         join product.categories c on c.id = p.category_id left join product.categories parent on parent.id = c.parent_id"
    };
}

/// The SQL of each (path, filter) pair, public so tests can EXPLAIN exactly what the service runs.
pub mod sql {
    pub const NAIVE_ALL: &str = page_sql!(naive_select!(), "");
    pub const NAIVE_BY_CATEGORY: &str = page_sql!(naive_select!(), " and p.category_id = $4");
    pub const NAIVE_SEARCH: &str = page_sql!(naive_select!(), " and p.search @@ websearch_to_tsquery('english', $4)");
    pub const EAGER_ALL: &str = page_sql!(eager_select!(), "");
    pub const EAGER_BY_CATEGORY: &str = page_sql!(eager_select!(), " and p.category_id = $4");
    pub const EAGER_SEARCH: &str = page_sql!(eager_select!(), " and p.search @@ websearch_to_tsquery('english', $4)");
    /// The same six pages with `OFFSET` (the `product.keyset_pagination` lever's naive path).
    pub const NAIVE_ALL_OFFSET: &str = offset_sql!(naive_select!(), "");
    pub const NAIVE_BY_CATEGORY_OFFSET: &str = offset_sql!(naive_select!(), " where p.category_id = $3");
    pub const NAIVE_SEARCH_OFFSET: &str = offset_sql!(naive_select!(), " where p.search @@ websearch_to_tsquery('english', $3)");
    pub const EAGER_ALL_OFFSET: &str = offset_sql!(eager_select!(), "");
    pub const EAGER_BY_CATEGORY_OFFSET: &str = offset_sql!(eager_select!(), " where p.category_id = $3");
    pub const EAGER_SEARCH_OFFSET: &str = offset_sql!(eager_select!(), " where p.search @@ websearch_to_tsquery('english', $3)");
    /// Naive per-product lookups.
    pub const PRODUCT: &str =
        "select id, sku, name, description, brand, popularity, category_id from product.products where id = $1";
    pub const CATEGORY: &str = "select id, name, parent_id from product.categories where id = $1";
    pub const PARENT: &str = "select parent.id, parent.name, parent.parent_id from product.categories c \
                              join product.categories parent on parent.id = c.parent_id where c.id = $1";
    pub const CURRENT_PRICE: &str = "select amount_cents, currency from product.prices \
                                     where product_id = $1 and valid_from <= now() order by valid_from desc limit 1";
    pub const STOCK: &str = "select warehouse_id, quantity from product.inventory where product_id = $1 order by warehouse_id";
    /// Eager detail: products with their category and its parent.
    pub const DETAILS: &str = "select p.id, p.sku, p.name, p.description, p.brand, p.popularity, c.id, c.name, parent.name \
                               from product.products p join product.categories c on c.id = p.category_id \
                               left join product.categories parent on parent.id = c.parent_id where p.id = any($1)";
    /// Eager batch: current price and stock per warehouse of every product in `$1`.
    pub const PRICES_AND_STOCK: &str = "with pr as (\
            select distinct on (product_id) product_id, amount_cents, currency from product.prices \
            where product_id = any($1) and valid_from <= now() order by product_id, valid_from desc), \
        st as (\
            select product_id, array_agg(warehouse_id order by warehouse_id) as warehouses, \
                   array_agg(quantity order by warehouse_id) as quantities \
            from product.inventory where product_id = any($1) group by product_id) \
        select ids.id, pr.amount_cents, pr.currency, st.warehouses, st.quantities \
        from unnest($1::bigint[]) as ids(id) left join pr on pr.product_id = ids.id left join st on st.product_id = ids.id";
}

/// A product row as the page query returns it (before its relations are loaded).
type ProductRow = (i64, String, String, String, i32, i32);
/// A product row JOINed with its category (id, name) and the parent's name.
type JoinedRow = (i64, String, String, String, i32, i32, String, Option<String>);
/// A detail row JOINed with its category and the parent's name.
type DetailRow = (i64, String, String, String, String, i32, i32, String, Option<String>);

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

/// The page query for a path (`naive` or eager), a filter and a window (keyset or `OFFSET`).
fn page_sql(naive: bool, q: &PageQuery) -> &'static str {
    use sql::*;
    let by_filter = |all, category, search| match q.filter {
        Filter::All => all,
        Filter::Category(_) => category,
        Filter::Search(_) => search,
    };
    match (naive, q.keyset) {
        (true, true) => by_filter(NAIVE_ALL, NAIVE_BY_CATEGORY, NAIVE_SEARCH),
        (true, false) => by_filter(NAIVE_ALL_OFFSET, NAIVE_BY_CATEGORY_OFFSET, NAIVE_SEARCH_OFFSET),
        (false, true) => by_filter(EAGER_ALL, EAGER_BY_CATEGORY, EAGER_SEARCH),
        (false, false) => by_filter(EAGER_ALL_OFFSET, EAGER_BY_CATEGORY_OFFSET, EAGER_SEARCH_OFFSET),
    }
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
        let sql = page_sql(true, q);
        let mut rows: Vec<ProductRow> = traced(sql, bind_page!(sql, q).fetch_all(&mut *conn)).await?;
        let fetched = rows.len();
        rows.truncate(q.limit.0 as usize);
        let next = next_cursor(rows.last().map(|r| (r.4, r.0)), fetched, q);
        let mut items = Vec::with_capacity(rows.len());
        for (id, sku, name, brand, popularity, category_id) in rows {
            let category = category(conn, category_id).await?;
            let price = current_price(conn, id).await?;
            let stock: i64 = stock(conn, id).await?.iter().map(|w| i64::from(w.quantity)).sum();
            items.push(ProductItem { id, sku, name, brand, popularity, category, price, stock });
        }
        Ok(Page { items, next_cursor: next })
    }

    pub async fn details(conn: &mut PgConnection, ids: &[i64]) -> Result<Vec<ProductDetail>, sqlx::Error> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            type Row = (i64, String, String, String, String, i32, i32);
            let row: Option<Row> = traced(sql::PRODUCT, sqlx::query_as(sql::PRODUCT).bind(id).fetch_optional(&mut *conn)).await?;
            let Some((id, sku, name, description, brand, popularity, category_id)) = row else { continue };
            let category = category(conn, category_id).await?;
            let price = current_price(conn, id).await?;
            let warehouses = stock(conn, id).await?;
            let stock = warehouses.iter().map(|w| i64::from(w.quantity)).sum();
            out.push(ProductDetail { id, sku, name, description, brand, popularity, category, price, stock, warehouses });
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
        let sql = page_sql(false, q);
        let mut rows: Vec<JoinedRow> = traced(sql, bind_page!(sql, q).fetch_all(&mut *conn)).await?;
        let fetched = rows.len();
        rows.truncate(q.limit.0 as usize);
        let next = next_cursor(rows.last().map(|r| (r.4, r.0)), fetched, q);
        let mut extras = prices_and_stock(conn, &rows.iter().map(|r| r.0).collect::<Vec<_>>()).await?;
        let items = rows
            .into_iter()
            .map(|(id, sku, name, brand, popularity, category_id, category_name, parent)| {
                let Extras { price, warehouses } = extras.remove(&id).unwrap_or_default();
                let stock = warehouses.iter().map(|w| i64::from(w.quantity)).sum();
                let category = CategoryRef { id: category_id, path: path(parent, &category_name), name: category_name };
                ProductItem { id, sku, name, brand, popularity, category, price, stock }
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
            let Some((id, sku, name, description, brand, popularity, category_id, category_name, parent)) = by_id.remove(&id)
            else {
                continue;
            };
            let Extras { price, warehouses } = extras.remove(&id).unwrap_or_default();
            let stock = warehouses.iter().map(|w| i64::from(w.quantity)).sum();
            let category = CategoryRef { id: category_id, path: path(parent, &category_name), name: category_name };
            out.push(ProductDetail { id, sku, name, description, brand, popularity, category, price, stock, warehouses });
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
        let q = PageQuery { filter: Filter::All, cursor: Cursor::FIRST, limit: Limit(20), keyset: true };
        assert_eq!(next_cursor(Some((5, 9)), 20, &q), None);
        assert_eq!(next_cursor(Some((5, 9)), 21, &q), Some(Cursor { popularity: 5, id: 9, offset: 20 }.encode()));
        assert_eq!(next_cursor(None, 0, &q), None);
    }

    #[test]
    fn offset_sql_skips_then_takes() {
        assert!(sql::EAGER_ALL_OFFSET.ends_with("order by p.popularity desc, p.id offset $1 limit $2"));
        assert!(sql::NAIVE_BY_CATEGORY_OFFSET.contains("where p.category_id = $3 order by"));
        assert!(!sql::EAGER_SEARCH_OFFSET.contains("$4"));
    }
}
