//! `shoplab bench-server` (hidden): the bare endpoints `bench/ceilings.sh` measures the services against.
//!
//! Each endpoint does the least work its kind of request can do on this machine, through the same server
//! stack the services use (`kit::http::serve`: hyper HTTP/1.1, same header-read timeout), with no
//! middleware, no spans, no metrics and no flags:
//!
//! - `GET /static`: an 11-byte body (the ceiling of any handler here);
//! - `GET /redis`: one `GET` on one shared multiplexed Redis connection (the ceiling of a cached read);
//! - `GET /pg`: one primary-key lookup (`product.products`) through a sqlx pool of 10 (the ceiling of a
//!   request that needs one row);
//! - `POST /v1/traces`: an OTLP/HTTP sink that accepts and discards spans, so the services can pay the
//!   whole cost of exporting their traces without a collector (`OTEL_EXPORTER_OTLP_ENDPOINT` pointed
//!   here with `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`).
//!
//! The ratio of a service's endpoint to its bare counterpart, measured in the same run, is the share of
//! the machine's possible throughput the service's own code leaves (docs/performance.md).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::Args;
use kit::redis::redis::{self, AsyncCommands};
use sqlx::PgPool;

/// The key `/redis` reads (under the lab's Redis prefix, written once at start).
const KEY: &str = "bench:ceiling";

#[derive(Args, Debug)]
pub struct BenchServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8899")]
    pub listen: SocketAddr,
    /// Prefix of the Redis key `/redis` reads (the lab's).
    #[arg(long, env = "SHOPLAB_REDIS_PREFIX", default_value = "shoplab:", value_parser = kit::config::non_empty())]
    pub redis_prefix: String,
}

/// What the handlers share.
#[derive(Clone)]
struct Bare {
    /// One multiplexed connection: every in-flight GET is pipelined over one socket.
    redis: redis::aio::MultiplexedConnection,
    /// The key `/redis` reads, with the lab's prefix.
    key: String,
    /// A plain pool of 10, the size the field notes measured a PK lookup with.
    pg: PgPool,
}

/// Serves the bare endpoints until Ctrl-C or SIGTERM.
pub async fn run(database_url: &str, redis_url: &str, args: BenchServerArgs) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url)?;
    let mut redis = client.get_multiplexed_async_connection().await?;
    let key = format!("{}{KEY}", args.redis_prefix);
    let _: () = redis.set(&key, "hello world").await?;
    let pg = sqlx::postgres::PgPoolOptions::new().max_connections(10).connect(database_url).await?;
    let app = Router::new()
        .route("/static", get(|| async { "hello world" }))
        .route("/redis", get(redis_get))
        .route("/pg", get(pg_lookup))
        .route("/v1/traces", axum::routing::post(|body: axum::body::Bytes| async move { drop(body) }))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .with_state(Bare { redis, key, pg });
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!("bench-server listening on http://{}", listener.local_addr()?);
    kit::http::serve(listener, app, kit::http::shutdown_signal()).await?;
    Ok(())
}

async fn redis_get(State(mut bare): State<Bare>) -> Result<String, StatusCode> {
    let got: Option<String> = bare.redis.get(&bare.key).await.map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    got.ok_or(StatusCode::NOT_FOUND)
}

async fn pg_lookup(State(bare): State<Bare>) -> Result<String, StatusCode> {
    let row: Option<(i64, String)> = sqlx::query_as("select id, name from product.products where id = $1")
        .bind(1_i64)
        .fetch_optional(&bare.pg)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    row.map(|(_, name)| name).ok_or(StatusCode::NOT_FOUND)
}
