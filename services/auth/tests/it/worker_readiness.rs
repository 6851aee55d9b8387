//! A worker's `/readyz` reports its broker session from memory: an orchestrator probing every few seconds
//! must not open (and tear down) a RabbitMQ connection per probe. Counted at a TCP proxy in front of the
//! broker, so the test sees every connection the relay process makes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kit::app::Core;
use kit::testing::{TestEnv, eventually};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Forwards to RabbitMQ and counts the connections it accepted; returns the URL to use and the count.
async fn counting_proxy(amqp_url: &str) -> (String, Arc<AtomicUsize>) {
    let (scheme_auth, rest) = amqp_url.split_once('@').expect("amqp URL with credentials");
    let (host_port, vhost) = rest.split_once('/').unwrap_or((rest, "%2f"));
    let upstream = host_port.to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("{scheme_auth}@{}/{vhost}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut server = TcpStream::connect(&upstream).await.unwrap();
            tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (url, count)
}

fn free_addr() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn probing_a_worker_opens_no_broker_connection() {
    let env = TestEnv::new().await;
    let settings = auth::settings::Settings::default();
    env.delete_amqp_on_drop(auth::email::topology::Topology::new(&env.config().amqp_prefix, &settings.email).names());
    let mut config = env.config();
    let (proxied, connections) = counting_proxy(&config.amqp_url).await;
    config.amqp_url = proxied;
    let core = Core::connect(auth::relay::SERVICE, config, 4).await.expect("core");
    let addr = free_addr();
    let (serve_core, serve_addr) = (core.clone(), addr.clone());
    let stop = CancellationToken::new();
    let relay_stop = stop.clone();
    tokio::spawn(async move {
        let work = move |_| auth::relay::run(serve_core.clone(), settings, relay_stop);
        kit::worker::serve(core.base(), &serve_addr, work).await
    });

    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let ready = || async { client.get(format!("http://{addr}/readyz")).send().await.is_ok_and(|r| r.status() == 200) };
    assert!(eventually(Duration::from_secs(20), ready).await.is_some(), "the relay never became ready");
    let before = connections.load(Ordering::SeqCst);
    for _ in 0..10 {
        assert!(ready().await, "a running relay stays ready");
    }
    let after = connections.load(Ordering::SeqCst);
    assert_eq!(after, before, "10 probes opened {} broker connections", after - before);
    stop.cancel();
}
