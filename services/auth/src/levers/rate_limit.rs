//! Lever `auth.rate_limit` (book chapter "Traffic Management"): a token bucket per client.
//!
//! The book's case study had "no circuit breaker, no rate limiting" before, and added "per-client
//! token-bucket rate limiting". Each client owns a bucket of `auth.rate_limit_burst` tokens refilled at
//! `auth.rate_limit_per_sec`; a request takes one token, and with the bucket empty it is answered
//! `429 Too Many Requests` with `Retry-After` (seconds until the next token) before it touches a pool, a
//! hash or the provider. One noisy client (a retry storm, a credential-stuffing run) then costs the
//! others nothing.
//!
//! - before: every request goes in, however many a client sends.
//! - after: one bucket per client, in this instance or in Redis (`auth.rate_limit_store`).
//!
//! Who "the client" is decides whether the limit holds. A key the client chooses is no key: a flooder
//! that sends a new `X-Client-Id` with every request would get a fresh bucket every time. So the key is
//! what the client cannot make up: the subject of a valid bearer token (`user:<id>`, one budget per
//! account however many addresses it comes from), else the peer address (`ip:<addr>/32`; an IPv6 peer
//! by its /64). `X-Forwarded-For` and `Forwarded` are believed only from a peer in
//! `AUTH_TRUSTED_PROXIES` (the lab's reverse proxy); from anyone else they are one more header a client
//! makes up. `X-Client-Id` is a label for logs only.
//!
//! Cost: a JWT signature check and a bucket lookup per request; honest clients behind one address (an
//! office NAT, or every k6 virtual user on one machine) share the address's bucket until they log in.
//! Refused requests count in `shoplab_rate_limited_total{route}`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use kit::error::ApiError;
use kit::flags::Flags;
use kit::metrics::{Metrics, RouteLabels};

use crate::metrics::AuthMetrics;
use crate::state::AppState;

/// Middleware on every auth API route.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.flags.bool("auth.rate_limit") {
        // before: no limit at all
        return next.run(req).await;
    }
    // after: one bucket per client, keyed on who it is, not on what it says it is
    let (per_sec, burst) = quota(&state.flags);
    let key = client_key(&state, &req);
    match state.buckets.take(&state.flags.string("auth.rate_limit_store"), &key, per_sec, burst).await {
        Ok(()) => next.run(req).await,
        Err(wait) => refuse(&state, &req, wait),
    }
}

/// The bucket's key: the bearer token's subject, else the client's address.
fn client_key(state: &AppState, req: &Request) -> String {
    if let Ok(claims) = state.tokens.from_headers(req.headers()) {
        return format!("user:{}", claims.sub);
    }
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    match peer {
        Some(peer) => format!("ip:{}", address_key(client_ip(peer, req.headers(), &state.trusted_proxies))),
        None => "ip:unknown".to_owned(),
    }
}

/// An IPv4 address as it is; an IPv6 address as its /64, the block one subscriber gets: a client that
/// owns 2^64 addresses must not own 2^64 buckets.
fn address_key(ip: IpAddr) -> IpNet {
    let prefix = if ip.is_ipv4() { 32 } else { 64 };
    IpNet::new(ip, prefix).map(|n| n.trunc()).unwrap_or_else(|_| IpNet::from(ip))
}

/// The client's address: the peer, or — when the peer is a trusted proxy — the nearest address in
/// `X-Forwarded-For` (else `Forwarded: for=`) that is not one of our proxies. Read from the right: the
/// left part of the chain is whatever the client sent, only the hops our proxies appended are true.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_chain(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        client = *hop;
        if !is_trusted(hop) {
            break;
        }
    }
    client
}

/// The addresses of `X-Forwarded-For` (or, without it, of `Forwarded`'s `for=`), left to right; the
/// chain stops at the first entry that is not an address (obfuscated or garbled).
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name| headers.get_all(name).into_iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    let xff: Vec<&str> = values("x-forwarded-for").map(str::trim).collect();
    let entries: Vec<&str> = if xff.is_empty() {
        values("forwarded")
            .filter_map(|e| e.split(';').find_map(|p| p.trim().strip_prefix("for=").or(p.trim().strip_prefix("For="))))
            .collect()
    } else {
        xff
    };
    let parsed: Vec<Option<IpAddr>> = entries.iter().map(|e| parse_hop(e)).collect();
    let valid_tail = parsed.iter().rev().take_while(|p| p.is_some()).count();
    parsed[parsed.len() - valid_tail..].iter().flatten().copied().collect()
}

/// `1.2.3.4`, `"[2001:db8::1]:4711"` or `1.2.3.4:80` as an address.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    s.parse()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| s.trim_start_matches('[').trim_end_matches(']').parse().ok())
}

fn quota(flags: &Flags) -> (u32, u32) {
    let clamp = |v: i64| v.clamp(1, i64::from(u32::MAX)) as u32;
    (clamp(flags.int("auth.rate_limit_per_sec")), clamp(flags.int("auth.rate_limit_burst")))
}

/// Publishes `route`'s refusal counter at 0 before the first 429, so "no request refused" is a value
/// on the dashboard rather than an empty panel.
pub fn count_from_zero(metrics: &Metrics, route: &str) {
    drop(AuthMetrics::of(metrics).rate_limited.get_or_create(&RouteLabels { route: route.to_owned() }));
}

fn refuse(state: &AppState, req: &Request, wait: Duration) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    AuthMetrics::of(&state.metrics).rate_limited.get_or_create(&RouteLabels { route }).inc();
    let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::TooManyRequests { retry_after_secs }.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_ipv6_client_is_keyed_by_its_64_block() {
        assert_eq!(address_key(ip("2001:db8:1:2:aaaa::1")), address_key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(address_key(ip("2001:db8:1:2::1")), address_key(ip("2001:db8:1:3::1")));
        assert_eq!(address_key(ip("192.0.2.7")).to_string(), "192.0.2.7/32");
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(client_ip(ip("9.9.9.9"), &h, &[]), ip("9.9.9.9"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 2.2.2.2, 10.0.0.7")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("2.2.2.2"), "the left part is the client's own invention");
        let h = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=http, for=10.0.0.9")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("2001:db8::1"));
        assert_eq!(client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted), ip("10.0.0.1"), "no header: the proxy itself");
        let h = headers(&[("x-forwarded-for", "3.3.3.3, garbage")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.1"), "a garbled hop ends the believable chain");
    }
}
