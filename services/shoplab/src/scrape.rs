//! Scrapes of the lab's processes: `/metrics` of every URL fetched and merged, read with the kit's
//! OpenMetrics parser ([`kit::openmetrics`], shared with the tests).

use std::time::Duration;

pub use kit::openmetrics::*;

/// Fetches and merges `/metrics` of every URL; unreachable ones are skipped and listed.
pub async fn fetch_all(client: &reqwest::Client, urls: &[String]) -> (Scrape, Vec<String>) {
    let mut merged = Scrape::default();
    let mut down = Vec::new();
    for url in urls {
        match client.get(url).timeout(Duration::from_secs(3)).send().await {
            Ok(r) if r.status().is_success() => merged.extend(parse(&r.text().await.unwrap_or_default())),
            _ => down.push(url.clone()),
        }
    }
    (merged, down)
}
