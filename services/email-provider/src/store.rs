//! The provider's mailbox: the messages it accepted, a bounded window of them kept in memory.
//!
//! Tests and the closing k6 run ask "did every signup's email arrive, and none twice?" through
//! `GET /messages`. The answer must be exact, so accepting and deduplicating happen under one lock: two
//! concurrent sends with the same idempotency key yield one message (like a real provider), and the
//! number of repeated keys is counted separately so a trainer can see how often retries were absorbed.
//!
//! Memory is bounded: the last `keep` messages are listed (default 10 000, `EMAIL_PROVIDER_KEEP`), and
//! the idempotency keys of the last `10 x keep` stay known for deduplication (keys are small, retries can
//! come long after the first send). The totals count everything since start, evicted or not.

use std::collections::{HashMap, VecDeque};
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
    /// Messages accepted (unique) since start.
    pub accepted: u64,
    /// Sends absorbed because their idempotency key was already known.
    pub duplicates: u64,
    /// Messages kept for listing (the newest; at most the window).
    pub kept: u64,
}

/// How many more idempotency keys than messages are remembered.
const KEYS_PER_MESSAGE: usize = 10;

#[derive(Default)]
struct Inner {
    /// The newest messages, oldest first, each with its sequence number.
    messages: VecDeque<(u64, Message)>,
    /// Idempotency key -> (sequence number, message id) of the message it created.
    by_key: HashMap<String, (u64, Uuid)>,
    /// Keys in the order they were first seen, to forget the oldest.
    key_order: VecDeque<String>,
    /// Messages accepted since start (the next sequence number).
    accepted: u64,
    duplicates: u64,
}

/// The messages accepted since the provider started, the newest `keep` of them listed.
pub struct Store {
    /// One lock for messages and keys, so dedup and counting never disagree.
    inner: Mutex<Inner>,
    /// Messages kept for listing.
    keep: usize,
}

impl Default for Store {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_KEEP)
    }
}

/// Messages kept unless `EMAIL_PROVIDER_KEEP` says otherwise.
pub const DEFAULT_KEEP: usize = 10_000;

impl Store {
    /// A store listing the last `keep` messages.
    pub fn with_capacity(keep: usize) -> Self {
        Self { inner: Mutex::default(), keep: keep.max(1) }
    }

    /// Accepts `draft`, unless its idempotency key was seen before.
    pub fn accept(&self, draft: Draft) -> Accepted {
        let mut inner = self.inner.lock().expect("store poisoned");
        if let Some(&(seq, id)) = draft.idempotency_key.as_ref().and_then(|key| inner.by_key.get(key)) {
            inner.duplicates += 1;
            let front = inner.messages.front().map_or(0, |(s, _)| *s);
            if let Some((_, m)) = seq.checked_sub(front).and_then(|i| inner.messages.get_mut(i as usize)) {
                m.attempts += 1;
            }
            return Accepted::Duplicate(id);
        }
        let (id, seq) = (Uuid::now_v7(), inner.accepted);
        inner.accepted += 1;
        if let Some(key) = &draft.idempotency_key {
            inner.by_key.insert(key.clone(), (seq, id));
            inner.key_order.push_back(key.clone());
        }
        let Draft { to, subject, body, idempotency_key, trace_id } = draft;
        let accepted_at = Utc::now();
        inner.messages.push_back((seq, Message { id, to, subject, body, idempotency_key, accepted_at, attempts: 1, trace_id }));
        self.evict(&mut inner);
        Accepted::New(id)
    }

    /// Forgets the oldest messages and keys beyond the window.
    fn evict(&self, inner: &mut Inner) {
        while inner.messages.len() > self.keep {
            inner.messages.pop_front();
        }
        while inner.key_order.len() > self.keep.saturating_mul(KEYS_PER_MESSAGE) {
            if let Some(key) = inner.key_order.pop_front() {
                inner.by_key.remove(&key);
            }
        }
    }

    /// Kept messages to `to` (case-insensitive; every message if `None`), oldest first, at most `limit`,
    /// with the number that matched.
    pub fn list(&self, to: Option<&str>, limit: usize) -> (Vec<Message>, usize) {
        let inner = self.inner.lock().expect("store poisoned");
        let matching = inner.messages.iter().map(|(_, m)| m).filter(|m| to.is_none_or(|t| m.to.eq_ignore_ascii_case(t)));
        let total = matching.clone().count();
        (matching.take(limit).cloned().collect(), total)
    }

    /// Accepted and duplicate counts since start, and how many messages are kept.
    pub fn totals(&self) -> Totals {
        let inner = self.inner.lock().expect("store poisoned");
        Totals { accepted: inner.accepted, duplicates: inner.duplicates, kept: inner.messages.len() as u64 }
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

    #[test]
    fn only_the_newest_messages_are_kept_and_totals_count_all() {
        let store = Store::with_capacity(3);
        for i in 0..5 {
            store.accept(draft(&format!("u{i}@x.test"), Some(&format!("k{i}"))));
        }
        let (items, total) = store.list(None, 10);
        assert_eq!(total, 3);
        assert_eq!(items.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(), ["u2@x.test", "u3@x.test", "u4@x.test"]);
        let t = store.totals();
        assert_eq!((t.accepted, t.kept), (5, 3));
        assert!(
            matches!(store.accept(draft("u0@x.test", Some("k0"))), Accepted::Duplicate(_)),
            "an evicted message's key is still known"
        );
        assert_eq!(store.list(Some("u4@x.test"), 10).0[0].attempts, 1);
        store.accept(draft("u4@x.test", Some("k4")));
        assert_eq!(store.list(Some("u4@x.test"), 10).0[0].attempts, 2, "a kept message counts its repeats");
    }
}
