//! The accept loop every shoplab HTTP process runs: hyper's HTTP/1.1 server with a header-read timeout.
//!
//! `axum::serve` configures no timer, and without one hyper has no header-read timeout: a client that
//! opens connections and trickles header bytes (slowloris) holds each connection, its task and its
//! buffers for as long as it likes — a thousand such connections cost nothing to send. Here a client
//! gets [`HEADER_READ_TIMEOUT`] to deliver a request's headers, after which hyper closes the connection.
//! The peer address is attached as axum's `ConnectInfo<SocketAddr>`, as
//! `into_make_service_with_connect_info` would (the rate limiter keys anonymous clients by it).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::extract::connect_info::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long in-flight requests get to finish once shutdown was requested.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = http1_builder();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // out of file descriptors and the like: wait a little rather than spin
                    tracing::warn!(event = "accept_failed", error = %e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| handle(router.clone(), peer, req));
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // timeouts and resets end connections with an error: nothing to do about them here
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    Ok(())
}

/// hyper's HTTP/1.1 connection builder with a timer and [`HEADER_READ_TIMEOUT`]: for processes that run
/// an accept loop of their own (a simulated dependency's outage) and want the same protection.
pub fn http1_builder() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    builder
}

async fn handle(router: Router, peer: SocketAddr, req: Request<Incoming>) -> Result<axum::response::Response, Infallible> {
    let mut req = req.map(axum::body::Body::new);
    req.extensions_mut().insert(ConnectInfo(peer));
    router.oneshot(req).await
}
