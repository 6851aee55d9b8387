//! `GET /api/state`: everything the page draws, assembled from the lab database (flags and their
//! history), the scrape loop (live numbers) and the load runner, plus links into Grafana and Tempo.

use kit::ApiResult;
use kit::db::traced;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::ConsoleState;
use super::cases::{CASES, Case, ChapterView, FlagCard, chapter_cards, flag_cards, next_step};
use super::live::ProcessView;
use super::load::LoadView;

/// Rows of `lab.flag_events` the page lists.
const HISTORY: i64 = 15;
/// The Tempo datasource uid of the lab's Grafana (grafana/provisioning/datasources/datasources.yaml).
const TEMPO_UID: &str = "tempo";

/// The page state.
#[derive(Serialize, ToSchema)]
pub struct StateView {
    pub writes: Writes,
    pub cases: Vec<CaseView>,
    /// The levers of no case study, by book chapter.
    pub chapters: Vec<ChapterView>,
    /// Most recent flag changes first, from any writer (console, CLI, API).
    pub events: Vec<FlagEvent>,
    pub generated_at: chrono::DateTime<chrono::Utc>,
}

/// Whether this console accepts writes at all (a token is configured).
#[derive(Serialize, ToSchema)]
pub struct Writes {
    pub enabled: bool,
    pub message: String,
}

/// One case study card.
#[derive(Serialize, ToSchema)]
pub struct CaseView {
    pub number: u8,
    pub title: &'static str,
    pub service: &'static str,
    pub script: String,
    pub dashboard_url: String,
    /// Tempo explore link to the latest traced request of the case's API, if any.
    pub trace_url: Option<String>,
    pub trace_id: Option<String>,
    pub columns: Vec<&'static str>,
    pub presets: Vec<PresetButton>,
    /// The lever "step to next lever" would turn on.
    pub next_step: Option<String>,
    pub flags: Vec<FlagCard>,
    pub processes: Vec<ProcessView>,
    pub load: Option<LoadView>,
}

/// A preset button: label and preset name.
#[derive(Serialize, ToSchema)]
pub struct PresetButton {
    pub label: String,
    pub preset: String,
}

/// One row of `lab.flag_events`.
#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct FlagEvent {
    pub at: chrono::DateTime<chrono::Utc>,
    pub name: String,
    #[schema(value_type = Value, nullable)]
    pub old: Option<Value>,
    #[schema(value_type = Value)]
    pub new: Value,
    pub actor: String,
}

/// Builds the page state.
pub async fn build(st: &ConsoleState) -> ApiResult<StateView> {
    let stored = kit::flags::load(&st.pool).await?;
    const EVENTS: &str = "select at, name, old, new, actor from lab.flag_events order by id desc limit $1";
    let events = traced(EVENTS, sqlx::query_as(EVENTS).bind(HISTORY).fetch_all(&st.pool)).await?;
    let processes = st.live.views();
    let mut loads = st.loads.views();
    let cases = CASES
        .iter()
        .map(|c| {
            let procs: Vec<ProcessView> = processes.iter().filter(|p| p.target.case == c.number).cloned().collect();
            let trace_id = trace_of(c, &procs);
            CaseView {
                number: c.number,
                title: c.title,
                service: c.service,
                script: format!("k6/{}", c.script),
                dashboard_url: format!("{}/d/{}?from=now-15m&to=now&refresh=5s", st.grafana_url, c.dashboard),
                trace_url: trace_id.as_deref().map(|t| explore_url(&st.grafana_url, t)),
                trace_id,
                columns: c.columns.to_vec(),
                presets: presets(c),
                next_step: next_step(c.number, &stored).map(|(n, _)| n.to_owned()),
                flags: flag_cards(c.number, &stored),
                processes: procs,
                load: loads.remove(&c.number),
            }
        })
        .collect();
    let writes = match st.admin_token {
        Some(_) => Writes { enabled: true, message: "enter the admin token to unlock the switches".to_owned() },
        None => Writes { enabled: false, message: super::WRITES_DISABLED.to_owned() },
    };
    Ok(StateView { writes, cases, chapters: chapter_cards(&stored), events, generated_at: chrono::Utc::now() })
}

fn presets(c: &Case) -> Vec<PresetButton> {
    let base = [("before", format!("case{}-before", c.number)), ("after", format!("case{}-after", c.number))];
    let extra = c.extra_presets.iter().map(|(label, p)| (*label, (*p).to_owned()));
    base.into_iter().chain(extra).map(|(label, preset)| PresetButton { label: label.to_owned(), preset }).collect()
}

/// The case's API trace if it has one, else any of its processes' (a worker's, the provider's).
fn trace_of(c: &Case, procs: &[ProcessView]) -> Option<String> {
    let api = procs.iter().filter(|p| p.target.name == c.service).find_map(|p| p.last_trace.clone());
    api.or_else(|| procs.iter().find_map(|p| p.last_trace.clone()))
}

/// Grafana Explore on the Tempo datasource, showing one trace by id.
pub fn explore_url(grafana: &str, trace_id: &str) -> String {
    let pane = serde_json::json!({ "t": {
        "datasource": TEMPO_UID,
        "queries": [{
            "refId": "A",
            "datasource": { "type": "tempo", "uid": TEMPO_UID },
            "queryType": "traceql",
            "query": trace_id
        }],
        "range": { "from": "now-1h", "to": "now" }
    }});
    let panes: String = url::form_urlencoded::byte_serialize(pane.to_string().as_bytes()).collect();
    format!("{grafana}/explore?schemaVersion=1&orgId=1&panes={panes}")
}
