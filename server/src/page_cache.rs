//! Pages of the compose list this process served lately, kept as the JSON of their items, so a
//! dashboard, a CI job or Freshmaker listing the same filter again is answered without a
//! database round trip. The page's total and links are not kept: the total comes from
//! [`crate::totals`] as for any page, and the links follow each request's own URL.
//!
//! Like [`crate::compose_cache`], a page is only as good as the news of changes, and a page
//! shows many composes, including ones that did not exist when it was read. So every change
//! notice the [`crate::change_feed`] hears (a compose changed or removed, composes inserted)
//! and every write through this process forgets every page. Nothing is served while the feed
//! is not listening; on SQLite, which sends no notices, nothing is ever kept. The keeping, and the tickets that stop a reader racing a change from keeping what it read
//! before, are [`crate::noticed_cache`]'s, with one slot: any change spoils every ticket.

use odcs_common::db::models::{ComposeFilter, ComposeOrder};

use crate::noticed_cache::NoticedCache;

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

/// Recently served list pages (the JSON array of their items), valid while the change feed
/// listens.
pub type PageCache = NoticedCache<PageKey>;

/// A cache of at most `capacity` pages (0 keeps none).
pub fn page_cache(capacity: usize) -> PageCache {
    NoticedCache::new(capacity, 1)
}

#[cfg(test)]
mod tests {
    use actix_web::web::Bytes;

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

    fn keep(cache: &PageCache, key: PageKey) {
        let ticket = cache.ticket(&key).expect("ticket");
        cache.keep(ticket, Bytes::from_static(b"[1]"));
    }

    #[test]
    fn a_change_to_any_compose_spoils_a_ticket_for_any_page() {
        let cache = page_cache(10);
        cache.listening();
        let ticket = cache.ticket(&key(1)).expect("ticket");
        cache.forget_all();
        cache.keep(ticket, Bytes::from_static(b"[]"));
        assert!(cache.is_empty());
    }

    #[test]
    fn pages_differ_by_filter_order_and_paging() {
        let cache = page_cache(10);
        cache.listening();
        keep(&cache, key(1));
        assert!(cache.get(&key(1)).is_some());
        let mut other = key(1);
        other.per_page = 20;
        assert_eq!(cache.get(&other), None);
        other = key(1);
        other.order.descending = false;
        assert_eq!(cache.get(&other), None);
        other = key(1);
        other.filter.owner = Some("bob".into());
        assert_eq!(cache.get(&other), None);
        assert_eq!(cache.get(&key(2)), None);
    }
}
