//! The lever catalogue: for every flag with an after value, the focused k6 scenario that shows it, the
//! environment that scenario needs, the processes it talks to, and the rows of the Results table it
//! moves. `shoplab lever list` prints it by chapter; `shoplab lever NAME --compare` runs one entry.
//!
//! A row names where its number comes from ([`Source`]); the arithmetic is in `rows.rs`, generic over
//! every entry, so a new lever only adds a line here.

mod spec;

pub use spec::{Counter, Entry, RowSpec, Source};
use spec::{counter, row};

const P50: RowSpec = row("p50 latency (ms)", Source::K6Stat { metric: "http_req_duration", stat: "med" }, true);
const P95: RowSpec = row("p95 latency (ms)", Source::K6Stat { metric: "http_req_duration", stat: "p(95)" }, true);
const P99: RowSpec = row("p99 latency (ms)", Source::K6Stat { metric: "http_req_duration", stat: "p(99)" }, true);
const RPS: RowSpec = row("throughput (req/s)", Source::Throughput, false);
const ERRORS: RowSpec = row("error share (%)", Source::ErrorShare, true);
const BYTES: RowSpec = row("bytes received / request", Source::BytesPerRequest, true);
const REDIS: RowSpec = row("Redis commands / request", Source::RedisPerRequest(None), true);
const STATEMENTS: RowSpec = row("DB statements / request", Source::PgStatementsPerRequest, true);

/// Scripts the catalogue names that are not in the repository yet (written beside this command; the
/// consistency test fails for a missing script not listed here, and for a listed one that has landed).
pub const PENDING: &[&str] = &[];

const PRODUCT: &[&str] = &["product"];
const AUTH: &[&str] = &["auth", "email-provider", "auth-relay", "email-worker"];
const ANALYTICS: &[&str] = &["analytics", "analytics-relay", "aggregator"];
const CASE1: &str = "case1-product.js";
const CASE2: &str = "case2-analytics.js";
const CASE3: &str = "case3-auth.js";

/// Every lever, grouped by nothing in particular (`shoplab lever list` orders them by chapter).
pub const ENTRIES: &[Entry] = &[
    // ---- case 1
    Entry {
        flag: "product.eager_loading",
        scenario: CASE1,
        env: &[],
        processes: PRODUCT,
        effect: "a listing page costs 2 statements instead of 4N+1",
        rows: &[
            P50,
            P95,
            P99,
            RPS,
            STATEMENTS,
            row("rows read / request (products)", Source::PgRowsPerRequest("products"), true),
        ],
    },
    Entry {
        flag: "product.composite_indexes",
        scenario: CASE1,
        env: &[],
        processes: PRODUCT,
        effect: "the hot queries use composite indexes instead of scanning",
        rows: &[P50, P95, P99, RPS, row("rows read / request (inventory)", Source::PgRowsPerRequest("inventory"), true)],
    },
    Entry {
        flag: "product.cache_ttl_secs",
        scenario: CASE1,
        env: &[],
        processes: PRODUCT,
        effect: "cached pages live 5 min instead of 60 s: more hits",
        rows: &[P95, P99, RPS, HIT_RATE, STATEMENTS],
    },
    Entry {
        flag: "product.refresh_ahead",
        scenario: CASE1,
        env: &[],
        processes: PRODUCT,
        effect: "hot entries refreshed at 80 % of their TTL by one refresher: no expiry stampede",
        rows: &[P95, P99, HIT_RATE],
    },
    Entry {
        flag: "product.cache_warming",
        scenario: CASE1,
        env: &[],
        processes: PRODUCT,
        effect: "the most popular products are cached before the first request",
        rows: &[P95, P99, HIT_RATE],
    },
    // ---- case 2
    Entry {
        flag: "analytics.preaggregation",
        scenario: CASE2,
        env: &[],
        processes: ANALYTICS,
        effect: "dashboards read per-minute buckets from Redis instead of aggregating raw events",
        rows: &[P50, P95, P99, RPS, STATEMENTS, REDIS],
    },
    Entry {
        flag: "analytics.request_coalescing",
        scenario: CASE2,
        env: &[],
        processes: ANALYTICS,
        effect: "identical concurrent dashboard requests share one computation",
        rows: &[
            P95,
            RPS,
            row(
                "coalesced share (%)",
                Source::PromRatio(
                    counter("shoplab_coalesced_requests_total", &[]),
                    counter("http_server_request_duration_seconds_count", &[("service", "analytics")]),
                ),
                false,
            ),
        ],
    },
    // ---- case 3
    Entry {
        flag: "auth.email_circuit_breaker",
        scenario: CASE3,
        env: &[],
        processes: AUTH,
        effect: "signups stop waiting on a failing provider once the breaker opens",
        rows: &[P95, P99, ERRORS, SHORT_CIRCUITED],
    },
    Entry {
        flag: "auth.async_email",
        scenario: CASE3,
        env: &[],
        processes: AUTH,
        effect: "signup commits an outbox row; a worker sends the email with retries",
        rows: &[P95, P99, ERRORS, PROVIDER_PER_SIGNUP],
    },
    Entry {
        flag: "auth.rate_limit",
        scenario: "levers/auth.rate_limit.js",
        env: &[],
        processes: &["auth"],
        effect: "a flooding client rotating X-Client-Id gets 429 + Retry-After; the others keep their latency",
        rows: &[
            row("honest clients p50 (ms)", Source::K6Stat { metric: "lever_honest_ms", stat: "med" }, true),
            row("honest clients p99 (ms)", Source::K6Stat { metric: "lever_honest_ms", stat: "p(99)" }, true),
            row("flooder refused (%)", Source::K6Rate("lever_flood_refused"), false),
            row("honest clients refused (%)", Source::K6Rate("lever_honest_refused"), true),
            RATE_LIMITED,
        ],
    },
    Entry {
        flag: "auth.bulkheads",
        scenario: CASE3,
        env: &[],
        processes: AUTH,
        effect: "validate keeps its own pool while signups starve theirs",
        rows: &[VALIDATE_P99, P99, ERRORS],
    },
    Entry {
        flag: "auth.email_timeout_ms",
        scenario: "levers/auth.email_timeout_ms.js",
        env: &[],
        processes: AUTH,
        effect: "a hung provider call is abandoned after 5 s instead of holding the signup and its connection",
        rows: &[
            row("validate p95 (ms)", Source::K6Stat { metric: "http_req_duration{name:validate}", stat: "p(95)" }, true),
            row("validates failed (%)", Source::K6Rate("lever_validate_failed"), true),
            row("signups timed out (%)", Source::K6Rate("lever_signup_timed_out"), false),
            row("signup p99 (ms)", Source::K6Stat { metric: "http_req_duration{name:signup}", stat: "p(99)" }, true),
            ERRORS,
        ],
    },
    Entry {
        flag: "auth.retry_policy",
        scenario: "levers/auth.retry_policy.js",
        env: &[],
        processes: AUTH,
        effect: "failed provider calls retried with backoff, full jitter and a 10 % budget instead of 3 times at once",
        rows: &[
            row("provider requests / signup", Source::PromPerRequest(counter("shoplab_provider_requests_total", &[])), true),
            row(
                "retries / signup",
                Source::PromPerRequest(counter("shoplab_email_retries_total", &[("result", "retried")])),
                true,
            ),
            row(
                "retries refused by the budget / signup",
                Source::PromPerRequest(counter("shoplab_email_retries_total", &[("result", "budget_exhausted")])),
                false,
            ),
            row("signups created (%)", Source::K6Rate("lever_signup_ok"), false),
            row("signup p95 (ms)", Source::K6Stat { metric: "http_req_duration{name:signup}", stat: "p(95)" }, true),
        ],
    },
    // ---- chapter levers
    Entry {
        flag: "product.compression",
        scenario: "levers/product.compression.js",
        env: &[],
        processes: PRODUCT,
        effect: "JSON bodies compressed when the client accepts it",
        rows: &[BYTES, row("responses compressed (%)", Source::K6Rate("lever_compressed"), false), P50, P95, RPS],
    },
    Entry {
        flag: "product.conditional_requests",
        scenario: "levers/product.conditional_requests.js",
        env: &[],
        processes: PRODUCT,
        effect: "a revalidation with If-None-Match is a 304 without a body",
        rows: &[row("304 share (%)", Source::K6Rate("lever_not_modified"), false), BYTES, P95],
    },
    Entry {
        flag: "product.summary_fields",
        scenario: "levers/product.summary_fields.js",
        env: &[],
        processes: PRODUCT,
        effect: "listings and search send a summary shape, not full documents",
        rows: &[BYTES, P50, P95],
    },
    Entry {
        flag: "product.local_cache",
        scenario: "levers/product.local_cache.js",
        env: &[],
        processes: PRODUCT,
        effect: "hot entries answered from process memory before Redis",
        rows: &[
            REDIS,
            row(
                "local tier hit rate (%)",
                Source::PromRatio(
                    counter("shoplab_cache_requests_total", &[("cache", "local"), ("result", "hit")]),
                    counter("shoplab_cache_requests_total", &[("cache", "local")]),
                ),
                false,
            ),
            row("detail p50 (ms)", Source::K6Stat { metric: "http_req_duration{name:detail}", stat: "med" }, true),
            row("detail p95 (ms)", Source::K6Stat { metric: "http_req_duration{name:detail}", stat: "p(95)" }, true),
        ],
    },
    Entry {
        flag: "product.redis_multiplexing",
        scenario: "levers/product.redis_multiplexing.js",
        env: &[],
        processes: PRODUCT,
        effect: "one multiplexed connection: no PING per checkout",
        rows: &[REDIS, row("Redis PINGs / request", Source::RedisPerRequest(Some("ping")), true), P95, RPS],
    },
    Entry {
        flag: "product.keyset_pagination",
        scenario: "levers/product.keyset_pagination.js",
        env: &[],
        processes: PRODUCT,
        effect: "deep pages seek by cursor instead of scanning and discarding OFFSET rows",
        rows: &[
            row("rows read / request (products)", Source::PgRowsPerRequest("products"), true),
            row("deep page p95 (ms)", Source::K6Stat { metric: "http_req_duration{name:deep}", stat: "p(95)" }, true),
            row("first page p95 (ms)", Source::K6Stat { metric: "http_req_duration{name:first}", stat: "p(95)" }, true),
            STATEMENTS,
        ],
    },
    Entry {
        flag: "product.load_shedding",
        scenario: "levers/product.load_shedding.js",
        env: &[],
        processes: PRODUCT,
        effect: "over the concurrency limit, a request gets 503 + Retry-After at once instead of queueing",
        rows: &[
            row("admitted p95 (ms)", Source::K6TrendP95("lever_admitted_ms"), true),
            P99,
            row("shed share (%)", Source::K6Rate("lever_shed"), true),
            row("other errors (%)", Source::K6Rate("lever_errors"), true),
            row("shed / request", Source::PromPerRequest(counter("shoplab_load_shed_total", &[("service", "product")])), true),
            RPS,
        ],
    },
    Entry {
        flag: "product.hedged_requests",
        scenario: "levers/product.hedged_requests.js",
        env: &[],
        processes: &["product", "email-provider"],
        effect: "a slow dependency read gets a second copy after its p95; the first answer wins",
        rows: &[
            P50,
            P95,
            P99,
            row("reads slower than 300 ms (%)", Source::K6Rate("lever_tail"), true),
            row(
                "extra request share (%)",
                Source::PromRatio(
                    counter("shoplab_hedged_requests_total", &[("outcome", "sent")]),
                    counter("http_server_request_duration_seconds_count", &[("route", "/products/{id}/availability")]),
                ),
                true,
            ),
        ],
    },
    Entry {
        flag: "auth.local_token_validation",
        scenario: "levers/auth.local_token_validation.js",
        env: &[],
        processes: AUTH,
        effect: "a token is checked by its signature and a revocation set, not a session query",
        rows: &[
            row(
                "statements / validate",
                Source::PromQuotient(
                    counter("shoplab_db_queries_per_request_sum", &[("route", "/validate")]),
                    counter("shoplab_db_queries_per_request_count", &[("route", "/validate")]),
                ),
                true,
            ),
            row("validate p50 (ms)", Source::K6Stat { metric: "http_req_duration{name:validate}", stat: "med" }, true),
            VALIDATE_P99,
            row("validates answered 200 (%)", Source::K6Rate("lever_validate_ok"), false),
        ],
    },
    Entry {
        flag: "auth.rate_limit_store",
        scenario: "levers/auth.rate_limit_store.js",
        env: &[],
        processes: &["auth"],
        effect: "every instance draws from one shared bucket in Redis",
        rows: &[
            row("allowed / request", Source::K6CounterPerRequest("lever_allowed"), true),
            row("refused (%)", Source::K6Rate("lever_limited"), false),
            REDIS,
            P95,
        ],
    },
    Entry {
        flag: "telemetry.trace_sampling",
        scenario: "levers/telemetry.trace_sampling.js",
        env: &[],
        processes: PRODUCT,
        effect: "one trace in ten is recorded and exported",
        rows: &[
            RPS,
            row("detail p50 (ms)", Source::K6Stat { metric: "http_req_duration{name:detail}", stat: "med" }, true),
            row("detail p95 (ms)", Source::K6Stat { metric: "http_req_duration{name:detail}", stat: "p(95)" }, true),
            row("detail p99 (ms)", Source::K6Stat { metric: "http_req_duration{name:detail}", stat: "p(99)" }, true),
            ERRORS,
            row(
                "new traces dropped (%)",
                Source::PromRatio(
                    counter("shoplab_trace_roots_total", &[("decision", "dropped")]),
                    counter("shoplab_trace_roots_total", &[]),
                ),
                false,
            ),
        ],
    },
];

const HIT_RATE: RowSpec = row(
    "cache hit rate (%)",
    Source::PromRatio(
        counter("shoplab_cache_requests_total", &[("result", "hit")]),
        counter("shoplab_cache_requests_total", &[]),
    ),
    false,
);
const SHORT_CIRCUITED: RowSpec = row(
    "emails short-circuited / request",
    Source::PromPerRequest(counter("shoplab_email_send_total", &[("result", "short_circuited")])),
    false,
);
const PROVIDER_PER_SIGNUP: RowSpec = row(
    "provider requests / signup",
    Source::PromRatio(
        counter("http_server_request_duration_seconds_count", &[("service", "email-provider"), ("route", "~/send")]),
        counter("http_server_request_duration_seconds_count", &[("service", "auth"), ("route", "/signup")]),
    ),
    false,
);
const RATE_LIMITED: RowSpec = row("429s / request", Source::PromPerRequest(counter("shoplab_rate_limited_total", &[])), false);
const VALIDATE_P99: RowSpec =
    row("validate p99 (ms)", Source::K6Stat { metric: "http_req_duration{name:validate}", stat: "p(99)" }, true);

/// Entries of levers being added to the registry beside this command (their flags are not registered
/// yet); the consistency test fails once a flag here is registered, so it moves into [`ENTRIES`].
pub const AWAITING: &[Entry] = &[];

/// The entry of `flag`.
pub fn find(flag: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.flag == flag)
}

/// Whether the scenario is known to be missing (see [`PENDING`]).
pub fn pending(entry: &Entry) -> bool {
    PENDING.contains(&entry.scenario)
}

#[cfg(test)]
mod tests;
