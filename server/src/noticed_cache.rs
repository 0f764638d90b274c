//! JSON answers kept in memory for as long as the database's change notices say they are
//! true: the mechanism under [`crate::compose_cache`] and [`crate::page_cache`].
//!
//! An entry is only as good as the news of changes: nothing is served unless a
//! [`crate::change_feed`] is listening, and everything is forgotten when the feed loses its
//! connection (notices may have been missed). A notice forgets what it spoils: one key's
//! entry, or everything.
//!
//! A reader can race a change: it reads the database, the change commits and its notice is
//! handled, then the reader stores what it read. So a reader first takes a [`Ticket`] carrying
//! the count of changes heard for its key's slot, and [`NoticedCache::keep`] refuses the bytes
//! if any change to that slot was heard since. Keys share slots (a change to one spoils the
//! tickets of the others in its slot): more slots mean fewer refused entries while keys change
//! often.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};

use actix_web::web::Bytes;

/// Permission to keep what a reader is about to read from the database for `key`.
#[derive(Debug, Clone)]
pub struct Ticket<K> {
    key: K,
    slot: usize,
    changes_seen: u64,
}

/// Entries valid while the change feed listens.
pub struct NoticedCache<K> {
    capacity: usize,
    slots: usize,
    inner: Mutex<Inner<K>>,
}

struct Inner<K> {
    listening: bool,
    entries: HashMap<K, Bytes>,
    changes_seen: Vec<u64>,
}

impl<K: Hash + Eq + Clone> NoticedCache<K> {
    /// A cache of at most `capacity` entries (0 keeps none), with `slots` change counters
    /// (at least one); it serves nothing until [`NoticedCache::listening`] says the change
    /// feed is up.
    pub fn new(capacity: usize, slots: usize) -> NoticedCache<K> {
        let slots = slots.max(1);
        NoticedCache {
            capacity,
            slots,
            inner: Mutex::new(Inner {
                listening: false,
                entries: HashMap::new(),
                changes_seen: vec![0; slots],
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn slot(&self, key: &K) -> usize {
        if self.slots == 1 {
            return 0;
        }
        // A fixed hasher: the same key is in the same slot for the life of the process.
        let hash =
            std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
                .hash_one(key);
        (hash % self.slots as u64) as usize
    }

    /// The bytes kept for `key`, if any.
    pub fn get(&self, key: &K) -> Option<Bytes> {
        let inner = self.lock();
        if !inner.listening {
            return None;
        }
        inner.entries.get(key).cloned()
    }

    /// A ticket to keep `key` once read, taken before reading it; `None` when nothing may be
    /// kept (the feed is down, or the cache holds nothing).
    pub fn ticket(&self, key: &K) -> Option<Ticket<K>> {
        if self.capacity == 0 {
            return None;
        }
        let slot = self.slot(key);
        let inner = self.lock();
        inner.listening.then(|| Ticket {
            key: key.clone(),
            slot,
            changes_seen: inner.changes_seen[slot],
        })
    }

    /// Keeps `bytes` for the ticket's key, unless a change to its slot was heard since the
    /// ticket was taken or the feed went down meanwhile. A full cache makes room by dropping
    /// any entry.
    pub fn keep(&self, ticket: Ticket<K>, bytes: Bytes) {
        let mut inner = self.lock();
        if !inner.listening || inner.changes_seen[ticket.slot] != ticket.changes_seen {
            return;
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(&ticket.key) {
            let victim = inner.entries.keys().next().cloned();
            if let Some(victim) = victim {
                inner.entries.remove(&victim);
            }
        }
        inner.entries.insert(ticket.key, bytes);
    }

    /// Forgets `key`: it changed (a change notice, or a write through this process).
    pub fn forget(&self, key: &K) {
        let slot = self.slot(key);
        let mut inner = self.lock();
        inner.changes_seen[slot] += 1;
        inner.entries.remove(key);
    }

    /// Forgets everything: a change may have spoilt any entry.
    pub fn forget_all(&self) {
        Self::clear(&mut self.lock());
    }

    /// The change feed listens: entries may be kept and served from now on. Anything kept
    /// before is forgotten, since changes made while nobody listened were not heard.
    pub fn listening(&self) {
        let mut inner = self.lock();
        Self::clear(&mut inner);
        inner.listening = true;
    }

    /// The change feed lost its connection: changes may go unheard, so nothing is served or
    /// kept until it listens again.
    pub fn deaf(&self) {
        let mut inner = self.lock();
        Self::clear(&mut inner);
        inner.listening = false;
    }

    fn clear(inner: &mut Inner<K>) {
        inner.entries.clear();
        for seen in inner.changes_seen.iter_mut() {
            *seen += 1;
        }
    }

    /// How many changes to keys in `key`'s slot this process has heard of: it grows when a
    /// change notice arrives, so a test (or an operator) can tell the notice of a change it
    /// made was heard.
    pub fn changes_seen(&self, key: &K) -> u64 {
        let slot = self.slot(key);
        self.lock().changes_seen[slot]
    }

    /// How many changes this process has heard of in all, whatever they spoilt.
    pub fn changes_heard(&self) -> u64 {
        self.lock().changes_seen.iter().sum()
    }

    /// Whether the change feed listens, so entries are kept and served.
    pub fn is_listening(&self) -> bool {
        self.lock().listening
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    fn listening_cache(capacity: usize, slots: usize) -> NoticedCache<u32> {
        let cache = NoticedCache::new(capacity, slots);
        cache.listening();
        cache
    }

    #[test]
    fn nothing_is_kept_or_served_until_the_feed_listens() {
        let cache = NoticedCache::new(10, 4);
        assert!(cache.ticket(&1).is_none());
        cache.listening();
        let ticket = cache.ticket(&1).expect("ticket");
        cache.keep(ticket, bytes("one"));
        assert_eq!(cache.get(&1), Some(bytes("one")));
        cache.deaf();
        assert_eq!(cache.get(&1), None);
        assert!(cache.ticket(&1).is_none());
    }

    #[test]
    fn a_change_heard_after_the_ticket_refuses_what_was_read_before_it() {
        let cache = listening_cache(10, 4);
        let ticket = cache.ticket(&7).expect("ticket");
        cache.forget(&7);
        cache.keep(ticket, bytes("stale"));
        assert_eq!(cache.get(&7), None);
        let ticket = cache.ticket(&7).expect("ticket");
        cache.keep(ticket, bytes("fresh"));
        assert_eq!(cache.get(&7), Some(bytes("fresh")));
        let ticket = cache.ticket(&7).expect("ticket");
        cache.forget_all();
        cache.keep(ticket, bytes("stale"));
        assert_eq!(
            cache.get(&7),
            None,
            "forgetting everything spoils every ticket"
        );
    }

    #[test]
    fn losing_the_feed_between_ticket_and_keep_refuses_the_entry() {
        let cache = listening_cache(10, 4);
        let ticket = cache.ticket(&3).expect("ticket");
        cache.deaf();
        cache.listening();
        cache.keep(ticket, bytes("read while deaf"));
        assert_eq!(cache.get(&3), None);
    }

    #[test]
    fn a_change_forgets_only_its_key_and_counts_in_its_slot() {
        let cache = listening_cache(10, 256);
        let (one, two) = (
            1,
            (1..)
                .find(|k| cache.slot(k) != cache.slot(&1))
                .expect("key"),
        );
        for key in [one, two] {
            let ticket = cache.ticket(&key).expect("ticket");
            cache.keep(ticket, bytes("x"));
        }
        let heard = cache.changes_heard();
        cache.forget(&one);
        assert_eq!(cache.get(&one), None);
        assert_eq!(cache.get(&two), Some(bytes("x")));
        assert!(cache.changes_seen(&one) > cache.changes_seen(&two));
        assert_eq!(cache.changes_heard(), heard + 1);
    }

    #[test]
    fn one_slot_makes_any_change_spoil_every_ticket() {
        let cache = listening_cache(10, 1);
        let ticket = cache.ticket(&1).expect("ticket");
        cache.forget(&2);
        cache.keep(ticket, bytes("x"));
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn a_full_cache_stays_within_its_capacity() {
        let cache = listening_cache(3, 4);
        for key in 1..=10 {
            let ticket = cache.ticket(&key).expect("ticket");
            cache.keep(ticket, bytes("x"));
            assert!(cache.len() <= 3);
        }
        assert!(cache.get(&10).is_some());
    }

    #[test]
    fn a_cache_of_no_entries_gives_no_tickets() {
        let cache = listening_cache(0, 4);
        assert!(cache.ticket(&1).is_none());
        assert!(cache.is_empty());
    }
}
