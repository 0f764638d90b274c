//! Stopping a compose that must not go on: its worker lost the lease (another worker has the
//! compose now), or it ran past `generate_timeout_seconds`. Stages check at their boundaries
//! and long loops; retry loops (Koji calls, downloads, lookaside fetches) check before they
//! wait, through the thread's current [`Cancel`], so they never outlast the compose.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Why a compose stopped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Cancelled {
    /// Another worker holds the compose now; this one writes nothing.
    #[error("the worker lost its lease on the compose")]
    LeaseLost,
    /// The compose ran too long.
    #[error("generating took longer than generate_timeout_seconds ({0} s)")]
    TimedOut(u64),
}

/// Whether one compose may go on; shared by its stages and its lease-renewal thread.
#[derive(Debug, Clone)]
pub struct Cancel {
    lost: Arc<AtomicBool>,
    deadline: Instant,
    timeout: Duration,
}

impl Cancel {
    /// A compose that may run for `timeout` from now.
    pub fn new(timeout: Duration) -> Cancel {
        Cancel {
            lost: Arc::new(AtomicBool::new(false)),
            deadline: Instant::now() + timeout,
            timeout,
        }
    }

    /// A compose that runs as long as it takes (tools and tests).
    pub fn never() -> Cancel {
        Cancel::new(Duration::from_secs(100 * 365 * 24 * 3600))
    }

    /// Records that the lease is lost.
    pub fn lose_lease(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// Fails when the compose must stop.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(Cancelled::LeaseLost);
        }
        if Instant::now() >= self.deadline {
            return Err(Cancelled::TimedOut(self.timeout.as_secs()));
        }
        Ok(())
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Makes this the current thread's compose until the guard is dropped, for retry loops
    /// that cannot be handed it.
    pub fn enter(&self) -> CurrentGuard {
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        CurrentGuard { previous }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Cancel>> = const { RefCell::new(None) };
}

/// Restores the previous current compose when dropped.
pub struct CurrentGuard {
    previous: Option<Cancel>,
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// The current thread's compose, if any.
pub fn current() -> Option<Cancel> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Sleeps `wait` before a retry, unless the current compose must stop first: then says why.
pub fn sleep_before_retry(wait: Duration) -> Result<(), Cancelled> {
    match current() {
        None => {
            std::thread::sleep(wait);
            Ok(())
        }
        Some(cancel) => {
            cancel.check()?;
            std::thread::sleep(wait.min(cancel.remaining()));
            cancel.check()
        }
    }
}

/// `f` applied to every item on up to `threads` threads, results in the items' order: for
/// lookups that mostly wait on a remote service. Each thread runs under the current compose's
/// cancellation, so retries inside `f` stop with the compose.
pub fn map_concurrently<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.len() <= 1 || threads <= 1 {
        return items.iter().map(f).collect();
    }
    let cancel = current();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(items.len()) {
            scope.spawn(|| {
                let _current = cancel.as_ref().map(Cancel::enter);
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(n) else { return };
                    let value = f(item);
                    *results[n]
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .expect("every item was mapped")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_lease_and_a_deadline_stop_the_compose() {
        let cancel = Cancel::new(Duration::from_secs(60));
        assert_eq!(cancel.check(), Ok(()));
        cancel.clone().lose_lease();
        assert_eq!(cancel.check(), Err(Cancelled::LeaseLost));
        let late = Cancel::new(Duration::ZERO);
        assert_eq!(late.check(), Err(Cancelled::TimedOut(0)));
    }

    #[test]
    fn retries_stop_at_the_current_deadline() {
        let cancel = Cancel::new(Duration::from_millis(50));
        let _current = cancel.enter();
        let started = Instant::now();
        let err = sleep_before_retry(Duration::from_secs(30)).expect_err("deadline");
        assert_eq!(err, Cancelled::TimedOut(0));
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(_current);
        assert!(current().is_none());
    }

    #[test]
    fn concurrent_maps_keep_the_order_and_the_compose() {
        let cancel = Cancel::new(Duration::from_secs(60));
        let _current = cancel.enter();
        let items: Vec<u64> = (0..50).collect();
        let out = map_concurrently(&items, 8, |n| {
            std::thread::sleep(Duration::from_millis(50 - n));
            (n * 2, current().is_some())
        });
        assert_eq!(
            out.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            (0..50).map(|n| n * 2).collect::<Vec<_>>()
        );
        assert!(out.iter().all(|(_, under_compose)| *under_compose));
    }
}
