//! A short-lived cache of list totals.
//!
//! Counting every matching row is the most expensive part of a list request, and callers page
//! through lists far more often than composes are created. A total is reused for the same
//! filters for a configured time (1 s by default); writes through this process clear the cache
//! at once, so only writes by other processes can make `meta.total` lag, and only that long.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use odcs_common::db::models::ComposeFilter;

/// Most distinct filters remembered; past this the cache starts over.
const MAX_ENTRIES: usize = 4096;

/// Totals by filter, each with the time it was counted.
pub struct TotalsCache {
    ttl: Duration,
    entries: Mutex<HashMap<ComposeFilter, (Instant, i64)>>,
}

impl TotalsCache {
    /// A cache keeping totals for `ttl` (zero: never).
    pub fn new(ttl: Duration) -> TotalsCache {
        TotalsCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The total for `filter`, if counted less than `ttl` ago.
    pub fn get(&self, filter: &ComposeFilter) -> Option<i64> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        entries
            .get(filter)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, total)| *total)
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
            entries.insert(filter, (Instant::now(), total));
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
        assert_eq!(cache.get(&filter), None);
        cache.put(filter.clone(), 7);
        assert_eq!(cache.get(&filter), Some(7));
        assert_eq!(cache.get(&ComposeFilter::default()), None);
        cache.invalidate();
        assert_eq!(cache.get(&filter), None);
        cache.put(filter.clone(), 8);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&filter), None, "expired");
    }

    #[test]
    fn a_zero_ttl_never_caches() {
        let cache = TotalsCache::new(Duration::ZERO);
        cache.put(ComposeFilter::default(), 1);
        assert_eq!(cache.get(&ComposeFilter::default()), None);
    }
}
