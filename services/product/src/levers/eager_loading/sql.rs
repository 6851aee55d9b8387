//! The SQL of each (path, filter, shape, window) of a page and of the naive and eager lookups, public so
//! tests can EXPLAIN exactly what the service runs. The macros that build it are in the parent module.

// The summary shape in keyset order (what tests EXPLAIN; `page` below picks among every variant).
pub const NAIVE_ALL: &str = page_sql!(naive_select!(no_doc!()), "");
pub const NAIVE_BY_CATEGORY: &str = page_sql!(naive_select!(no_doc!()), " and p.category_id = $4");
pub const NAIVE_SEARCH: &str = page_sql!(naive_select!(no_doc!()), " and p.search @@ websearch_to_tsquery('english', $4)");
pub const EAGER_ALL: &str = page_sql!(eager_select!(no_doc!()), "");
pub const EAGER_BY_CATEGORY: &str = page_sql!(eager_select!(no_doc!()), " and p.category_id = $4");
pub const EAGER_SEARCH: &str = page_sql!(eager_select!(no_doc!()), " and p.search @@ websearch_to_tsquery('english', $4)");
/// The same pages with `OFFSET` (the `product.keyset_pagination` lever's naive path).
pub const NAIVE_ALL_OFFSET: &str = offset_sql!(naive_select!(no_doc!()), "");
pub const EAGER_ALL_OFFSET: &str = offset_sql!(eager_select!(no_doc!()), "");

/// The page query of a path (`eager`), a filter, a shape (`full`: `product.summary_fields` off or
/// `?fields=full`) and a window (`keyset`, else `OFFSET`: `product.keyset_pagination`).
pub fn page(eager: bool, filter: &super::Filter, full: bool, keyset: bool) -> &'static str {
    use super::Filter::*;
    macro_rules! pick {
        ($select:ident, $doc:ident) => {
            match (filter, keyset) {
                (All, true) => page_sql!($select!($doc!()), ""),
                (Category(_), true) => page_sql!($select!($doc!()), " and p.category_id = $4"),
                (Search(_), true) => {
                    page_sql!($select!($doc!()), " and p.search @@ websearch_to_tsquery('english', $4)")
                }
                (All, false) => offset_sql!($select!($doc!()), ""),
                (Category(_), false) => offset_sql!($select!($doc!()), " where p.category_id = $3"),
                (Search(_), false) => {
                    offset_sql!($select!($doc!()), " where p.search @@ websearch_to_tsquery('english', $3)")
                }
            }
        };
    }
    match (eager, full) {
        (false, false) => pick!(naive_select, no_doc),
        (false, true) => pick!(naive_select, full_doc),
        (true, false) => pick!(eager_select, no_doc),
        (true, true) => pick!(eager_select, full_doc),
    }
}
/// Naive per-product lookups.
pub const PRODUCT: &str =
    "select id, sku, name, description, attributes, brand, popularity, category_id from product.products where id = $1";
pub const CATEGORY: &str = "select id, name, parent_id from product.categories where id = $1";
pub const PARENT: &str = "select parent.id, parent.name, parent.parent_id from product.categories c \
                          join product.categories parent on parent.id = c.parent_id where c.id = $1";
pub const CURRENT_PRICE: &str = "select amount_cents, currency from product.prices \
                                 where product_id = $1 and valid_from <= now() order by valid_from desc limit 1";
pub const STOCK: &str = "select warehouse_id, quantity from product.inventory where product_id = $1 order by warehouse_id";
/// Eager detail: products with their category and its parent.
pub const DETAILS: &str = "select p.id, p.sku, p.name, p.description, p.attributes, p.brand, p.popularity, c.id, c.name, parent.name \
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
