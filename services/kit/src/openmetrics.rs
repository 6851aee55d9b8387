//! A small reader of the OpenMetrics text every shoplab process serves on `/metrics`, with the arithmetic
//! the console, the compare reports and the tests need: sums over label filters, deltas between two scrapes and
//! quantiles from histogram buckets (what Prometheus' `rate()` and `histogram_quantile()` do, done here so
//! neither needs a Prometheus).
//!
//! Counters and histogram buckets are diffed between two scrapes, and the `trace_id` exemplar on a latency
//! bucket becomes the console's "last trace" link. Comment lines (`# TYPE`, `# HELP`, `# EOF`) are
//! skipped; a line that does not parse is skipped too, so one odd series never hides the others.

use std::collections::BTreeMap;

/// One sample line: `name{labels} value [timestamp] [# {exemplar labels} value [timestamp]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Full sample name, suffix included (`..._bucket`, `..._count`, `..._total`).
    pub name: String,
    /// Labels in the order they appear.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// The exemplar attached to the sample, if any (OpenMetrics only).
    pub exemplar: Option<Exemplar>,
}

/// An exemplar: one observation that fell into a bucket, with the trace it belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Every sample of one scrape of one process.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrape {
    pub samples: Vec<Sample>,
}

impl Sample {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        find(&self.labels, key)
    }
}

impl Exemplar {
    /// The value of label `key` (`trace_id`).
    pub fn label(&self, key: &str) -> Option<&str> {
        find(&self.labels, key)
    }
}

fn find<'a>(labels: &'a [(String, String)], key: &str) -> Option<&'a str> {
    labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

impl Scrape {
    /// The samples named exactly `name`.
    pub fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// Sum of the samples named `name` that satisfy `keep`; `None` when no such series exists.
    pub fn sum(&self, name: &str, keep: impl Fn(&Sample) -> bool) -> Option<f64> {
        self.series(name).filter(|s| keep(s)).map(|s| s.value).reduce(|a, b| a + b)
    }

    /// Largest value among the samples named `name`; `None` when no such series exists.
    pub fn max(&self, name: &str) -> Option<f64> {
        self.series(name).map(|s| s.value).reduce(f64::max)
    }
}

/// Parses a whole scrape.
pub fn parse(text: &str) -> Scrape {
    let samples = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).filter_map(parse_line).collect();
    Scrape { samples }
}

/// Parses one sample line; `None` if it is malformed.
fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    let mut cur = Cursor { rest: &line[name_end..] };
    let labels = cur.labels()?;
    let (value_part, exemplar_part) = match cur.rest.split_once(" # ") {
        Some((v, e)) => (v, Some(e)),
        None => (cur.rest, None),
    };
    let value = number(value_part.split_whitespace().next()?)?;
    let exemplar = exemplar_part.and_then(parse_exemplar);
    (!name.is_empty()).then(|| Sample { name: name.to_owned(), labels, value, exemplar })
}

/// `{trace_id="..."} 0.05 [timestamp]`.
fn parse_exemplar(text: &str) -> Option<Exemplar> {
    let mut cur = Cursor { rest: text.trim_start() };
    let labels = cur.labels()?;
    let value = number(cur.rest.split_whitespace().next()?)?;
    Some(Exemplar { labels, value })
}

/// Numbers as OpenMetrics writes them (`+Inf`, `NaN`, `1.5e-3`); Rust's parser accepts them all.
fn number(token: &str) -> Option<f64> {
    token.parse().ok()
}

/// A position in a line, consumed from the left.
struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start();
    }

    /// `{k="v",...}` (or nothing: no labels). Values may hold escaped quotes, backslashes and newlines.
    fn labels(&mut self) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        if !self.eat('{') {
            return Some(out);
        }
        loop {
            self.skip_spaces();
            if self.eat('}') {
                return Some(out);
            }
            let eq = self.rest.find('=')?;
            let key = self.rest[..eq].trim().to_owned();
            self.rest = &self.rest[eq + 1..];
            if !self.eat('"') {
                return None;
            }
            out.push((key, self.quoted()?));
            self.skip_spaces();
            self.eat(',');
        }
    }

    /// The rest of a quoted label value, after the opening quote.
    fn quoted(&mut self) -> Option<String> {
        let mut value = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Some(value);
                }
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        }
        None
    }
}

impl Scrape {
    /// Sum of `name` over samples whose labels match every `(key, value)`, 0 when none does; a value
    /// starting with `~` matches by prefix (`("status", "~5")` = any 5xx).
    pub fn total(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        self.sum(name, |s| matches(s, filter)).unwrap_or(0.0)
    }

    /// Adds the samples of another scrape (several processes).
    pub fn extend(&mut self, other: Scrape) {
        self.samples.extend(other.samples);
    }

    /// Cumulative bucket counts of histogram `base` (`<base>_bucket`) by upper bound, summed over series.
    pub fn buckets(&self, base: &str, filter: &[(&str, &str)]) -> BTreeMap<Bound, f64> {
        let mut out = BTreeMap::new();
        for s in self.series(&format!("{base}_bucket")).filter(|s| matches(s, filter)) {
            if let Some(le) = s.label("le").and_then(number) {
                *out.entry(Bound(le)).or_default() += s.value;
            }
        }
        out
    }
}

fn matches(s: &Sample, filter: &[(&str, &str)]) -> bool {
    filter.iter().all(|(k, v)| match (s.label(k), v.strip_prefix('~')) {
        (Some(have), Some(prefix)) => have.starts_with(prefix),
        (Some(have), None) => have == *v,
        (None, _) => false,
    })
}

/// A bucket's upper bound usable as a map key (bounds are never NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound(pub f64);
impl Eq for Bound {}
impl Ord for Bound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// `after - before` of a cumulative histogram, bucket by bucket (never negative).
pub fn bucket_delta(before: &BTreeMap<Bound, f64>, after: &BTreeMap<Bound, f64>) -> BTreeMap<Bound, f64> {
    after.iter().map(|(le, v)| (*le, (v - before.get(le).copied().unwrap_or(0.0)).max(0.0))).collect()
}

/// The `q` quantile (0..1) of cumulative buckets, linear inside the bucket like PromQL's
/// `histogram_quantile`; an answer in the `+Inf` bucket is reported as the largest finite bound.
pub fn quantile(buckets: &BTreeMap<Bound, f64>, q: f64) -> Option<f64> {
    let total = buckets.values().copied().fold(0.0, f64::max);
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (le, count) in buckets {
        if *count >= rank {
            if le.0.is_infinite() {
                return Some(lower);
            }
            let inside = count - below;
            let frac = if inside > 0.0 { (rank - below) / inside } else { 1.0 };
            return Some(lower + (le.0 - lower) * frac);
        }
        (lower, below) = (le.0, *count);
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP http_server_request_duration_seconds HTTP server request latency
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{service="api",route="/p",le="0.1"} 50 # {trace_id="4bf92f3577b34da6"} 0.042 1.7e9
http_server_request_duration_seconds_bucket{service="api",route="/p",le="+Inf"} 60
http_server_request_duration_seconds_count{service="api",route="/p"} 60
shoplab_outbox_pending{service="worker"} 3
odd_label{msg="a \"quoted\" {brace}, comma\\",x="y"} 1.5e-3
no_labels 7
broken{le="0.1" 1
# EOF
"#;

    #[test]
    fn reads_names_labels_values_and_exemplars() {
        let s = parse(TEXT);
        assert_eq!(s.samples.len(), 6, "the malformed line is skipped");
        let first = &s.samples[0];
        assert_eq!(first.name, "http_server_request_duration_seconds_bucket");
        assert_eq!(first.label("le"), Some("0.1"));
        assert_eq!(first.value, 50.0);
        let ex = first.exemplar.as_ref().expect("exemplar");
        assert_eq!(ex.label("trace_id"), Some("4bf92f3577b34da6"));
        assert_eq!(ex.value, 0.042);
        assert_eq!((s.samples[1].label("le"), s.samples[1].value), (Some("+Inf"), 60.0));
        assert_eq!(s.samples[4].label("msg"), Some("a \"quoted\" {brace}, comma\\"));
        assert_eq!(s.samples[4].label("x"), Some("y"));
        assert_eq!(s.samples[4].value, 0.0015);
        assert_eq!(s.samples[5].name, "no_labels");
    }

    #[test]
    fn sums_and_maxima_tell_absent_from_zero() {
        let s = parse(TEXT);
        assert_eq!(s.sum("shoplab_outbox_pending", |_| true), Some(3.0));
        assert_eq!(s.sum("http_server_request_duration_seconds_count", |x| x.label("status") == Some("500")), None);
        assert_eq!(s.max("shoplab_circuit_breaker_state"), None);
        assert_eq!(s.max("no_labels"), Some(7.0));
    }

    const TEXT2: &str = "# TYPE x histogram\n\
        http_server_request_duration_seconds_bucket{le=\"0.1\",method=\"GET\",route=\"/a\",service=\"api\",status=\"200\"} 50 # {trace_id=\"ab\"} 0.05 1.0\n\
        http_server_request_duration_seconds_bucket{le=\"0.2\",method=\"GET\",route=\"/a\",service=\"api\",status=\"200\"} 90\n\
        http_server_request_duration_seconds_bucket{le=\"+Inf\",method=\"GET\",route=\"/a\",service=\"api\",status=\"200\"} 100\n\
        http_server_request_duration_seconds_count{method=\"GET\",route=\"/a\",service=\"api\",status=\"500\"} 4\n\
        shoplab_cache_requests_total{cache=\"pages\",result=\"hit\",service=\"api\"} 7\n\
        shoplab_outbox_pending{service=\"worker\"} 3\n";

    #[test]
    fn parses_labels_values_and_skips_exemplars() {
        let s = parse(TEXT2);
        assert_eq!(s.samples.len(), 6);
        assert_eq!(s.total("shoplab_cache_requests_total", &[("result", "hit")]), 7.0);
        assert_eq!(s.total("http_server_request_duration_seconds_count", &[("status", "~5")]), 4.0);
        assert_eq!(s.total("shoplab_outbox_pending", &[]), 3.0);
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let b = parse(TEXT2).buckets("http_server_request_duration_seconds", &[]);
        let p50 = quantile(&b, 0.5).unwrap();
        assert!((p50 - 0.1).abs() < 1e-9, "{p50}");
        let p70 = quantile(&b, 0.7).unwrap();
        assert!((p70 - 0.15).abs() < 1e-9, "{p70}");
        assert_eq!(quantile(&BTreeMap::new(), 0.5), None);
    }
}
