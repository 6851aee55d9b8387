//! Lever `product.keyset_pagination` — book chapter "Database and Storage Selection" (query patterns).
//!
//! The database chapter's rule: make the database do only the work the answer needs, and read the plan
//! (`EXPLAIN`) to see what it actually does. `OFFSET n` is the classic counter-example: to return page
//! 500 of a listing, Postgres produces the first 9 980 rows in order and throws them away, so a page costs
//! more the deeper it is. A keyset ("seek") page starts where the previous one ended instead — `where
//! (popularity, id) comes after the cursor's` — and with an index on the sort order (`products_popularity_idx`
//! of the `product.composite_indexes` lever) every page is an index range scan of `limit + 1` rows.
//!
//! - **naive** (off): `... order by p.popularity desc, p.id offset $1 limit $2` — the cursor's offset is
//!   what is used (`eager_loading::sql::*_OFFSET`).
//! - **optimized** (on): `... where p.popularity <= $1 and (p.popularity < $1 or p.id > $2) ... order by
//!   p.popularity desc, p.id limit $3` — the cursor's position is what is used (`eager_loading::sql::*`).
//!
//! Every cursor carries both (`model::Cursor`), so both ways return the same items for the same cursor,
//! and a client paging through a listing while the flag flips sees no gap and no repeat. The first page is
//! the same work either way; the difference grows with depth. With `product.composite_indexes` on, page
//! 500 of the unfiltered listing reads 10 001 index rows with `OFFSET` and 21 with keyset (see
//! `tests/it/data_levers.rs`); without the index both read the whole table and sort it, `OFFSET` keeping
//! `offset + limit` rows in its sort instead of `limit`.
//!
//! What it costs: a keyset page cannot jump to "page 37" (only next), the sort must be total (hence `id`
//! as tie-breaker) and match an index, and rows inserted before the cursor are not seen by a client that
//! is already past them (with `OFFSET` they shift every later page instead). What to watch: p95 of deep
//! pages against first pages (`http_req_duration{name:deep}` vs `{name:first}` in
//! `k6/levers/product.keyset_pagination.js`), and rows read on `product.products`
//! (`pg_stat_user_tables`: `seq_tup_read + idx_tup_fetch`) per request.

use kit::flags::Flags;

use crate::model::Cursor;

/// True when the page at `cursor` is fetched by position (keyset), false when by offset.
pub fn seek(flags: &Flags, cursor: &Cursor) -> bool {
    if flags.bool("product.keyset_pagination") {
        true // start at the cursor's position: an index range scan of `limit + 1` rows
    } else {
        has_no_offset(cursor) // skip `offset` rows, unless the cursor has none to skip by
    }
}

/// A cursor handed out before offsets were recorded (offset 0, yet not the first page's) can only be
/// served by position.
fn has_no_offset(cursor: &Cursor) -> bool {
    cursor.offset == 0 && *cursor != Cursor::FIRST
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cursors_without_an_offset_force_a_seek() {
        assert!(!has_no_offset(&Cursor::FIRST));
        assert!(!has_no_offset(&Cursor { popularity: 10, id: 500, offset: 480 }));
        assert!(has_no_offset(&Cursor { popularity: 10, id: 500, offset: 0 }));
    }
}
