//! The presets `shoplab flags preset` applies: each case's before and after, the provider's health
//! scenarios, and every lever at once.

use super::registry::{FLAGS, V};

/// The provider knobs of `case3-degraded-provider`: slow (3 s) and flaky (30 % errors).
pub const DEGRADED_PROVIDER: &[(&str, V)] =
    &[("emailprovider.mode", V::S("flaky")), ("emailprovider.latency_ms", V::I(3000)), ("emailprovider.error_rate", V::F(0.3))];

/// The provider knobs of `case3-outage-provider`: slow (1 s) for 35 s, then down (hung) for 25 s, every
/// minute from the moment the provider sees the mode. Long enough down for a 5 s timeout and a 50 % error
/// rate to open the breaker, short enough for its 30 s recovery window to end on a healed provider.
pub const OUTAGE_PROVIDER: &[(&str, V)] = &[
    ("emailprovider.mode", V::S("outage")),
    ("emailprovider.latency_ms", V::I(1000)),
    ("emailprovider.down_style", V::S("hang")),
    ("emailprovider.outage_every_secs", V::I(60)),
    ("emailprovider.outage_secs", V::I(25)),
];

/// Names of the presets `shoplab flags preset` accepts.
pub const PRESETS: &[&str] = &[
    "case1-before",
    "case1-after",
    "case2-before",
    "case2-after",
    "case3-before",
    "case3-after",
    "case3-degraded-provider",
    "case3-outage-provider",
    "case3-healthy-provider",
    "all-before",
    "all-after",
];

/// The flag values a preset sets, or `None` for an unknown preset.
pub fn preset(name: &str) -> Option<Vec<(&'static str, V)>> {
    let before = |case: Option<u8>| -> Vec<(&'static str, V)> {
        FLAGS.iter().filter(|f| f.after.is_some() && case.is_none_or(|c| f.case == c)).map(|f| (f.name, f.default)).collect()
    };
    let after = |case: Option<u8>| -> Vec<(&'static str, V)> {
        FLAGS.iter().filter(|f| case.is_none_or(|c| f.case == c)).filter_map(|f| f.after.map(|v| (f.name, v))).collect()
    };
    let healthy = || FLAGS.iter().filter(|f| f.name.starts_with("emailprovider.")).map(|f| (f.name, f.default)).collect();
    Some(match name {
        "case1-before" => before(Some(1)),
        "case1-after" => after(Some(1)),
        "case2-before" => before(Some(2)),
        "case2-after" => after(Some(2)),
        "case3-before" => before(Some(3)),
        "case3-after" => after(Some(3)),
        "case3-degraded-provider" => DEGRADED_PROVIDER.to_vec(),
        "case3-outage-provider" => OUTAGE_PROVIDER.to_vec(),
        "case3-healthy-provider" => healthy(),
        "all-before" => FLAGS.iter().map(|f| (f.name, f.default)).collect(),
        "all-after" => after(None),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::registry::find;

    #[test]
    fn every_preset_resolves_and_names_known_flags() {
        for p in PRESETS {
            let values = preset(p).unwrap_or_else(|| panic!("preset {p} missing"));
            assert!(!values.is_empty(), "{p} sets nothing");
            assert!(values.iter().all(|(n, _)| find(n).is_some()), "{p} names an unknown flag");
        }
        assert!(preset("nope").is_none());
    }
}
