//! Composes this process served lately, kept as the bytes of their JSON, so a client polling a
//! compose (the reference client's `wait_for_compose`, Freshmaker, CI jobs) is answered
//! without a database round trip.
//!
//! An entry is only as good as the news of changes: the cache serves nothing unless a
//! [`crate::change_feed`] is listening to the database's change notices, forgets a compose the
//! moment a notice names it, and forgets everything when the feed loses its connection (notices
//! may have been missed). Changes made through this process are forgotten before their answer
//! is sent, so a client reads its own writes; a change made elsewhere is seen once its notice
//! arrives, milliseconds after it commits.
//!
//! A reader can race a change: it reads the row, the change commits and its notice is handled,
//! then the reader stores what it read. So a reader first takes a [`Ticket`] carrying the
//! count of changes seen for its compose's slot, and [`ComposeCache::keep`] refuses the bytes
//! if any change to that slot was seen since.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use actix_web::web::Bytes;
use odcs_common::compose::ComposeId;

/// How many change counters the ids share: a change to one compose spoils the tickets of the
/// others in its slot, so more slots mean fewer refused entries while composes change often.
const SLOTS: usize = 256;

/// Permission to keep what a reader is about to read from the database.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    id: ComposeId,
    changes_seen: u64,
}

/// Recently served composes, valid while the change feed listens.
pub struct ComposeCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    listening: bool,
    entries: HashMap<ComposeId, Bytes>,
    changes_seen: Box<[u64; SLOTS]>,
}

fn slot(id: ComposeId) -> usize {
    id.0.unsigned_abs() as usize % SLOTS
}

impl ComposeCache {
    /// A cache of at most `capacity` composes (0 keeps none); it serves nothing until
    /// [`ComposeCache::listening`] says the change feed is up.
    pub fn new(capacity: usize) -> ComposeCache {
        ComposeCache {
            capacity,
            inner: Mutex::new(Inner {
                listening: false,
                entries: HashMap::new(),
                changes_seen: Box::new([0; SLOTS]),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The JSON of compose `id`, if kept.
    pub fn get(&self, id: ComposeId) -> Option<Bytes> {
        let inner = self.lock();
        if !inner.listening {
            return None;
        }
        inner.entries.get(&id).cloned()
    }

    /// A ticket to keep compose `id` once read, taken before reading it; `None` when nothing
    /// may be kept (the feed is down, or the cache holds nothing).
    pub fn ticket(&self, id: ComposeId) -> Option<Ticket> {
        if self.capacity == 0 {
            return None;
        }
        let inner = self.lock();
        inner.listening.then(|| Ticket {
            id,
            changes_seen: inner.changes_seen[slot(id)],
        })
    }

    /// Keeps `json` for the ticket's compose, unless a change was seen since the ticket was
    /// taken or the feed went down meanwhile. A full cache makes room by dropping any entry.
    pub fn keep(&self, ticket: Ticket, json: Bytes) {
        let mut inner = self.lock();
        if !inner.listening || inner.changes_seen[slot(ticket.id)] != ticket.changes_seen {
            return;
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(&ticket.id) {
            let victim = inner.entries.keys().next().copied();
            if let Some(victim) = victim {
                inner.entries.remove(&victim);
            }
        }
        inner.entries.insert(ticket.id, json);
    }

    /// Forgets compose `id`: it changed (a change notice, or a write through this process).
    pub fn forget(&self, id: ComposeId) {
        let mut inner = self.lock();
        inner.changes_seen[slot(id)] += 1;
        inner.entries.remove(&id);
    }

    /// The change feed listens: entries may be kept and served from now on. Anything kept
    /// before is forgotten, since changes made while nobody listened were not heard.
    pub fn listening(&self) {
        let mut inner = self.lock();
        Self::forget_all(&mut inner);
        inner.listening = true;
    }

    /// The change feed lost its connection: changes may go unheard, so nothing is served or
    /// kept until it listens again.
    pub fn deaf(&self) {
        let mut inner = self.lock();
        Self::forget_all(&mut inner);
        inner.listening = false;
    }

    fn forget_all(inner: &mut Inner) {
        inner.entries.clear();
        for seen in inner.changes_seen.iter_mut() {
            *seen += 1;
        }
    }

    /// How many changes to composes in `id`'s slot this process has seen: it grows when a
    /// change notice arrives, so a test (or an operator) can tell the notice of a change it made
    /// was heard.
    pub fn changes_seen(&self, id: ComposeId) -> u64 {
        self.lock().changes_seen[slot(id)]
    }

    /// Whether the change feed listens, so composes are kept and served.
    pub fn is_listening(&self) -> bool {
        self.lock().listening
    }

    /// How many composes are kept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no compose is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    fn listening_cache(capacity: usize) -> ComposeCache {
        let cache = ComposeCache::new(capacity);
        cache.listening();
        cache
    }

    #[test]
    fn nothing_is_kept_or_served_until_the_feed_listens() {
        let cache = ComposeCache::new(10);
        assert!(cache.ticket(ComposeId(1)).is_none());
        cache.listening();
        let ticket = cache.ticket(ComposeId(1)).expect("ticket");
        cache.keep(ticket, json("one"));
        assert_eq!(cache.get(ComposeId(1)), Some(json("one")));
        cache.deaf();
        assert_eq!(cache.get(ComposeId(1)), None);
        assert!(cache.ticket(ComposeId(1)).is_none());
    }

    #[test]
    fn a_change_seen_after_the_ticket_refuses_what_was_read_before_it() {
        let cache = listening_cache(10);
        let ticket = cache.ticket(ComposeId(7)).expect("ticket");
        cache.forget(ComposeId(7));
        cache.keep(ticket, json("stale"));
        assert_eq!(cache.get(ComposeId(7)), None);
        let ticket = cache.ticket(ComposeId(7)).expect("ticket");
        cache.keep(ticket, json("fresh"));
        assert_eq!(cache.get(ComposeId(7)), Some(json("fresh")));
    }

    #[test]
    fn losing_the_feed_between_ticket_and_keep_refuses_the_entry() {
        let cache = listening_cache(10);
        let ticket = cache.ticket(ComposeId(3)).expect("ticket");
        cache.deaf();
        cache.listening();
        cache.keep(ticket, json("read while deaf"));
        assert_eq!(cache.get(ComposeId(3)), None);
    }

    #[test]
    fn a_change_forgets_only_its_compose() {
        let cache = listening_cache(10);
        for id in [1, 2] {
            let ticket = cache.ticket(ComposeId(id)).expect("ticket");
            cache.keep(ticket, json("x"));
        }
        cache.forget(ComposeId(1));
        assert_eq!(cache.get(ComposeId(1)), None);
        assert_eq!(cache.get(ComposeId(2)), Some(json("x")));
        assert!(cache.changes_seen(ComposeId(1)) > cache.changes_seen(ComposeId(2)));
    }

    #[test]
    fn a_full_cache_stays_within_its_capacity() {
        let cache = listening_cache(3);
        for id in 1..=10 {
            let ticket = cache.ticket(ComposeId(id)).expect("ticket");
            cache.keep(ticket, json("x"));
            assert!(cache.len() <= 3);
        }
        assert!(cache.get(ComposeId(10)).is_some());
    }

    #[test]
    fn a_cache_of_no_entries_gives_no_tickets() {
        let cache = listening_cache(0);
        assert!(cache.ticket(ComposeId(1)).is_none());
        assert!(cache.is_empty());
    }
}
