//! The provider's mailbox: every message it accepted, kept in memory for verification.
//!
//! Tests and the closing k6 run ask "did every signup's email arrive, and none twice?" through
//! `GET /messages`. The answer must be exact, so accepting and deduplicating happen under one lock: two
//! concurrent sends with the same idempotency key yield one message (like a real provider), and the
//! number of repeated keys is counted separately so a trainer can see how often retries were absorbed.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One accepted message.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Message {
    /// Provider message id (returned by `POST /send`).
    pub id: Uuid,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The caller's idempotency key, if it sent one.
    pub idempotency_key: Option<String>,
    pub accepted_at: DateTime<Utc>,
    /// How many `POST /send` carried this message's idempotency key (1 = never repeated).
    pub attempts: u32,
    /// Trace of the send that created it (W3C trace id): paste it into Tempo to see the whole signup.
    pub trace_id: Option<String>,
}

/// A message to accept.
pub struct Draft {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub idempotency_key: Option<String>,
    pub trace_id: Option<String>,
}

/// Whether a send created a message or repeated a known idempotency key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    New(Uuid),
    Duplicate(Uuid),
}

/// Totals shown next to a listing.
#[derive(Clone, Copy, Debug, Default, Serialize, ToSchema)]
pub struct Totals {
    /// Messages accepted (unique).
    pub accepted: u64,
    /// Sends absorbed because their idempotency key was already known.
    pub duplicates: u64,
}

#[derive(Default)]
struct Inner {
    /// Messages in acceptance order.
    messages: Vec<Message>,
    /// Idempotency key -> index in `messages`.
    by_key: HashMap<String, usize>,
    duplicates: u64,
}

/// Every message accepted since the provider started.
#[derive(Default)]
pub struct Store {
    /// One lock for messages and keys, so dedup and counting never disagree.
    inner: Mutex<Inner>,
}

impl Store {
    /// Accepts `draft`, unless its idempotency key was seen before.
    pub fn accept(&self, draft: Draft) -> Accepted {
        let mut inner = self.inner.lock().expect("store poisoned");
        if let Some(&i) = draft.idempotency_key.as_ref().and_then(|key| inner.by_key.get(key)) {
            inner.duplicates += 1;
            let m = &mut inner.messages[i];
            m.attempts += 1;
            return Accepted::Duplicate(m.id);
        }
        let id = Uuid::now_v7();
        let index = inner.messages.len();
        if let Some(key) = &draft.idempotency_key {
            inner.by_key.insert(key.clone(), index);
        }
        let Draft { to, subject, body, idempotency_key, trace_id } = draft;
        let accepted_at = Utc::now();
        inner.messages.push(Message { id, to, subject, body, idempotency_key, accepted_at, attempts: 1, trace_id });
        Accepted::New(id)
    }

    /// Messages to `to` (case-insensitive; every message if `None`), oldest first, at most `limit`,
    /// with the number that matched.
    pub fn list(&self, to: Option<&str>, limit: usize) -> (Vec<Message>, usize) {
        let inner = self.inner.lock().expect("store poisoned");
        let matching = inner.messages.iter().filter(|m| to.is_none_or(|t| m.to.eq_ignore_ascii_case(t)));
        let total = matching.clone().count();
        (matching.take(limit).cloned().collect(), total)
    }

    /// Accepted and duplicate counts.
    pub fn totals(&self) -> Totals {
        let inner = self.inner.lock().expect("store poisoned");
        Totals { accepted: inner.messages.len() as u64, duplicates: inner.duplicates }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(to: &str, key: Option<&str>) -> Draft {
        Draft { to: to.into(), subject: "s".into(), body: "b".into(), idempotency_key: key.map(Into::into), trace_id: None }
    }

    #[test]
    fn same_idempotency_key_is_one_message() {
        let store = Store::default();
        let Accepted::New(id) = store.accept(draft("a@x.test", Some("k1"))) else { panic!("first send is new") };
        assert_eq!(store.accept(draft("a@x.test", Some("k1"))), Accepted::Duplicate(id));
        let (items, total) = store.list(Some("A@X.test"), 10);
        assert_eq!((total, items[0].attempts), (1, 2));
        assert_eq!(store.totals().duplicates, 1);
    }

    #[test]
    fn without_key_every_send_is_a_message() {
        let store = Store::default();
        store.accept(draft("a@x.test", None));
        store.accept(draft("a@x.test", None));
        store.accept(draft("b@x.test", None));
        assert_eq!(store.list(Some("a@x.test"), 10).1, 2);
        let (items, total) = store.list(None, 1);
        assert_eq!((items.len(), total), (1, 3));
        assert_eq!(store.totals().accepted, 3);
    }
}
