//! The defined starting state of a measurement, and `shoplab reset [case]` which applies it on demand.
//!
//! A run's numbers depend on what earlier runs left behind: a product cache still holding entries written
//! with the after state's 5-minute TTL made one before phase three times faster than the next. So every
//! phase of `shoplab case N --compare|--steps` and every probe of `shoplab calibrate` starts by applying
//! the same state, in this order (docs/architecture.md, "Reproducible comparisons"):
//!
//! 1. count the keys left in the case's Redis namespace, then empty it (case 1's product cache) or keep
//!    it and say why (case 2's pre-aggregates are the after state's derived data: never destroyed);
//! 2. write the phase's flags (the whole preset, not a difference) through the database, and wait until
//!    every process of the case reports them (APIs through `GET /admin/flags`, workers through their
//!    `shoplab_flag_value` gauges) and, for the product service, until its composite indexes match the
//!    flag; with cache warming on, wait until the warmed keys stop growing;
//! 3. wait (bounded) for the case's outbox and work queue to drain, then record their depths;
//! 4. read Postgres' counters (`pg_stat_database`, `pg_stat_statements`) as the baseline, count the rows,
//!    the keys now in the namespace, and (case 3) the breaker state.
//!
//! The result, a [`StartState`], goes into the report's header and JSON so two reports can be compared.

pub mod state;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Args;
use deadpool_redis::Pool;
use kit::flags::{self, V};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::compare::lab::{self, LabArgs, Process};

/// How the lab's stores are reached.
#[derive(Clone)]
pub struct Conns {
    pub pool: PgPool,
    pub redis: Pool,
    pub amqp_url: String,
}

impl Conns {
    /// Connects to the lab database and Redis (RabbitMQ is reached per depth read).
    pub async fn open(database_url: &str, redis_url: &str, amqp_url: &str) -> anyhow::Result<Self> {
        let pool = crate::database::connect(database_url, 3).await?;
        let redis = kit::redis::connect(redis_url, 2).await?;
        Ok(Self { pool, redis, amqp_url: amqp_url.to_owned() })
    }
}

/// The state a phase started from (the report's header and JSON).
#[derive(Clone, Debug, Default, Serialize)]
pub struct StartState {
    pub at: chrono::DateTime<chrono::Utc>,
    /// The case's Redis namespace (full prefix), if it has one, and what the reset did with it.
    pub namespace: Option<String>,
    pub policy: &'static str,
    /// Keys found in the namespace before the reset, and at the start of the phase.
    pub keys_left_over: Option<u64>,
    pub keys_at_start: Option<u64>,
    pub rows: BTreeMap<&'static str, i64>,
    pub outbox_pending: BTreeMap<&'static str, i64>,
    /// Ready messages per queue (None: not declared or unreachable).
    pub queue_depths: BTreeMap<String, Option<u32>>,
    /// Whether outboxes and work queues were empty within the drain timeout.
    pub drained: bool,
    pub pg: state::PgCounters,
    /// Process -> the case's flags as that process reported them.
    pub flags_seen: BTreeMap<String, BTreeMap<String, Value>>,
    /// Case 3: `shoplab_circuit_breaker_state` (0 closed, 1 half-open, 2 open), as the processes export it.
    pub breaker_state: Option<f64>,
}

/// What to apply.
pub struct Plan<'a> {
    pub case: u8,
    /// The full flag state of the phase (None: keep the flags as they are).
    pub flags: Option<&'a [(&'static str, V)]>,
    pub lab: &'a LabArgs,
    /// How long to wait for outboxes and queues to drain.
    pub drain: Duration,
    /// Fail when a process does not confirm the flags (compare) or only warn (the trainer's reset).
    pub strict: bool,
    /// Recorded in `lab.flag_events` as who changed the flags.
    pub actor: &'a str,
}

/// Applies the starting state of `plan` and records it.
pub async fn apply(conns: &Conns, plan: &Plan<'_>) -> anyhow::Result<StartState> {
    let ns = lab::namespace(plan.case);
    let prefix = ns.suffix.map(|s| format!("{}{s}", plan.lab.redis_prefix));
    let keys_left_over = match &prefix {
        Some(p) => Some(state::count_keys(&conns.redis, p).await?),
        None => None,
    };
    if let (Some(p), true) = (&prefix, ns.emptied) {
        kit::redis::delete_prefix(&conns.redis, p).await?;
    }
    if let Some(values) = plan.flags {
        flags::apply(&conns.pool, values, plan.actor).await?;
    }
    let processes = plan.lab.processes(plan.case);
    let flags_seen = confirm_flags(&conns.pool, plan.case, &processes, plan.strict).await?;
    if let (Some(p), true) = (&prefix, warming_on(&conns.pool).await? && plan.case == 1) {
        settle(&conns.redis, p).await?;
    }
    let (outbox_pending, queue_depths, drained) = drain(conns, plan).await?;
    Ok(StartState {
        at: chrono::Utc::now(),
        keys_at_start: match &prefix {
            Some(p) => Some(state::count_keys(&conns.redis, p).await?),
            None => None,
        },
        namespace: prefix,
        policy: ns.policy,
        keys_left_over,
        rows: state::rows(&conns.pool).await?,
        outbox_pending,
        queue_depths,
        drained,
        pg: state::pg_counters(&conns.pool).await?,
        flags_seen,
        breaker_state: breaker(plan.case, &processes).await,
    })
}

/// The flags a case's processes are checked for: its levers (for case 3 also the provider knobs).
fn case_flags(case: u8) -> Vec<&'static str> {
    flags::FLAGS.iter().filter(|f| f.case == case).map(|f| f.name).collect()
}

/// Waits (up to 30 s) until every process reports the stored value of each of the case's flags and has
/// carried the flip out (index builds included).
async fn confirm_flags(
    pool: &PgPool,
    case: u8,
    processes: &[Process],
    strict: bool,
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, Value>>> {
    let names = case_flags(case);
    let stored = flags::load(pool).await?;
    let want: BTreeMap<String, Value> = names
        .iter()
        .filter_map(|n| flags::find(n))
        .map(|f| (f.name.to_owned(), stored.get(f.name).map(|s| s.value.clone()).unwrap_or_else(|| f.default.to_json())))
        .collect();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut seen = BTreeMap::new();
        let mut behind = Vec::new();
        for p in processes {
            match state::flags_seen(&client, p, &names).await {
                Some(view) if !view.settled => behind.push(format!("{} (still applying a flip)", p.name)),
                Some(view) if state::agrees(p.kind, &view.flags, &want) => drop(seen.insert(p.name.clone(), view.flags)),
                Some(view) => {
                    behind.push(format!("{} (sees {})", p.name, serde_json::to_string(&view.flags).unwrap_or_default()))
                }
                None => behind.push(format!("{} (no answer)", p.name)),
            }
        }
        if behind.is_empty() || Instant::now() > deadline {
            if !behind.is_empty() {
                let msg = format!("flags not confirmed within 30 s by: {}", behind.join(", "));
                anyhow::ensure!(!strict, "{msg}");
                eprintln!("warning: {msg}");
            }
            return Ok(seen);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn warming_on(pool: &PgPool) -> anyhow::Result<bool> {
    let stored = flags::load(pool).await?;
    Ok(stored.get("product.cache_warming").is_some_and(|s| s.value == Value::Bool(true)))
}

/// With cache warming on, the service fills the namespace in the background when the flag turns on:
/// wait until the key count holds still for a second (at most 30 s), so the phase starts warm, not warming.
async fn settle(redis: &Pool, prefix: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = state::count_keys(redis, prefix).await?;
    let mut still = 0;
    while still < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = state::count_keys(redis, prefix).await?;
        still = if now == last && now > 0 { still + 1 } else { 0 };
        last = now;
    }
    Ok(())
}

type Backlog = (BTreeMap<&'static str, i64>, BTreeMap<String, Option<u32>>, bool);

/// Waits until the case's outbox is published and its work queue empty (at most `plan.drain`); returns
/// what is left, and whether it drained. Nothing is purged: a message waiting there is a user's email.
async fn drain(conns: &Conns, plan: &Plan<'_>) -> anyhow::Result<Backlog> {
    let names = state::queues(plan.case, &plan.lab.amqp_prefix);
    let deadline = Instant::now() + plan.drain;
    loop {
        let outbox = state::outbox_pending(&conns.pool, plan.case).await?;
        let depths = state::queue_depths(&conns.amqp_url, &names).await;
        let work_queue_empty = names.first().is_none_or(|q| depths.get(q).copied().flatten().unwrap_or(0) == 0);
        let drained = outbox.values().all(|n| *n == 0) && work_queue_empty;
        if drained || Instant::now() >= deadline {
            return Ok((outbox, depths, drained));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits (at most `timeout`) until case `case`'s outbox is published and its work queue empty; whether it
/// drained. Nothing is purged.
pub async fn wait_drained(conns: &Conns, case: u8, lab: &LabArgs, timeout: Duration) -> anyhow::Result<bool> {
    let plan = Plan { case, flags: None, lab, drain: timeout, strict: false, actor: "compare" };
    Ok(drain(conns, &plan).await?.2)
}

/// The highest breaker state any of case 3's processes exports.
async fn breaker(case: u8, processes: &[Process]) -> Option<f64> {
    if case != 3 {
        return None;
    }
    let urls: Vec<String> = processes.iter().map(|p| format!("{}/metrics", p.url)).collect();
    let (scrape, _) = crate::scrape::fetch_all(&reqwest::Client::new(), &urls).await;
    scrape.max("shoplab_circuit_breaker_state")
}

/// `shoplab reset [case]`.
#[derive(Args, Debug, Clone)]
pub struct ResetArgs {
    /// Case study 1, 2 or 3 (default: all three).
    #[arg(value_parser = clap::value_parser!(u8).range(1..=3))]
    pub case: Option<u8>,
    /// Keep the flags as they are (only empty the cache and drain); default: apply the case's before preset.
    #[arg(long)]
    pub keep_flags: bool,
    /// How long to wait for outboxes and queues to drain.
    #[arg(long, default_value = "20s", value_parser = crate::compare::parse_duration)]
    pub drain: Duration,
    #[command(flatten)]
    pub lab: LabArgs,
}

/// Applies the starting state of one case (or all) and prints it.
pub async fn run(database_url: &str, redis_url: &str, amqp_url: &str, args: ResetArgs) -> anyhow::Result<()> {
    let conns = Conns::open(database_url, redis_url, amqp_url).await?;
    for case in args.case.map_or(vec![1, 2, 3], |c| vec![c]) {
        let before = flags::preset(&format!("case{case}-before")).unwrap_or_default();
        let plan = Plan {
            case,
            flags: (!args.keep_flags).then_some(&before[..]),
            lab: &args.lab,
            drain: args.drain,
            strict: false,
            actor: "reset",
        };
        let start = apply(&conns, &plan).await?;
        println!("case {case}: {}", summary(&start));
    }
    Ok(())
}

/// The console's reset button: the same starting state, with connections opened at the first click and
/// reused after (the console starts without Redis or RabbitMQ if it has to).
pub struct Resetter {
    lab: LabArgs,
    config: kit::config::Config,
    conns: tokio::sync::OnceCell<Conns>,
}

impl Resetter {
    /// For the lab at `lab`, with the stores named by `config` (read once at start).
    pub fn new(lab: LabArgs, config: kit::config::Config) -> Self {
        Self { lab, config, conns: tokio::sync::OnceCell::new() }
    }

    /// Applies case `case`'s before preset and starting state; drains for at most 5 s.
    pub async fn reset(&self, case: u8, actor: &str) -> anyhow::Result<StartState> {
        let c = &self.config;
        let conns = self.conns.get_or_try_init(|| Conns::open(&c.database_url, &c.redis_url, &c.amqp_url)).await?;
        let mut lab = self.lab.clone();
        lab.redis_prefix.clone_from(&c.redis_prefix);
        lab.amqp_prefix.clone_from(&c.amqp_prefix);
        let before = flags::preset(&format!("case{case}-before")).unwrap_or_default();
        let plan = Plan { case, flags: Some(&before), lab: &lab, drain: Duration::from_secs(5), strict: false, actor };
        apply(conns, &plan).await
    }
}

/// One line: namespace, keys, backlog, processes that confirmed the flags.
pub fn summary(s: &StartState) -> String {
    let keys = match (&s.namespace, s.keys_left_over, s.keys_at_start) {
        (Some(ns), Some(a), Some(b)) => format!("{ns}* {a} keys found, {b} at start ({})", s.policy),
        _ => s.policy.to_owned(),
    };
    let backlog: Vec<String> = s
        .outbox_pending
        .iter()
        .map(|(t, n)| format!("{t} {n} pending"))
        .chain(s.queue_depths.iter().map(|(q, d)| format!("{q} {}", d.map_or("-".into(), |d| d.to_string()))))
        .collect();
    let backlog = if backlog.is_empty() { String::new() } else { format!("; {}", backlog.join(", ")) };
    let breaker = match s.breaker_state {
        Some(b) => format!("; breaker {}", ["closed", "half-open", "open"].get(b as usize).unwrap_or(&"?")),
        None => String::new(),
    };
    let procs: Vec<&str> = s.flags_seen.keys().map(String::as_str).collect();
    let procs = if procs.is_empty() { "none".into() } else { procs.join(", ") };
    format!("{keys}{backlog}{breaker}; flags confirmed by {procs}")
}
