//! The heavy part of a product document: a long description and its attributes (specifications), a few
//! KB each, as real catalogues have them. They give the `product.summary_fields` and
//! `product.compression` levers a realistic payload (docs/architecture.md, "Seed conventions").
//!
//! Generated from their own fixed-seed RNG, so adding them changed none of the catalogue's other values,
//! and from a vocabulary that avoids the words of product names and brands, so searches (which match the
//! description too) find the same products they found before.

use std::fmt::Write as _;

use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Map, Value, json};

const OPENERS: [&str; 8] = [
    "Designed for daily use,",
    "Built to last,",
    "Made with care,",
    "Tested in our workshop,",
    "Refined over several seasons,",
    "Shaped by customer feedback,",
    "Assembled by hand,",
    "Engineered for comfort,",
];
const SUBJECTS: [&str; 10] = [
    "the frame",
    "the finish",
    "each seam",
    "the handle",
    "the main body",
    "the inner lining",
    "every joint",
    "the base",
    "the cover",
    "the fastening",
];
const VERBS: [&str; 8] = [
    "keeps its shape",
    "resists wear",
    "stays cool to the touch",
    "cleans easily",
    "holds up to rain",
    "feels solid",
    "ages well",
    "stays quiet",
];
const DETAILS: [&str; 10] = [
    "after years of regular handling",
    "even under heavy loads",
    "in damp or dusty rooms",
    "through hundreds of wash cycles",
    "when packed tightly",
    "across a wide range of temperatures",
    "with only occasional care",
    "thanks to reinforced stitching",
    "because of its layered construction",
    "with recycled materials throughout",
];
const MATERIALS: [&str; 8] = [
    "recycled polyester",
    "anodised aluminium",
    "stainless steel",
    "organic cotton",
    "beech wood",
    "ceramic",
    "borosilicate glass",
    "natural rubber",
];
const COLOURS: [&str; 8] = ["charcoal", "sand", "forest green", "navy", "terracotta", "slate", "ivory", "ochre"];
const FEATURES: [&str; 12] = [
    "water-repellent coating",
    "replaceable parts",
    "non-slip feet",
    "magnetic closure",
    "adjustable straps",
    "dishwasher-safe parts",
    "low standby power",
    "quick-release buckle",
    "padded sleeve",
    "removable filter",
    "spill-proof lid",
    "fold-flat design",
];

/// About `target` bytes of description: `lead` (the sentence naming the product), then generated ones.
pub(crate) fn description(rng: &mut impl Rng, lead: &str, target: usize) -> String {
    let mut out = lead.to_owned();
    while out.len() < target {
        let _ = write!(
            out,
            " {} {} {} {}.",
            OPENERS.choose(rng).unwrap(),
            SUBJECTS.choose(rng).unwrap(),
            VERBS.choose(rng).unwrap(),
            DETAILS.choose(rng).unwrap()
        );
    }
    out
}

/// The attributes object of product `id`: materials, dimensions, care, features and a specification
/// table of about `rows` named values (each row ~70 bytes of JSON).
pub(crate) fn attributes(rng: &mut impl Rng, id: i64, rows: usize) -> Value {
    let mut spec = Map::new();
    for i in 0..rows {
        let value = format!("{} {} {}", DETAILS.choose(rng).unwrap(), rng.random_range(1..1000), COLOURS.choose(rng).unwrap());
        spec.insert(format!("spec_{i:02}_{}", SUBJECTS.choose(rng).unwrap().replace(' ', "_")), Value::String(value));
    }
    let features: Vec<&str> = FEATURES.choose_multiple(rng, 4).copied().collect();
    json!({
        "model": format!("M-{id:06}-{}", rng.random_range(100..1000)),
        "material": MATERIALS.choose(rng).unwrap(),
        "colours": COLOURS.choose_multiple(rng, 3).copied().collect::<Vec<_>>(),
        "dimensions_mm": { "width": rng.random_range(50..900), "height": rng.random_range(50..900), "depth": rng.random_range(20..500) },
        "weight_g": rng.random_range(80..9000),
        "warranty_years": rng.random_range(1..6),
        "features": features,
        "care": format!("{} {}.", OPENERS.choose(rng).unwrap(), DETAILS.choose(rng).unwrap()),
        "specifications": spec,
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn documents_are_heavy_deterministic_and_copy_safe() {
        let (mut a, mut b) = (ChaCha8Rng::seed_from_u64(1), ChaCha8Rng::seed_from_u64(1));
        let (d, attrs) = (description(&mut a, "Lead.", 2500), attributes(&mut a, 7, 30).to_string());
        assert_eq!(d, description(&mut b, "Lead.", 2500));
        assert_eq!(attrs, attributes(&mut b, 7, 30).to_string());
        assert!(d.len() >= 2500 && attrs.len() >= 2000, "{} / {}", d.len(), attrs.len());
        // COPY's text format: no tab, newline or backslash to escape
        assert!(!format!("{d}{attrs}").contains(['\t', '\n', '\\']));
    }
}
