//! The book's chapters, as the flag registry and the docs name them.

/// A chapter of the book. The drafts number chapters two ways: `number` is the table of contents'
/// (Caching Strategies is 6) and the case studies cite one less (they call caching "Chapter 5"), so the
/// docs name chapters by title and give both numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Chapter {
    pub title: &'static str,
    /// The table of contents' number.
    pub number: u8,
}

impl Chapter {
    /// The number the case studies cite (one less than the table of contents').
    pub const fn cited(self) -> u8 {
        self.number - 1
    }
}

impl std::fmt::Display for Chapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (ch. {}; {} in the case studies)", self.title, self.number, self.cited())
    }
}

pub const OBSERVABILITY: Chapter = Chapter { title: "Observability", number: 3 };
pub const NETWORK: Chapter = Chapter { title: "Network Optimization", number: 5 };
pub const CACHING: Chapter = Chapter { title: "Caching Strategies", number: 6 };
pub const DATABASE: Chapter = Chapter { title: "Database and Storage Selection", number: 7 };
pub const ASYNC: Chapter = Chapter { title: "Asynchronous Processing", number: 8 };
pub const SCALING: Chapter = Chapter { title: "Compute and Scaling", number: 9 };
pub const TRAFFIC: Chapter = Chapter { title: "Traffic Management", number: 10 };
pub const AUTHENTICATION: Chapter = Chapter { title: "Authentication Performance", number: 11 };
pub const EDGE: Chapter = Chapter { title: "Edge Infrastructure", number: 12 };
pub const ADVANCED: Chapter = Chapter { title: "Advanced Techniques", number: 13 };
