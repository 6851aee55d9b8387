//! `shoplab console`: the trainer's web console (levers, live numbers, load button).
//!
//! A terminal full of commands is hard to follow from the back of a room; this page puts one card per
//! case study on a screen: its levers as switches (and the email provider's fault knobs as a selector and
//! sliders), presets, live numbers scraped from the services every second, a button that runs the case's
//! k6 script, and links to the matching Grafana dashboard and the latest trace in Tempo.
//!
//! It works offline: the page is plain HTML/JS/CSS compiled into the binary, the numbers come from the
//! services' own `/metrics` (no Prometheus needed), and flags are written to the lab database exactly
//! like `shoplab flags` does. Reading is open; every write needs the admin token.
//!
//! - [`crate::scrape`]: the text-format reader (shared with `shoplab case`); [`numbers`]: rates and percentiles from two scrapes;
//! - [`live`]: the once-a-second scrape loop; [`load`]: the k6 runner;
//! - [`cases`]: the cards; [`view`]: `GET /api/state`; [`api`]: the handlers; [`page`]: the static page;
//! - [`history`]: the live charts' last five minutes and their flag markers; [`top`]: the slow-query view.

pub mod api;
pub mod cases;
pub mod history;
pub mod live;
pub mod load;
pub mod numbers;
pub mod page;
pub mod top;
pub mod view;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use sqlx::PgPool;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use live::{Live, ServiceUrls};
use load::Loads;

/// What a write answers when no admin token is configured.
pub const WRITES_DISABLED: &str =
    "writes are disabled: start the console with SHOPLAB_ADMIN_TOKEN=<token> (or --token <token>) to enable them";

#[derive(Args, Debug, Clone)]
pub struct ConsoleArgs {
    /// Where the console listens.
    #[arg(long, env = "CONSOLE_ADDR", default_value = "127.0.0.1:8088")]
    pub addr: String,
    /// Admin token that unlocks writes (prefer the environment variable: arguments show in `ps`); default:
    /// the one `shoplab up` stored in $SHOPLAB_HOME/admin-token; empty disables writes.
    #[arg(long, env = "SHOPLAB_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Product API base URL (scraped; handed to k6 as PRODUCT_URL); default: the lab's port.
    #[arg(long, env = "PRODUCT_URL")]
    pub product_url: Option<String>,
    /// Auth API base URL (scraped; handed to k6 as AUTH_URL); default: the lab's port.
    #[arg(long, env = "AUTH_URL")]
    pub auth_url: Option<String>,
    /// Analytics API base URLs, comma-separated for several instances (scraped; k6's ANALYTICS_URL).
    #[arg(long, env = "ANALYTICS_URL")]
    pub analytics_url: Option<String>,
    /// Email provider base URL (scraped); default: the lab's port.
    #[arg(long, env = "EMAIL_PROVIDER_URL")]
    pub email_provider_url: Option<String>,
    /// Shift every default port by this much, like `shoplab up --port-offset` (a second lab).
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,
    /// Grafana, for the dashboard and trace links.
    #[arg(long, env = "GRAFANA_URL", default_value = "http://127.0.0.1:3000")]
    pub grafana_url: String,
    /// Directory of the k6 scripts.
    #[arg(long, env = "K6_DIR", default_value = "k6")]
    pub k6_dir: PathBuf,
    /// The k6 executable.
    #[arg(long, env = "K6_BIN", default_value = "k6")]
    pub k6_bin: String,
}

/// Everything the console is built from (tests build it directly).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Bearer token for writes; `None` refuses every write with [`WRITES_DISABLED`].
    pub admin_token: Option<String>,
    pub urls: ServiceUrls,
    pub grafana_url: String,
    pub k6_bin: String,
    pub k6_dir: PathBuf,
}

impl From<&ConsoleArgs> for Settings {
    fn from(a: &ConsoleArgs) -> Self {
        let one = |s: &str| s.trim().trim_end_matches('/').to_owned();
        let given = |s: &Option<String>| s.as_deref().map(one).filter(|u| !u.is_empty());
        let list = a.analytics_url.as_deref().unwrap_or_default().split(',').map(one).filter(|u| !u.is_empty()).collect();
        Self {
            admin_token: crate::lab_secrets::admin_token(a.token.clone()),
            urls: ServiceUrls {
                product: given(&a.product_url),
                auth: given(&a.auth_url),
                analytics: list,
                email_provider: given(&a.email_provider_url),
                port_offset: a.port_offset,
            },
            grafana_url: one(&a.grafana_url),
            k6_bin: a.k6_bin.clone(),
            k6_dir: a.k6_dir.clone(),
        }
    }
}

/// The handlers' state; built once.
#[derive(Clone)]
pub struct ConsoleState {
    /// The lab database: `lab.flags` and `lab.flag_events`.
    pub pool: PgPool,
    pub admin_token: Option<String>,
    /// Latest numbers of every process.
    pub live: Arc<Live>,
    pub loads: Arc<Loads>,
    pub grafana_url: String,
    /// The reset button's starting state (`shoplab reset`).
    pub reset: Arc<crate::reset::Resetter>,
}

/// The console's OpenAPI document: `info` from the `shoplab` crate's metadata under the console's own name,
/// one tag; the kit completes it (error shape, body limit, the `admin_token` scheme) as for every service.
#[derive(utoipa::OpenApi)]
#[openapi(tags((name = "console", description = "The trainer's console: every case study's levers, live numbers \
    and k6 runs. Reading is open; every write takes the lab's admin token (Authorize).")))]
struct ApiDoc;

/// The console's identity: the CLI crate's version, licence and repository, its own name and description.
fn identity() -> kit::http::openapi::Identity {
    let description = "The trainer's web console of the shoplab lab: levers as switches, live numbers, k6 runs.";
    kit::http::openapi::Identity { name: "console", description, ..kit::api_identity!() }
}

/// Starts the scrape loop and binds the console on `addr` (port 0 picks a free one).
pub async fn build(pool: PgPool, settings: Settings, addr: &str) -> anyhow::Result<kit::app::Application> {
    let targets = live::targets(&settings.urls);
    let k6_env = live::k6_env(&targets);
    let state = ConsoleState {
        pool,
        admin_token: settings.admin_token.clone(),
        live: live::start(targets),
        loads: Loads::new(settings.k6_bin.clone(), settings.k6_dir.clone(), k6_env),
        grafana_url: settings.grafana_url.clone(),
        reset: Arc::new(crate::reset::Resetter::new(lab_args(&settings.urls), kit::config::Config::from_env())),
    };
    kit::app::Application::bind(addr, router(state)).await
}

/// The lab the reset button acts on: the console's URLs (the workers' at their default ports + offset).
fn lab_args(urls: &ServiceUrls) -> crate::compare::LabArgs {
    crate::compare::LabArgs {
        port_offset: urls.port_offset,
        product_url: urls.product.clone(),
        auth_url: urls.auth.clone(),
        analytics_url: (!urls.analytics.is_empty()).then(|| urls.analytics.join(",")),
        email_provider_url: urls.email_provider.clone(),
        ..Default::default()
    }
}

/// The page, its assets, the JSON API, its OpenAPI document and the explorer at `/docs`; bodies above
/// the kit's limit answer 413.
pub fn router(state: ConsoleState) -> axum::Router {
    let (api, doc) = OpenApiRouter::with_openapi(identity().apply(ApiDoc::openapi()))
        .routes(routes!(api::state))
        .routes(routes!(api::token))
        .routes(routes!(api::put_flag))
        .routes(routes!(api::preset))
        .routes(routes!(api::step))
        .routes(routes!(api::start_load, api::stop_load))
        .routes(routes!(api::reset))
        .routes(routes!(history::history))
        .routes(routes!(top::top))
        .routes(routes!(top::reset))
        .with_state(state)
        .split_for_parts();
    let explorer = kit::http::docs::router("shoplab console", "/api/openapi.json");
    let doc = Arc::new(kit::http::openapi::complete(doc));
    let spec = axum::routing::get(move |headers: axum::http::HeaderMap| async move { kit::http::openapi::serve(&doc, &headers) });
    let app = api.route("/api/openapi.json", spec).merge(explorer).merge(page::router());
    kit::http::body::limit(app.fallback(|| async { kit::ApiError::NotFound("no such route".into()) }))
}

/// Serves the console until Ctrl-C.
pub async fn run(database_url: &str, args: ConsoleArgs) -> anyhow::Result<()> {
    let pool = crate::database::connect(database_url, 4).await?;
    kit::flags::load(&pool).await.map_err(|e| anyhow::anyhow!("cannot read lab.flags ({e}): run `shoplab migrate`"))?;
    let settings = Settings::from(&args);
    let stored = crate::lab_secrets::home().join(crate::lab_secrets::ADMIN_TOKEN_FILE);
    let writes = match (&settings.admin_token, &args.token) {
        (Some(_), None) => format!("writes need the admin token stored in {}", stored.display()),
        (Some(_), Some(_)) => "writes need the admin token".to_owned(),
        (None, _) => WRITES_DISABLED.to_owned(),
    };
    let app = build(pool, settings, &args.addr).await?;
    println!("shoplab console on http://{} ({writes}); Ctrl-C stops it", app.addr());
    app.run_until_stopped(crate::signals::stop_requested()).await?;
    Ok(())
}
