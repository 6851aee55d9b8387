//! Serving with real outages: a hung or refused `POST /send`, not a polite 503.
//!
//! axum's own `serve` cannot close a connection without answering, so the provider runs its own HTTP/1
//! accept loop (hyper): while `emailprovider.mode = down`, a `POST /send` either never gets an answer
//! (`hang`: the caller's socket stays open until the caller's timeout, if it has one) or has its
//! connection closed at once (`refuse`: the caller sees "connection closed before message completed").
//! Every other route (`/messages`, `/metrics`, `/admin/flags`) keeps working, so the trainer can heal the
//! provider from its own API.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::faults::{Faults, Outage};
use crate::metrics::Requests;

/// How long in-flight requests get to finish after shutdown was requested.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    faults: Faults,
    requests: Requests,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, _peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(event = "accept_failed", error = %e);
                    continue;
                }
            },
        };
        let (router, faults, requests, stop) = (router.clone(), faults.clone(), requests.clone(), stop.clone());
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(router.clone(), faults.clone(), requests.clone(), stop.clone(), req)
        });
        // the kit's builder: the same header-read timeout as every other shoplab server
        let conn = kit::http::http1_builder().serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // a refused or hung request ends its connection with an error: that is the point
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    Ok(())
}

/// One request: the outage first (only for `POST /send`), then the ordinary routes.
async fn handle(
    router: Router,
    faults: Faults,
    requests: Requests,
    stop: CancellationToken,
    req: Request<Incoming>,
) -> Result<axum::response::Response, std::io::Error> {
    let is_send = req.method() == Method::POST && req.uri().path() == "/send";
    if let Some(outage) = faults.outage().filter(|_| is_send) {
        requests.count(if outage == Outage::Hang { "hung" } else { "refused" });
        if outage == Outage::Hang {
            // accepted, never answered; closed (like a restarted server) once the provider is back
            faults.hang_until_up(&stop).await;
        }
        return Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "email provider is down"));
    }
    let resp = router.oneshot(req.map(axum::body::Body::new)).await;
    Ok(resp.unwrap_or_else(|never: Infallible| match never {}))
}
