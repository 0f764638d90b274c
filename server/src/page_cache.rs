//! Pages of the compose list this process served lately, kept as the JSON of their items, so a
//! dashboard, a CI job or Freshmaker listing the same filter again is answered without a
//! database round trip. The page's total and links are not kept: the total comes from
//! [`crate::totals`] as for any page, and the links follow each request's own URL.
//!
//! Like [`crate::compose_cache`], a page is only as good as the news of changes, and a page
//! shows many composes, including ones that did not exist when it was read. So every change
//! notice the [`crate::change_feed`] hears (a compose changed or removed, composes inserted)
//! and every write through this process forgets every page. Nothing is served while the feed
//! is not listening; on SQLite, which sends no notices, nothing is ever kept.
//!
//! A reader can race a change (it reads, the change commits and is heard, then it keeps what
//! it read), so it takes a [`PageTicket`] before reading and [`PageCache::keep`] refuses the
//! page if any change was heard since.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use actix_web::web::Bytes;
use odcs_common::db::models::{ComposeFilter, ComposeOrder};

/// Which page of which listing: everything that decides the items shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The equality filters.
    pub filter: ComposeFilter,
    /// The sort order.
    pub order: ComposeOrder,
    /// The page number, from 1.
    pub page: i64,
    /// Composes per page.
    pub per_page: i64,
}

/// Permission to keep a page about to be read from the database.
#[derive(Debug, Clone, Copy)]
pub struct PageTicket {
    changes_seen: u64,
}

/// Recently served list pages, valid while the change feed listens.
pub struct PageCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    listening: bool,
    changes_seen: u64,
    pages: HashMap<PageKey, Bytes>,
}

impl PageCache {
    /// A cache of at most `capacity` pages (0 keeps none); it serves nothing until
    /// [`PageCache::listening`] says the change feed is up.
    pub fn new(capacity: usize) -> PageCache {
        PageCache {
            capacity,
            inner: Mutex::new(Inner {
                listening: false,
                changes_seen: 0,
                pages: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The JSON array of the items on page `key`, if kept.
    pub fn get(&self, key: &PageKey) -> Option<Bytes> {
        let inner = self.lock();
        if !inner.listening {
            return None;
        }
        inner.pages.get(key).cloned()
    }

    /// A ticket to keep a page once read, taken before reading it; `None` when nothing may be
    /// kept (the feed is down, or the cache holds nothing).
    pub fn ticket(&self) -> Option<PageTicket> {
        if self.capacity == 0 {
            return None;
        }
        let inner = self.lock();
        inner.listening.then_some(PageTicket {
            changes_seen: inner.changes_seen,
        })
    }

    /// Keeps `items` (a JSON array) as page `key`, unless a change was heard since the ticket
    /// was taken or the feed went down meanwhile. A full cache makes room by dropping any page.
    pub fn keep(&self, ticket: PageTicket, key: PageKey, items: Bytes) {
        let mut inner = self.lock();
        if !inner.listening || inner.changes_seen != ticket.changes_seen {
            return;
        }
        if inner.pages.len() >= self.capacity && !inner.pages.contains_key(&key) {
            let victim = inner.pages.keys().next().cloned();
            if let Some(victim) = victim {
                inner.pages.remove(&victim);
            }
        }
        inner.pages.insert(key, items);
    }

    /// Some compose changed, was removed or was created: any page may now be wrong.
    pub fn changed(&self) {
        let mut inner = self.lock();
        Self::forget_all(&mut inner);
    }

    /// The change feed listens: pages may be kept and served from now on. Anything kept before
    /// is forgotten, since changes made while nobody listened were not heard.
    pub fn listening(&self) {
        let mut inner = self.lock();
        Self::forget_all(&mut inner);
        inner.listening = true;
    }

    /// The change feed lost its connection: nothing is served or kept until it listens again.
    pub fn deaf(&self) {
        let mut inner = self.lock();
        Self::forget_all(&mut inner);
        inner.listening = false;
    }

    fn forget_all(inner: &mut Inner) {
        inner.pages.clear();
        inner.changes_seen += 1;
    }

    /// How many changes this process has heard of: it grows with every change notice and
    /// local write, so a test can tell the notice of a change it made was heard.
    pub fn changes_seen(&self) -> u64 {
        self.lock().changes_seen
    }

    /// How many pages are kept.
    pub fn len(&self) -> usize {
        self.lock().pages.len()
    }

    /// Whether no page is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(page: i64) -> PageKey {
        PageKey {
            filter: ComposeFilter {
                owner: Some("alice".into()),
                ..ComposeFilter::default()
            },
            order: ComposeOrder::default(),
            page,
            per_page: 10,
        }
    }

    fn items(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    fn listening_cache(capacity: usize) -> PageCache {
        let cache = PageCache::new(capacity);
        cache.listening();
        cache
    }

    #[test]
    fn nothing_is_kept_or_served_until_the_feed_listens() {
        let cache = PageCache::new(10);
        assert!(cache.ticket().is_none());
        cache.listening();
        let ticket = cache.ticket().expect("ticket");
        cache.keep(ticket, key(1), items("[]"));
        assert_eq!(cache.get(&key(1)), Some(items("[]")));
        cache.deaf();
        assert_eq!(cache.get(&key(1)), None);
        assert!(cache.ticket().is_none());
    }

    #[test]
    fn any_change_forgets_every_page() {
        let cache = listening_cache(10);
        for page in [1, 2] {
            let ticket = cache.ticket().expect("ticket");
            cache.keep(ticket, key(page), items("[1]"));
        }
        let before = cache.changes_seen();
        cache.changed();
        assert!(cache.is_empty());
        assert!(cache.changes_seen() > before);
    }

    #[test]
    fn a_change_heard_after_the_ticket_refuses_what_was_read_before_it() {
        let cache = listening_cache(10);
        let ticket = cache.ticket().expect("ticket");
        cache.changed();
        cache.keep(ticket, key(1), items("[\"stale\"]"));
        assert_eq!(cache.get(&key(1)), None);
    }

    #[test]
    fn losing_the_feed_between_ticket_and_keep_refuses_the_page() {
        let cache = listening_cache(10);
        let ticket = cache.ticket().expect("ticket");
        cache.deaf();
        cache.listening();
        cache.keep(ticket, key(1), items("[]"));
        assert_eq!(cache.get(&key(1)), None);
    }

    #[test]
    fn pages_differ_by_filter_order_and_paging() {
        let cache = listening_cache(10);
        let ticket = cache.ticket().expect("ticket");
        cache.keep(ticket, key(1), items("[1]"));
        let mut other = key(1);
        other.per_page = 20;
        assert_eq!(cache.get(&other), None);
        other = key(1);
        other.order.descending = false;
        assert_eq!(cache.get(&other), None);
        other = key(1);
        other.filter.owner = Some("bob".into());
        assert_eq!(cache.get(&other), None);
    }

    #[test]
    fn a_full_cache_stays_within_its_capacity() {
        let cache = listening_cache(3);
        for page in 1..=10 {
            let ticket = cache.ticket().expect("ticket");
            cache.keep(ticket, key(page), items("[]"));
            assert!(cache.len() <= 3);
        }
        assert!(cache.get(&key(10)).is_some());
    }

    #[test]
    fn a_cache_of_no_pages_gives_no_tickets() {
        let cache = listening_cache(0);
        assert!(cache.ticket().is_none());
    }
}
