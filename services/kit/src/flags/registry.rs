//! The registry of every lab flag: name, type, before/after values, case study and book chapter.
//!
//! This table is the single source for validation, `shoplab flags list --markdown` (docs/flags.md),
//! the presets and the step order of `shoplab case N --steps`. Defaults are the **before** state.

use serde_json::Value;

/// The type of a flag's value; writes are validated against it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Bool,
    Int { min: i64, max: i64 },
    Float { min: f64, max: f64 },
    Enum(&'static [&'static str]),
}

/// A constant flag value (const-friendly stand-in for `serde_json::Value`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum V {
    B(bool),
    I(i64),
    F(f64),
    S(&'static str),
}

impl V {
    /// The JSON form stored in `lab.flags.value`.
    pub fn to_json(self) -> Value {
        match self {
            V::B(b) => Value::Bool(b),
            V::I(i) => Value::from(i),
            V::F(f) => Value::from(f),
            V::S(s) => Value::from(s),
        }
    }
}

/// One flag of the lab.
#[derive(Clone, Copy, Debug)]
pub struct FlagDef {
    pub name: &'static str,
    pub kind: Kind,
    /// The before state (and the value after `flags reset`).
    pub default: V,
    /// The value the case study's after preset sets, if it is a lever.
    pub after: Option<V>,
    /// The case study this flag belongs to (1-3: its presets, `--steps` and dashboard), or 0 for a
    /// chapter lever: a technique of one book chapter, shown on its service's dashboard and in the
    /// console's chapter levers, switched by `all-before`/`all-after` but by no case preset.
    pub case: u8,
    /// The book chapter the flag belongs to.
    pub chapter: Chapter,
    pub description: &'static str,
}

pub use super::chapter::*;
pub use super::presets::*;

const fn lever(name: &'static str, case: u8, chapter: Chapter, description: &'static str) -> FlagDef {
    FlagDef { name, kind: Kind::Bool, default: V::B(false), after: Some(V::B(true)), case, chapter, description }
}

/// Every flag, levers of a case in the book's order (the order `--steps` applies them).
pub const FLAGS: &[FlagDef] = &[
    lever("product.eager_loading", 1, DATABASE, "2 queries per listing page (JOIN + `= ANY($1)` batch) instead of 4N+1"),
    lever("product.composite_indexes", 1, DATABASE, "creates (on) or drops (off) the composite indexes the hot queries need"),
    FlagDef {
        name: "product.cache_ttl_secs",
        kind: Kind::Int { min: 1, max: 86_400 },
        default: V::I(60),
        after: Some(V::I(300)),
        case: 1,
        chapter: CACHING,
        description: "TTL of cached product detail and listing pages in Redis",
    },
    lever("product.refresh_ahead", 1, CACHING, "refresh a hot entry in the background at 80 % of its TTL, one refresher per key"),
    lever("product.cache_warming", 1, CACHING, "load the most popular products into the cache at start and when enabled"),
    FlagDef {
        name: "product.warm_top_n",
        kind: Kind::Int { min: 0, max: 1_000_000 },
        default: V::I(1000),
        after: None,
        case: 1,
        chapter: CACHING,
        description: "how many products (by popularity) cache warming loads",
    },
    lever(
        "analytics.preaggregation",
        2,
        CACHING,
        "read per-minute buckets kept in Redis by the aggregator instead of aggregating raw events per request",
    ),
    lever("analytics.request_coalescing", 2, NETWORK, "identical concurrent dashboard requests share one computation"),
    FlagDef {
        name: "auth.email_timeout_ms",
        kind: Kind::Int { min: 0, max: 600_000 },
        default: V::I(0),
        after: Some(V::I(5000)),
        case: 3,
        chapter: TRAFFIC,
        description: "longest the signup waits for the email provider per call (0 = no timeout, the client's default)",
    },
    lever(
        "auth.email_circuit_breaker",
        3,
        TRAFFIC,
        "breaker around the email provider: opens at 50 % errors, fails fast for 30 s, then probes",
    ),
    lever(
        "auth.async_email",
        3,
        ASYNC,
        "verification email through outbox + relay + worker with retries and a DLQ instead of inside the signup request",
    ),
    lever(
        "auth.rate_limit",
        3,
        TRAFFIC,
        "token bucket per client, keyed on the bearer token's subject, else the peer address: 429 + Retry-After",
    ),
    FlagDef {
        name: "auth.rate_limit_per_sec",
        kind: Kind::Int { min: 1, max: 1_000_000 },
        default: V::I(50),
        after: None,
        case: 3,
        chapter: TRAFFIC,
        description: "tokens added per second to each client's bucket",
    },
    FlagDef {
        name: "auth.rate_limit_burst",
        kind: Kind::Int { min: 1, max: 1_000_000 },
        default: V::I(100),
        after: None,
        case: 3,
        chapter: TRAFFIC,
        description: "bucket size: requests a client may send at once",
    },
    lever(
        "auth.bulkheads",
        3,
        TRAFFIC,
        "separate Postgres pools for critical (login, validate) and non-critical (signup, profile) work",
    ),
    FlagDef {
        name: "auth.retry_policy",
        kind: Kind::Enum(&["naive", "backoff"]),
        default: V::S("naive"),
        after: Some(V::S("backoff")),
        case: 0,
        chapter: TRAFFIC,
        description: "retries of a failed provider call in the signup: 3 immediate (naive) or full-jitter backoff within a 10 % retry budget",
    },
    FlagDef {
        name: "emailprovider.mode",
        kind: Kind::Enum(&["healthy", "slow", "flaky", "down", "outage"]),
        default: V::S("healthy"),
        after: None,
        case: 3,
        chapter: TRAFFIC,
        description: "simulated provider health: slow adds latency_ms, flaky adds error_rate failures, down hangs or refuses, \
                      outage is slow with a down period every outage_every_secs",
    },
    FlagDef {
        name: "emailprovider.latency_ms",
        kind: Kind::Int { min: 0, max: 600_000 },
        default: V::I(50),
        after: None,
        case: 3,
        chapter: TRAFFIC,
        description: "added latency in slow and flaky modes (jittered, with a tail)",
    },
    FlagDef {
        name: "emailprovider.error_rate",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        default: V::F(0.0),
        after: None,
        case: 3,
        chapter: TRAFFIC,
        description: "share of 5xx answers in flaky mode",
    },
    FlagDef {
        name: "emailprovider.down_style",
        kind: Kind::Enum(&["hang", "refuse"]),
        default: V::S("hang"),
        after: None,
        case: 3,
        chapter: TRAFFIC,
        description: "how down mode fails: hang (accept, never answer) or refuse (close at once)",
    },
    FlagDef {
        name: "emailprovider.outage_every_secs",
        kind: Kind::Int { min: 2, max: 3600 },
        default: V::I(60),
        after: None,
        case: 3,
        chapter: TRAFFIC,
        description: "outage mode: length of one cycle (slow, then down for outage_secs at its end)",
    },
    FlagDef {
        name: "emailprovider.outage_secs",
        kind: Kind::Int { min: 1, max: 3600 },
        default: V::I(25),
        after: None,
        case: 3,
        chapter: TRAFFIC,
        description: "outage mode: how long the provider is down at the end of each cycle",
    },
    // ---- chapter levers (case 0): part 1, Network / Caching / Database / Edge
    lever(
        "product.compression",
        0,
        NETWORK,
        "gzip/brotli/zstd JSON responses above a size threshold, negotiated by Accept-Encoding",
    ),
    FlagDef {
        name: "product.compression_min_bytes",
        kind: Kind::Int { min: 0, max: 10_000_000 },
        default: V::I(1024),
        after: None,
        case: 0,
        chapter: NETWORK,
        description: "smallest JSON body (bytes) that `product.compression` compresses",
    },
    lever(
        "product.conditional_requests",
        0,
        NETWORK,
        "ETag from the cache entry's version, Cache-Control max-age, If-None-Match answered 304 without a body",
    ),
    lever(
        "product.summary_fields",
        0,
        NETWORK,
        "listings and search return a summary shape instead of full documents (`?fields=full` opts in)",
    ),
    lever("product.local_cache", 0, CACHING, "a bounded in-process cache tier in front of Redis, invalidated across instances"),
    FlagDef {
        name: "product.local_cache_ttl_ms",
        kind: Kind::Int { min: 1, max: 60_000 },
        default: V::I(5000),
        after: None,
        case: 0,
        chapter: CACHING,
        description: "how long the local cache tier serves an entry (the staleness bound if an invalidation is lost)",
    },
    lever(
        "product.redis_multiplexing",
        0,
        NETWORK,
        "one multiplexed Redis connection instead of a pool that PINGs on every checkout",
    ),
    lever("product.keyset_pagination", 0, DATABASE, "keyset cursors instead of OFFSET pages (deep pages scan and discard)"),
    // ---- chapter levers (case 0 unless a case study uses them): part 2, Traffic / Authentication / Advanced / Observability
    lever(
        "product.load_shedding",
        0,
        TRAFFIC,
        "a concurrency limit with a short queue: excess requests get 503 + Retry-After at once",
    ),
    FlagDef {
        name: "product.load_shed_limit",
        kind: Kind::Int { min: 1, max: 100_000 },
        default: V::I(8),
        after: None,
        case: 0,
        chapter: TRAFFIC,
        description: "load shedding: product API requests served at once",
    },
    FlagDef {
        name: "product.load_shed_queue",
        kind: Kind::Int { min: 0, max: 100_000 },
        default: V::I(8),
        after: None,
        case: 0,
        chapter: TRAFFIC,
        description: "load shedding: requests that may wait for a slot; the next one gets 503",
    },
    lever(
        "product.hedged_requests",
        0,
        ADVANCED,
        "a capped second request after the p95 delay for idempotent reads to a dependency with a slow tail",
    ),
    FlagDef {
        name: "emailprovider.tail_ms",
        kind: Kind::Int { min: 0, max: 60_000 },
        default: V::I(400),
        after: None,
        case: 0,
        chapter: ADVANCED,
        description: "simulated inventory read (`GET /sim/inventory/{id}`): latency of its slow tail",
    },
    FlagDef {
        name: "emailprovider.tail_share",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        default: V::F(0.05),
        after: None,
        case: 0,
        chapter: ADVANCED,
        description: "simulated inventory read: share of reads that take tail_ms",
    },
    lever(
        "auth.local_token_validation",
        0,
        AUTHENTICATION,
        "validate JWTs locally against a revocation set instead of a session query per request",
    ),
    FlagDef {
        name: "auth.revocation_refresh_ms",
        kind: Kind::Int { min: 10, max: 3_600_000 },
        default: V::I(5000),
        after: None,
        case: 0,
        chapter: AUTHENTICATION,
        description: "how often local token validation reloads revoked sessions: a revocation takes up to this long elsewhere",
    },
    FlagDef {
        name: "auth.rate_limit_store",
        kind: Kind::Enum(&["local", "redis"]),
        default: V::S("local"),
        after: Some(V::S("redis")),
        case: 0,
        chapter: EDGE,
        description: "where rate-limit buckets live: in each instance (local) or one shared budget in Redis",
    },
    FlagDef {
        name: "telemetry.trace_sampling",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        default: V::F(1.0),
        after: Some(V::F(0.1)),
        case: 0,
        chapter: OBSERVABILITY,
        description: "parent-based trace sampling ratio, read live by every process",
    },
];

/// Chapter of the stateless scale-out lever, which is a deployment change rather than a flag.
pub const SCALE_OUT_CHAPTER: Chapter = SCALING;

/// Looks a flag up by name.
pub fn find(name: &str) -> Option<&'static FlagDef> {
    FLAGS.iter().find(|f| f.name == name)
}

/// Names of every flag, for error messages.
pub fn names() -> Vec<&'static str> {
    FLAGS.iter().map(|f| f.name).collect()
}

/// The levers of case `case` with their after values, in the book's order.
pub fn steps(case: u8) -> Vec<(&'static str, V)> {
    FLAGS.iter().filter(|f| f.case == case).filter_map(|f| f.after.map(|v| (f.name, v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case3_steps_follow_the_book_order() {
        let names: Vec<_> = steps(3).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["auth.email_timeout_ms", "auth.email_circuit_breaker", "auth.async_email", "auth.rate_limit", "auth.bulkheads"]
        );
    }

    #[test]
    fn case1_steps_follow_the_book_order() {
        let names: Vec<_> = steps(1).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "product.eager_loading",
                "product.composite_indexes",
                "product.cache_ttl_secs",
                "product.refresh_ahead",
                "product.cache_warming"
            ]
        );
    }
}
