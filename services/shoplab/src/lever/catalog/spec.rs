//! The shapes of the catalogue: a lever's entry, its rows, and where each row's number comes from.

/// Where a row's number comes from (deltas are taken around the measured k6 run).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    /// A k6 trend's percentile (`med`, `p(95)`, `p(99)`), of `http_req_duration` or a tagged
    /// sub-metric such as `http_req_duration{name:deep}`.
    K6Stat { metric: &'static str, stat: &'static str },
    /// `http_reqs` per second.
    Throughput,
    /// `http_req_failed` as a percentage.
    ErrorShare,
    /// `data_received` bytes / `http_reqs`.
    BytesPerRequest,
    /// A script's own `lever_*` Rate, as a percentage.
    K6Rate(&'static str),
    /// A script's own `lever_*` Counter, per request (`http_reqs`).
    K6CounterPerRequest(&'static str),
    /// A script's own `lever_*` Trend, its p95.
    K6TrendP95(&'static str),
    /// Redis commands (`INFO commandstats`, all or one command) per request.
    RedisPerRequest(Option<&'static str>),
    /// Statements Postgres executed in the lab database (`pg_stat_statements` calls) per request.
    PgStatementsPerRequest,
    /// Rows read from a table (`seq_tup_read + idx_tup_fetch` of `pg_stat_user_tables`) per request.
    PgRowsPerRequest(&'static str),
    /// The delta of a Prometheus counter (summed over the entry's processes) per request.
    PromPerRequest(Counter),
    /// The delta of one counter as a percentage of another's.
    PromRatio(Counter, Counter),
    /// The delta of one counter divided by another's (e.g. statements per validate: a histogram's
    /// `_sum` over its `_count`).
    PromQuotient(Counter, Counter),
}

/// A Prometheus counter and the labels its samples must carry (`~` prefix-matches).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counter {
    pub name: &'static str,
    pub labels: &'static [(&'static str, &'static str)],
}

/// One row of a lever's table.
#[derive(Clone, Copy, Debug)]
pub struct RowSpec {
    pub name: &'static str,
    pub source: Source,
    pub lower_is_better: bool,
}

/// One lever: its flag, scenario and rows.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub flag: &'static str,
    /// Script path under the k6 directory (`levers/<flag>.js`, or a case's script with an env knob).
    pub scenario: &'static str,
    /// Extra k6 environment the scenario needs for this lever.
    pub env: &'static [(&'static str, &'static str)],
    /// The lab processes (by name, as in `shoplab up`) the scenario talks to; checked for `/readyz`,
    /// scraped for `/metrics`, and asked to confirm the flip.
    pub processes: &'static [&'static str],
    /// One line: what turning it on changes.
    pub effect: &'static str,
    pub rows: &'static [RowSpec],
}

pub(super) const fn row(name: &'static str, source: Source, lower_is_better: bool) -> RowSpec {
    RowSpec { name, source, lower_is_better }
}

pub(super) const fn counter(name: &'static str, labels: &'static [(&'static str, &'static str)]) -> Counter {
    Counter { name, labels }
}
