//! A cache of list totals, and their counting.
//!
//! Counting every matching row is the most expensive part of a list request: well under a
//! millisecond over ten thousand composes, most of a second over a million. While the change
//! feed listens ([`crate::change_feed`], PostgreSQL), a total stays exact until the database
//! announces a change, so it is kept until then, however old. Otherwise (SQLite, or the feed
//! down) a total is reused for the same filters for the configured time (1 s by default), or
//! for [`COST_FACTOR`] times as long as it took to count when that is longer.
//!
//! A total outdated by a change, or expired: a cheap one (counted in under
//! [`INLINE_COUNT_LIMIT`]) is counted again by the next request, which answers exactly; an
//! expensive one is answered with the previous total while one request starts a count in the
//! background, at most once per [`COST_FACTOR`] times its counting time, so counting never
//! takes more than a tenth of a core per filter in use and no request waits for a count but
//! the first one for its filters. A count that raced a change (began before the change was
//! heard, ended after) is kept as outdated: its [`TotalTicket`] says so.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use odcs_common::db::models::{Compose, ComposeFilter};
use odcs_common::db::DbConnection;
use tokio::sync::watch;

/// Most distinct filters remembered; past this the cache starts over.
const MAX_ENTRIES: usize = 4096;

/// How many times its own counting time a total is kept, when that exceeds the configured time.
pub const COST_FACTOR: u32 = 10;

/// Counts that took longer than this are made in the background rather than by a request.
pub const INLINE_COUNT_LIMIT: Duration = Duration::from_millis(50);

/// How long a background count may run before another request may start one.
const RECOUNT_PATIENCE: Duration = Duration::from_secs(30);

/// What the cache holds for a filter.
#[derive(Debug, Clone)]
pub enum Cached {
    /// A total to answer with.
    Fresh(i64),
    /// An outdated total to answer with; the caller starts a count in the background (and
    /// [`TotalsCache::put`]s its result).
    Refresh(i64),
    /// Nothing usable: the caller counts before answering (and [`TotalsCache::put`]s it).
    Count,
    /// Nothing usable, and another request is counting it first: wait for its total (the
    /// channel closes without one if that count failed; count then).
    Await(watch::Receiver<Option<i64>>),
}

/// A remembered total: what it was, when and how fast it was counted, whether a write made it
/// outdated, and since when someone is counting it again.
#[derive(Debug, Clone, Copy)]
struct Entry {
    total: i64,
    counted: Instant,
    cost: Duration,
    outdated: bool,
    recounting: Option<Instant>,
}

/// A filter's first count under way: since when, and where its total will be posted.
struct FirstCount {
    started: Instant,
    total: watch::Sender<Option<i64>>,
}

/// Taken before a count, so that [`TotalsCache::put`] knows whether a change was heard while
/// it ran.
#[derive(Debug, Clone, Copy)]
pub struct TotalTicket {
    changes_seen: u64,
}

/// The remembered totals, and what the change feed said.
#[derive(Default)]
struct Entries {
    totals: HashMap<ComposeFilter, Entry>,
    /// Whether the change feed listens, so totals not outdated are exact.
    listening: bool,
    /// Changes heard (notices and this process's writes).
    changes_seen: u64,
}

/// Totals by filter, each with the time it was counted.
pub struct TotalsCache {
    ttl: Duration,
    entries: Mutex<Entries>,
    /// Filters with no total yet that one request is counting, with where it will post it:
    /// a cold start under load would otherwise have every request count the same rows at once.
    first_counts: Mutex<HashMap<ComposeFilter, FirstCount>>,
}

impl TotalsCache {
    /// A cache keeping totals for `ttl` (zero: never).
    pub fn new(ttl: Duration) -> TotalsCache {
        TotalsCache {
            ttl,
            entries: Mutex::new(Entries::default()),
            first_counts: Mutex::new(HashMap::new()),
        }
    }

    /// What to answer `filter`'s total with (see [`Cached`]); of the requests finding an
    /// expensive total outdated, only one at a time is asked to refresh it.
    pub fn lookup(&self, filter: &ComposeFilter) -> Cached {
        if self.ttl.is_zero() {
            return Cached::Count;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return Cached::Count;
        };
        let listening = entries.listening;
        let Some(entry) = entries.totals.get_mut(filter) else {
            drop(entries);
            return self.first_count(filter);
        };
        let age = entry.counted.elapsed();
        let expired = age >= self.ttl.max(entry.cost * COST_FACTOR);
        if !entry.outdated && (listening || !expired) {
            return Cached::Fresh(entry.total);
        }
        if entry.cost < INLINE_COUNT_LIMIT {
            return Cached::Count;
        }
        let someone_counts = entry
            .recounting
            .is_some_and(|since| since.elapsed() < RECOUNT_PATIENCE);
        let counted_lately = age < entry.cost * COST_FACTOR;
        if someone_counts || counted_lately {
            Cached::Fresh(entry.total)
        } else {
            entry.recounting = Some(Instant::now());
            Cached::Refresh(entry.total)
        }
    }

    /// [`Cached::Count`] for the first request of a filter with no total, [`Cached::Await`]
    /// for those arriving while it counts.
    fn first_count(&self, filter: &ComposeFilter) -> Cached {
        let Ok(mut first_counts) = self.first_counts.lock() else {
            return Cached::Count;
        };
        match first_counts.get(filter) {
            // (A count that never reported, its request gone, is taken over after a while.)
            Some(first) if first.started.elapsed() < RECOUNT_PATIENCE => {
                Cached::Await(first.total.subscribe())
            }
            _ => {
                let (total, _) = watch::channel(None);
                first_counts.insert(
                    filter.clone(),
                    FirstCount {
                        started: Instant::now(),
                        total,
                    },
                );
                Cached::Count
            }
        }
    }

    /// Gives up counting `filter` first (the count failed): those waiting count themselves.
    pub fn abandon(&self, filter: &ComposeFilter) {
        if let Ok(mut first_counts) = self.first_counts.lock() {
            first_counts.remove(filter);
        }
    }

    /// A ticket for a count about to start.
    pub fn ticket(&self) -> TotalTicket {
        TotalTicket {
            changes_seen: self.entries.lock().map_or(0, |e| e.changes_seen),
        }
    }

    /// Remembers `total` for `filter`, counted in `cost` under `ticket`, and hands it to those
    /// waiting; outdated already if a change was heard since the ticket was taken.
    pub fn put(&self, filter: ComposeFilter, total: i64, cost: Duration, ticket: TotalTicket) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut first_counts) = self.first_counts.lock() {
            if let Some(first) = first_counts.remove(&filter) {
                let _ = first.total.send(Some(total));
            }
        }
        if let Ok(mut entries) = self.entries.lock() {
            let outdated = entries.changes_seen != ticket.changes_seen;
            if entries.totals.len() >= MAX_ENTRIES {
                entries.totals.clear();
            }
            entries.totals.insert(
                filter,
                Entry {
                    total,
                    counted: Instant::now(),
                    cost,
                    outdated,
                    recounting: None,
                },
            );
        }
    }

    /// Marks every total outdated, after a change to what they count (a write through this
    /// process, or a change notice).
    pub fn invalidate(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            Self::outdate_all(&mut entries);
        }
    }

    fn outdate_all(entries: &mut Entries) {
        entries.changes_seen += 1;
        for entry in entries.totals.values_mut() {
            entry.outdated = true;
        }
    }

    /// The change feed listens (`true`) or lost its connection (`false`); either way, changes
    /// made meanwhile were not heard, so every total is outdated.
    pub fn set_listening(&self, listening: bool) {
        if let Ok(mut entries) = self.entries.lock() {
            Self::outdate_all(&mut entries);
            entries.listening = listening;
        }
    }
}

/// The total another request is counting first, once it has it; `None` if that count failed
/// or takes longer than [`RECOUNT_PATIENCE`] (the caller counts then).
pub async fn first_total(mut first: watch::Receiver<Option<i64>>) -> Option<i64> {
    let posted = tokio::time::timeout(RECOUNT_PATIENCE, first.wait_for(Option::is_some)).await;
    match posted {
        Ok(Ok(total)) => *total,
        _ => None,
    }
}

/// Counts the composes `filter` matches, with how long that took.
pub fn count(
    conn: &mut DbConnection,
    filter: &ComposeFilter,
) -> diesel::QueryResult<(i64, Duration)> {
    let started = Instant::now();
    let total = Compose::count(conn, filter)?;
    Ok((total, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Duration = Duration::from_micros(200);
    const COSTLY: Duration = Duration::from_millis(60);

    fn done() -> ComposeFilter {
        ComposeFilter {
            state: Some(odcs_common::compose::ComposeState::Done),
            ..ComposeFilter::default()
        }
    }

    fn put(cache: &TotalsCache, filter: &ComposeFilter, total: i64, cost: Duration) {
        let ticket = cache.ticket();
        cache.put(filter.clone(), total, cost, ticket);
    }

    #[test]
    fn cheap_totals_expire_and_writes_make_them_exact_at_once() {
        let cache = TotalsCache::new(Duration::from_millis(50));
        let filter = done();
        assert!(matches!(cache.lookup(&filter), Cached::Count));
        put(&cache, &filter, 7, CHEAP);
        assert!(matches!(cache.lookup(&filter), Cached::Fresh(7)));
        assert!(matches!(
            cache.lookup(&ComposeFilter::default()),
            Cached::Count
        ));
        cache.invalidate();
        assert!(
            matches!(cache.lookup(&filter), Cached::Count),
            "outdated by a write"
        );
        put(&cache, &filter, 8, CHEAP);
        std::thread::sleep(Duration::from_millis(60));
        assert!(matches!(cache.lookup(&filter), Cached::Count), "expired");
    }

    #[test]
    fn costly_totals_are_kept_longer_and_refreshed_by_one_caller_in_the_background() {
        let cache = TotalsCache::new(Duration::from_millis(50));
        let filter = ComposeFilter::default();
        put(&cache, &filter, 5, COSTLY);
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            matches!(cache.lookup(&filter), Cached::Fresh(5)),
            "kept ten times its counting time"
        );
        cache.invalidate();
        assert!(
            matches!(cache.lookup(&filter), Cached::Fresh(5)),
            "outdated, but counted less than ten counting times ago"
        );
        std::thread::sleep(Duration::from_millis(560));
        assert!(
            matches!(cache.lookup(&filter), Cached::Refresh(5)),
            "the first caller after that recounts, answering with the old total"
        );
        assert!(
            matches!(cache.lookup(&filter), Cached::Fresh(5)),
            "the others keep the total meanwhile"
        );
        put(&cache, &filter, 6, COSTLY);
        assert!(matches!(cache.lookup(&filter), Cached::Fresh(6)));
        std::thread::sleep(Duration::from_millis(610));
        assert!(
            matches!(cache.lookup(&filter), Cached::Refresh(6)),
            "expired"
        );
    }

    #[test]
    fn a_costly_total_outdated_under_a_long_ttl_is_recounted_after_ten_counting_times() {
        let cache = TotalsCache::new(Duration::from_secs(3600));
        cache.set_listening(true);
        let filter = ComposeFilter::default();
        put(&cache, &filter, 5, COSTLY);
        cache.invalidate();
        assert!(matches!(cache.lookup(&filter), Cached::Fresh(5)));
        std::thread::sleep(Duration::from_millis(610));
        assert!(
            matches!(cache.lookup(&filter), Cached::Refresh(5)),
            "the time to live does not hold back a recount of a changed total"
        );
    }

    #[test]
    fn while_the_feed_listens_a_total_lasts_until_a_change_is_heard() {
        let cache = TotalsCache::new(Duration::from_millis(20));
        cache.set_listening(true);
        let filter = done();
        put(&cache, &filter, 3, CHEAP);
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            matches!(cache.lookup(&filter), Cached::Fresh(3)),
            "no change, no expiry"
        );
        cache.invalidate();
        assert!(matches!(cache.lookup(&filter), Cached::Count));

        let ticket = cache.ticket();
        cache.invalidate();
        cache.put(filter.clone(), 4, CHEAP, ticket);
        assert!(
            matches!(cache.lookup(&filter), Cached::Count),
            "counted across a change: outdated at once"
        );

        put(&cache, &filter, 5, CHEAP);
        cache.set_listening(false);
        assert!(
            matches!(cache.lookup(&filter), Cached::Count),
            "the feed lost: changes may go unheard"
        );
        put(&cache, &filter, 6, CHEAP);
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            matches!(cache.lookup(&filter), Cached::Count),
            "expires again without the feed"
        );
    }

    #[tokio::test]
    async fn requests_arriving_during_the_first_count_wait_for_its_total() {
        let cache = TotalsCache::new(Duration::from_millis(50));
        let filter = done();
        assert!(matches!(cache.lookup(&filter), Cached::Count));
        let Cached::Await(first) = cache.lookup(&filter) else {
            panic!("the second request waits");
        };
        let waiting = tokio::spawn(first_total(first));
        put(&cache, &filter, 9, COSTLY);
        assert_eq!(waiting.await.expect("joined"), Some(9));
        let other = ComposeFilter::default();
        assert!(matches!(cache.lookup(&other), Cached::Count));
        let Cached::Await(first) = cache.lookup(&other) else {
            panic!("waits");
        };
        cache.abandon(&other);
        assert_eq!(
            first_total(first).await,
            None,
            "a failed count lets it count"
        );
        assert!(matches!(cache.lookup(&other), Cached::Count));
    }

    #[test]
    fn a_zero_ttl_never_caches() {
        let cache = TotalsCache::new(Duration::ZERO);
        put(&cache, &ComposeFilter::default(), 1, CHEAP);
        assert!(matches!(
            cache.lookup(&ComposeFilter::default()),
            Cached::Count
        ));
    }
}
