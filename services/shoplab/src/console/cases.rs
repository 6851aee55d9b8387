//! The three case studies as the console shows them: which service, k6 script and Grafana dashboard
//! belong to each, which numbers matter, and every flag of the case with the widget that edits it.
//!
//! Levers, their book order, chapters and descriptions all come from the flag registry
//! (`kit::flags::FLAGS`), so a lever added there shows up here without a change.

use std::collections::HashMap;

use kit::flags::{FLAGS, FlagDef, Kind, Stored, V, steps};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One case study card.
pub struct Case {
    pub number: u8,
    pub title: &'static str,
    /// The API service whose numbers headline the card and whose trace is linked.
    pub service: &'static str,
    /// k6 script under `k6/`.
    pub script: &'static str,
    /// Grafana dashboard uid.
    pub dashboard: &'static str,
    /// The `Numbers` fields worth a column on this card (all are in the JSON anyway).
    pub columns: &'static [&'static str],
    /// Preset buttons beyond before/after: (label, preset name).
    pub extra_presets: &'static [(&'static str, &'static str)],
}

const SPEED: [&str; 5] = ["rps", "p95_ms", "error_rate", "queries_per_request", "cache_hit_rate"];

/// The cards, in book order.
pub const CASES: &[Case] = &[
    Case {
        number: 1,
        title: "Product catalogue",
        service: "product",
        script: "case1-product.js",
        dashboard: "case1-product",
        columns: &SPEED,
        extra_presets: &[],
    },
    Case {
        number: 2,
        title: "Real-time analytics",
        service: "analytics",
        script: "case2-analytics.js",
        dashboard: "case2-analytics",
        columns: &SPEED,
        extra_presets: &[],
    },
    Case {
        number: 3,
        title: "User authentication",
        service: "auth",
        script: "case3-auth.js",
        dashboard: "case3-auth",
        columns: &["rps", "p95_ms", "error_rate", "breaker", "outbox_pending"],
        extra_presets: &[("degraded provider", "case3-degraded-provider"), ("healthy provider", "case3-healthy-provider")],
    },
];

/// The card of case `number`, or a 404 naming the valid ones.
pub fn find(number: u8) -> kit::ApiResult<&'static Case> {
    CASES
        .iter()
        .find(|c| c.number == number)
        .ok_or_else(|| kit::ApiError::NotFound(format!("no case study {number}; valid cases: 1, 2, 3")))
}

/// How the page edits a flag.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Widget {
    /// `switch` (bool), `select` (enum), `slider` (provider knobs, floats) or `number`.
    pub kind: &'static str,
    /// Choices of a `select`.
    pub options: Vec<&'static str>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub step: Option<f64>,
}

/// Sliders stop at 10 s of added latency: past that a request is a hang, which `down` shows better.
const LATENCY_SLIDER_MAX: f64 = 10_000.0;

fn widget(f: &FlagDef) -> Widget {
    let w = |kind, min, max, step| Widget { kind, options: Vec::new(), min, max, step };
    match f.kind {
        Kind::Bool => w("switch", None, None, None),
        Kind::Enum(options) => Widget { options: options.to_vec(), ..w("select", None, None, None) },
        Kind::Float { min, max } => w("slider", Some(min), Some(max), Some(0.05)),
        Kind::Int { min, max } if f.name.starts_with("emailprovider.") => {
            w("slider", Some(min as f64), Some((max as f64).min(LATENCY_SLIDER_MAX)), Some(50.0))
        }
        Kind::Int { min, max } => w("number", Some(min as f64), Some(max as f64), Some(1.0)),
    }
}

/// One flag on a card: registry facts, current value and who set it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FlagCard {
    pub name: &'static str,
    #[schema(value_type = Value)]
    pub value: Value,
    #[schema(value_type = Value)]
    pub default: Value,
    /// The after-preset value if this flag is a lever of the case study.
    #[schema(value_type = Value, nullable)]
    pub after: Option<Value>,
    /// 1-based position among the case's levers in book order (`None` for knobs).
    pub step: Option<usize>,
    pub chapter: &'static str,
    pub description: &'static str,
    pub widget: Widget,
    /// The command that measures this lever alone (off, then on), for a lever; `None` for a knob.
    pub compare: Option<String>,
    /// Actor of the last write (`console:trainer`, `cli`, `api:product`); `None` = never written.
    pub updated_by: Option<String>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every flag of case `number` in registry order, with values from the stored rows.
pub fn flag_cards(number: u8, stored: &HashMap<String, Stored>) -> Vec<FlagCard> {
    let order: Vec<&str> = steps(number).into_iter().map(|(n, _)| n).collect();
    FLAGS
        .iter()
        .filter(|f| f.case == number)
        .map(|f| card(f, stored, order.iter().position(|n| *n == f.name).map(|i| i + 1)))
        .collect()
}

/// One chapter of the console's "Chapter levers" section: the levers of one book chapter that belong to
/// no case study (`case == 0` in the registry), with their knobs.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ChapterView {
    pub title: &'static str,
    /// The table of contents' number.
    pub number: u8,
    /// The number the case studies cite.
    pub cited: u8,
    pub flags: Vec<FlagCard>,
}

/// The chapter levers grouped by chapter, in book order; flags in registry order within a chapter.
pub fn chapter_cards(stored: &HashMap<String, Stored>) -> Vec<ChapterView> {
    let mut chapters: Vec<kit::flags::Chapter> = Vec::new();
    for f in FLAGS.iter().filter(|f| f.case == 0) {
        if !chapters.contains(&f.chapter) {
            chapters.push(f.chapter);
        }
    }
    chapters.sort_by_key(|c| c.number);
    chapters
        .into_iter()
        .map(|ch| ChapterView {
            title: ch.title,
            number: ch.number,
            cited: ch.cited(),
            flags: FLAGS.iter().filter(|f| f.case == 0 && f.chapter == ch).map(|f| card(f, stored, None)).collect(),
        })
        .collect()
}

fn card(f: &FlagDef, stored: &HashMap<String, Stored>, step: Option<usize>) -> FlagCard {
    let row = stored.get(f.name);
    FlagCard {
        name: f.name,
        value: current(f, stored),
        default: f.default.to_json(),
        after: f.after.map(V::to_json),
        step,
        chapter: f.chapter.title,
        description: f.description,
        widget: widget(f),
        compare: f.after.map(|_| format!("shoplab lever {} --compare", f.name)),
        updated_by: row.map(|r| r.updated_by.clone()),
        updated_at: row.map(|r| r.updated_at),
    }
}

/// A flag's value as every process sees it: the stored value if valid, else the default.
fn current(f: &FlagDef, stored: &HashMap<String, Stored>) -> Value {
    let valid = stored.get(f.name).map(|r| r.value.clone()).filter(|v| kit::flags::validate(f.name, v).is_ok());
    valid.unwrap_or_else(|| f.default.to_json())
}

/// The first lever of case `number`, in book order, not yet at its after value.
pub fn next_step(number: u8, stored: &HashMap<String, Stored>) -> Option<(&'static str, V)> {
    steps(number).into_iter().find(|(name, after)| {
        let def = kit::flags::find(name).expect("steps come from the registry");
        current(def, stored) != after.to_json()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(pairs: &[(&str, Value)]) -> HashMap<String, Stored> {
        let row = |v: &Value| Stored { value: v.clone(), updated_at: chrono::Utc::now(), updated_by: "cli".into() };
        pairs.iter().map(|(n, v)| ((*n).to_owned(), row(v))).collect()
    }

    #[test]
    fn next_step_walks_the_levers_in_book_order() {
        assert_eq!(next_step(1, &stored(&[])).map(|s| s.0), Some("product.eager_loading"));
        let first = stored(&[("product.eager_loading", Value::Bool(true))]);
        assert_eq!(next_step(1, &first).map(|s| s.0), Some("product.composite_indexes"));
        let all: Vec<(&str, Value)> = steps(1).into_iter().map(|(n, v)| (n, v.to_json())).collect();
        assert_eq!(next_step(1, &stored(&all)), None);
    }

    #[test]
    fn every_flag_of_a_case_gets_a_widget() {
        let cards = flag_cards(3, &stored(&[]));
        let kind = |n: &str| cards.iter().find(|c| c.name == n).map(|c| c.widget.kind);
        assert_eq!(kind("auth.async_email"), Some("switch"));
        assert_eq!(kind("emailprovider.mode"), Some("select"));
        assert_eq!(kind("emailprovider.error_rate"), Some("slider"));
        assert_eq!(kind("emailprovider.latency_ms"), Some("slider"));
        assert_eq!(kind("auth.rate_limit_per_sec"), Some("number"));
        assert!(cards.iter().all(|c| c.name.starts_with("auth.") || c.name.starts_with("emailprovider.")));
    }

    #[test]
    fn chapter_levers_are_grouped_by_chapter_in_book_order() {
        let chapters = chapter_cards(&stored(&[]));
        let numbers: Vec<u8> = chapters.iter().map(|c| c.number).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "book order, one group per chapter: {numbers:?}");
        let traffic = chapters.iter().find(|c| c.title == "Traffic Management").expect("traffic chapter");
        assert_eq!((traffic.number, traffic.cited), (10, 9));
        let shed = traffic.flags.iter().find(|f| f.name == "product.load_shedding").expect("load shedding");
        assert_eq!(shed.compare.as_deref(), Some("shoplab lever product.load_shedding --compare"));
        let limit = traffic.flags.iter().find(|f| f.name == "product.load_shed_limit").expect("its knob");
        assert_eq!((limit.compare.as_deref(), limit.widget.kind), (None, "number"));
        let count: usize = chapters.iter().map(|c| c.flags.len()).sum();
        assert_eq!(count, FLAGS.iter().filter(|f| f.case == 0).count(), "every chapter lever once");
    }
}
