//! Streams generated rows into `COPY ... FROM STDIN` in 1 MiB chunks, advancing a progress bar.

use indicatif::ProgressBar;
use sqlx::PgPool;

/// Chunk size sent per `send` call.
const CHUNK: usize = 1 << 20;

/// COPYs `rows` rows produced by `row(i, buf)` (which appends one tab-separated line) into `table_cols`.
pub(crate) async fn copy_rows(
    pool: &PgPool,
    table_cols: &str,
    rows: i64,
    bar: &ProgressBar,
    mut row: impl FnMut(i64, &mut String),
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let mut copy = conn.copy_in_raw(&format!("copy {table_cols} from stdin")).await?;
    let mut buf = String::with_capacity(CHUNK + 4096);
    let mut since = 0u64;
    for i in 0..rows {
        row(i, &mut buf);
        since += 1;
        if buf.len() >= CHUNK {
            copy.send(buf.as_bytes()).await?;
            buf.clear();
            bar.inc(since);
            since = 0;
        }
    }
    if !buf.is_empty() {
        copy.send(buf.as_bytes()).await?;
    }
    copy.finish().await?;
    bar.inc(since);
    bar.finish();
    Ok(())
}
