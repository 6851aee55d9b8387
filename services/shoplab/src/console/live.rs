//! Scrapes every process of the lab once a second and keeps the latest numbers for the page.
//!
//! Each process is scraped on its own `/metrics`, the one the services already serve for Prometheus, so
//! the console needs nothing else running. A process that does not answer within the timeout is shown as
//! `down` with the reason (a lab is often only partly started: that is not an error). Numbers need two
//! scrapes, so a process that just came up shows `up` with no numbers for one second. Every round also
//! becomes one point per case in [`History`], the live charts' last five minutes.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use super::history::History;
use super::numbers::{self, Numbers};
use crate::scrape::{self, Scrape};
use crate::stack::processes_at;

/// How often every process is scraped.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// A scrape slower than this counts as down (it must fit inside one interval).
const TIMEOUT: Duration = Duration::from_millis(800);

/// Where the services are reached: explicit API URLs where given, else the lab's standard ports (shifted
/// by `port_offset`, like `shoplab up --port-offset`). Workers are always at their standard ports.
#[derive(Clone, Debug, Default)]
pub struct ServiceUrls {
    pub product: Option<String>,
    pub auth: Option<String>,
    /// One URL per analytics instance (empty = one at the standard port).
    pub analytics: Vec<String>,
    pub email_provider: Option<String>,
    pub port_offset: u16,
}

/// One process the console watches.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Target {
    /// Process name as `shoplab up` prints it (`product`, `auth-relay`, `analytics-2`).
    pub name: String,
    /// Case study it belongs to.
    pub case: u8,
    /// `api`, `worker` or `downstream` (the simulated email provider).
    pub role: &'static str,
    /// Base URL; metrics are at `<url>/metrics`.
    pub url: String,
}

/// The processes of the lab (`crate::stack`), with the API base URLs given.
pub fn targets(urls: &ServiceUrls) -> Vec<Target> {
    let instances = u16::try_from(urls.analytics.len()).unwrap_or(1).max(1);
    let mut analytics = urls.analytics.iter();
    processes_at(instances, urls.port_offset)
        .into_iter()
        .map(|p| {
            let serve = p.args.is_empty() || p.args == ["serve"];
            let (case, role) = match p.bin {
                "product" => (1, "api"),
                "analytics" => (2, if serve { "api" } else { "worker" }),
                "email-provider" => (3, "downstream"),
                _ => (3, if serve { "api" } else { "worker" }),
            };
            let given = match (p.bin, serve) {
                ("product", _) => urls.product.clone(),
                ("auth", true) => urls.auth.clone(),
                ("email-provider", _) => urls.email_provider.clone(),
                ("analytics", true) => analytics.next().cloned(),
                _ => None,
            };
            let url = given.unwrap_or_else(|| p.url()).trim_end_matches('/').to_owned();
            Target { name: p.name, case, role, url }
        })
        .collect()
}

/// The URLs k6 scripts read (PRODUCT_URL, AUTH_URL, ANALYTICS_URL comma-separated).
pub fn k6_env(targets: &[Target]) -> Vec<(String, String)> {
    let urls = |bin_case: u8| -> String {
        let api = targets.iter().filter(|t| t.case == bin_case && t.role == "api");
        api.map(|t| t.url.clone()).collect::<Vec<_>>().join(",")
    };
    vec![("PRODUCT_URL".into(), urls(1)), ("ANALYTICS_URL".into(), urls(2)), ("AUTH_URL".into(), urls(3))]
}

/// What the page shows for one process.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProcessView {
    #[serde(flatten)]
    pub target: Target,
    /// `up`, `down`, or `waiting` before the first scrape.
    pub status: &'static str,
    /// Why it is down (`connection refused`, `timed out`, `HTTP 503`).
    pub reason: Option<String>,
    /// The last second's numbers; `None` until two scrapes exist.
    pub numbers: Option<Numbers>,
    /// Trace id of the slowest request in the most recent second that had a traced request.
    pub last_trace: Option<String>,
}

/// The latest view of every process, shared with the handlers.
#[derive(Default)]
pub struct Live {
    views: RwLock<Vec<ProcessView>>,
    /// One point per case and second, for the charts.
    pub history: History,
}

impl Live {
    /// A copy of the latest views.
    pub fn views(&self) -> Vec<ProcessView> {
        self.views.read().expect("live views poisoned").clone()
    }
}

/// Fetches and parses one `/metrics`; the error is a short reason for the page.
pub async fn scrape(client: &reqwest::Client, base_url: &str) -> Result<Scrape, String> {
    let resp = client.get(format!("{base_url}/metrics")).timeout(TIMEOUT).send().await.map_err(short)?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    resp.text().await.map(|t| scrape::parse(&t)).map_err(short)
}

fn short(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection refused".to_owned()
    } else {
        "unreachable".to_owned()
    }
}

/// One process's memory between scrapes.
struct Tracker {
    target: Target,
    previous: Option<(Scrape, Instant)>,
    last_trace: Option<String>,
}

impl Tracker {
    /// Folds one scrape result into the view.
    fn observe(&mut self, result: Result<Scrape, String>, at: Instant) -> ProcessView {
        let view = |status, reason, numbers, last_trace| ProcessView {
            target: self.target.clone(),
            status,
            reason,
            numbers,
            last_trace,
        };
        let scrape = match result {
            Ok(s) => s,
            Err(reason) => {
                self.previous = None;
                return view("down", Some(reason), None, self.last_trace.clone());
            }
        };
        let prev = self.previous.as_ref();
        let numbers = prev.and_then(|(p, then)| numbers::between(p, &scrape, at.duration_since(*then).as_secs_f64()));
        if let Some(trace) = numbers::latest_trace(prev.map(|(p, _)| p), &scrape) {
            self.last_trace = Some(trace);
        }
        self.previous = Some((scrape, at));
        view("up", None, numbers, self.last_trace.clone())
    }
}

/// Starts the scrape loop; it runs until the runtime stops.
pub fn start(targets: Vec<Target>) -> Arc<Live> {
    let waiting =
        |t: &Target| ProcessView { target: t.clone(), status: "waiting", reason: None, numbers: None, last_trace: None };
    let live = Arc::new(Live { views: RwLock::new(targets.iter().map(waiting).collect()), history: History::default() });
    let trackers = targets.into_iter().map(|target| Tracker { target, previous: None, last_trace: None }).collect();
    tokio::spawn(follow(trackers, live.clone()));
    live
}

async fn follow(mut trackers: Vec<Tracker>, live: Arc<Live>) {
    let client = reqwest::Client::new();
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let results = futures::future::join_all(trackers.iter().map(|t| scrape(&client, &t.target.url))).await;
        let at = Instant::now();
        let views: Vec<ProcessView> = trackers.iter_mut().zip(results).map(|(t, r)| t.observe(r, at)).collect();
        live.history.record(&views, chrono::Utc::now().timestamp_millis());
        *live.views.write().expect("live views poisoned") = views;
    }
}
