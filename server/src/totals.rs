//! A short-lived cache of list totals.
//!
//! Counting every matching row is the most expensive part of a list request (tens of
//! milliseconds over a million composes), and callers page through lists far more often than
//! composes are created. A total is reused for the same filters for a configured time (1 s by
//! default); past it, one request counts again while the others keep the previous total instead
//! of all counting at once (which piled up hundreds of milliseconds under load). Writes through
//! this process clear the cache at once, so only writes by other processes can make
//! `meta.total` lag: by the configured time and one count, at most [`STALE_FACTOR`] times it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use odcs_common::db::models::ComposeFilter;

/// Most distinct filters remembered; past this the cache starts over.
const MAX_ENTRIES: usize = 4096;

/// How many times the configured time an expired total may still be served while one request
/// counts again (and how long that request may take before another one tries).
pub const STALE_FACTOR: u32 = 10;

/// What the cache holds for a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    /// A total counted less than the configured time ago.
    Fresh(i64),
    /// An older total to answer with while someone else counts again.
    Stale(i64),
    /// Nothing usable: the caller counts (and [`TotalsCache::put`]s the result).
    Count,
}

/// A remembered total: when it was counted, and since when someone is counting it again.
#[derive(Debug, Clone, Copy)]
struct Entry {
    counted: Instant,
    total: i64,
    recounting: Option<Instant>,
}

/// Totals by filter, each with the time it was counted.
pub struct TotalsCache {
    ttl: Duration,
    entries: Mutex<HashMap<ComposeFilter, Entry>>,
}

impl TotalsCache {
    /// A cache keeping totals for `ttl` (zero: never).
    pub fn new(ttl: Duration) -> TotalsCache {
        TotalsCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// What to answer `filter`'s total with; [`Cached::Count`] asks the caller to count, which
    /// only one caller at a time is asked to do for an expired total.
    pub fn lookup(&self, filter: &ComposeFilter) -> Cached {
        if self.ttl.is_zero() {
            return Cached::Count;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return Cached::Count;
        };
        let Some(entry) = entries.get_mut(filter) else {
            return Cached::Count;
        };
        let age = entry.counted.elapsed();
        if age < self.ttl {
            return Cached::Fresh(entry.total);
        }
        if age >= self.ttl * STALE_FACTOR {
            return Cached::Count;
        }
        let someone_counts = entry
            .recounting
            .is_some_and(|since| since.elapsed() < self.ttl * STALE_FACTOR);
        if someone_counts {
            Cached::Stale(entry.total)
        } else {
            entry.recounting = Some(Instant::now());
            Cached::Count
        }
    }

    /// Remembers `total` for `filter`.
    pub fn put(&self, filter: ComposeFilter, total: i64) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                filter,
                Entry {
                    counted: Instant::now(),
                    total,
                    recounting: None,
                },
            );
        }
    }

    /// Forgets every total, after a write changed what they count.
    pub fn invalidate(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_expire_and_are_invalidated() {
        let cache = TotalsCache::new(Duration::from_millis(50));
        let filter = ComposeFilter {
            state: Some(odcs_common::compose::ComposeState::Done),
            ..ComposeFilter::default()
        };
        assert_eq!(cache.lookup(&filter), Cached::Count);
        cache.put(filter.clone(), 7);
        assert_eq!(cache.lookup(&filter), Cached::Fresh(7));
        assert_eq!(cache.lookup(&ComposeFilter::default()), Cached::Count);
        cache.invalidate();
        assert_eq!(cache.lookup(&filter), Cached::Count);
        cache.put(filter.clone(), 8);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.lookup(&filter), Cached::Count, "expired");
    }

    #[test]
    fn one_caller_recounts_an_expired_total_while_others_keep_it() {
        let cache = TotalsCache::new(Duration::from_millis(30));
        let filter = ComposeFilter::default();
        assert_eq!(cache.lookup(&filter), Cached::Count);
        cache.put(filter.clone(), 5);
        assert_eq!(cache.lookup(&filter), Cached::Fresh(5));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            cache.lookup(&filter),
            Cached::Count,
            "the first caller recounts"
        );
        assert_eq!(
            cache.lookup(&filter),
            Cached::Stale(5),
            "the others keep the total"
        );
        cache.put(filter.clone(), 6);
        assert_eq!(cache.lookup(&filter), Cached::Fresh(6));
        cache.invalidate();
        assert_eq!(
            cache.lookup(&filter),
            Cached::Count,
            "writes are counted at once"
        );
        cache.put(filter.clone(), 7);
        std::thread::sleep(Duration::from_millis(310));
        assert_eq!(cache.lookup(&filter), Cached::Count, "too old to serve");
    }

    #[test]
    fn a_zero_ttl_never_caches() {
        let cache = TotalsCache::new(Duration::ZERO);
        cache.put(ComposeFilter::default(), 1);
        assert_eq!(cache.lookup(&ComposeFilter::default()), Cached::Count);
    }
}
