//! The spread of repeated runs: median and min-max of each row, and the rule that calls a change noise.
//!
//! One run of a phase is one sample of a noisy machine. `--repeat N` runs each phase N times in
//! alternation (before, after, before, after, ...), so a drift of the machine hits both sides alike; the
//! report then shows the median of each row with its range, and a change whose ranges overlap is marked
//! "within noise": the runs cannot tell the two states apart on that row.

use serde::Serialize;

/// The repeats of one row of one phase.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// How many repeats measured this row.
    pub n: usize,
}

impl Spread {
    /// The spread of `values` (None when empty); the median of an even count is the mean of the middle two.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len().is_multiple_of(2) { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] };
        Some(Self { median, min: v[0], max: v[v.len() - 1], n: v.len() })
    }

    /// Whether the two ranges share at least one value.
    pub fn overlaps(&self, other: &Spread) -> bool {
        self.min <= other.max && other.min <= self.max
    }
}

/// True when a change from `a` to `b` cannot be told from noise: both were measured more than once and
/// their min-max ranges overlap. A single run has no range, so it is never called noise (nor proven real).
pub fn within_noise(a: &Spread, b: &Spread) -> bool {
    a.n > 1 && b.n > 1 && a.overlaps(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[f64]) -> Spread {
        Spread::of(v).unwrap()
    }

    #[test]
    fn median_and_range() {
        assert_eq!(s(&[3.0, 1.0, 2.0]), Spread { median: 2.0, min: 1.0, max: 3.0, n: 3 });
        assert_eq!(s(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert!(Spread::of(&[]).is_none() && Spread::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn overlapping_ranges_are_noise() {
        // 850 (800-900) vs 870 (860-880): the after runs sit inside the before range
        assert!(within_noise(&s(&[800.0, 850.0, 900.0]), &s(&[860.0, 870.0, 880.0])));
        // touching ends count as overlap: the same value was seen in both states
        assert!(within_noise(&s(&[100.0, 110.0]), &s(&[110.0, 120.0])));
    }

    #[test]
    fn separate_ranges_are_a_change() {
        assert!(!within_noise(&s(&[800.0, 850.0, 900.0]), &s(&[170.0, 175.0, 190.0])));
        assert!(!within_noise(&s(&[1.0, 2.0]), &s(&[2.5, 3.0])));
    }

    #[test]
    fn a_single_run_has_no_range() {
        assert!(!within_noise(&s(&[850.0]), &s(&[850.0])));
        assert!(!within_noise(&s(&[800.0, 900.0]), &s(&[850.0])));
    }
}
