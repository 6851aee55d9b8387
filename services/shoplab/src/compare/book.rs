//! The book's own numbers for each case study, shown in a "book" column beside the measured ones so the
//! room reads the reproduction against its source.
//!
//! Only figures the book's case studies give are here (docs/case-study-*.md quote them); a row the book
//! says nothing about gets an empty cell. Where the book's figure is not the same measurement as the row
//! (case 2's 12 000 -> 65 000 is the maximum sustainable rate, while a compare runs at one fixed rate),
//! the cell says so.

/// The book's "before -> after" for row `row` of case `case`, if it gives one.
pub fn cell(case: u8, row: &str) -> Option<&'static str> {
    let table: &[(&str, &str)] = match case {
        1 => &[
            ("p95 latency (ms)", "850 -> 175"),
            ("cache hit rate (%)", "25 -> 78"),
            ("DB queries / uncached listing page", "dozens -> 2"),
        ],
        2 => &[("p95 latency (ms)", "45 -> 38"), ("throughput (req/s)", "max 12 000 -> 65 000")],
        3 => &[
            ("p99 latency (ms)", "80 to 3000 -> 95"),
            ("emails delivered (%)", "-> 99.8"),
            ("login availability (%)", "99.5 -> 99.95"),
        ],
        _ => &[],
    };
    table.iter().find(|(name, _)| *name == row).map(|(_, v)| *v)
}

/// One line under the table naming what the book reports that no row measures.
pub fn footnote(case: u8) -> &'static str {
    match case {
        1 => "Book, not measured here: database CPU 85 % -> 40 % (the \"DB time\" row is Postgres wall time, not CPU).",
        2 => "Book, not measured here: CPU 75 % -> 60 % at 50 000 RPS; its RPS figures are maximum sustainable rates.",
        _ => {
            "Book: 99.8 % of emails delivered asynchronously (after only); the emails row counts signup attempts \
              whose email the provider accepted once it healed and the queues drained."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::measure::ROWS;

    #[test]
    fn every_book_cell_names_a_real_row() {
        for case in 1..=3u8 {
            let named = ROWS.iter().filter(|r| cell(case, r.name).is_some()).count();
            assert!(named >= 1, "case {case} has a book number on a row the table prints");
        }
        assert_eq!(cell(1, "p95 latency (ms)"), Some("850 -> 175"));
        assert_eq!(cell(1, "server 5xx"), None, "no number the book does not give");
    }
}
