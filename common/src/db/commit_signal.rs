//! Tells this process that state-change messages were committed, the moment they are: the
//! event streams of an API process wake on it at once instead of waiting for the database's
//! notice (and, on SQLite, which sends no notices, it is the only wake-up there is).
//!
//! [`NewMessage::insert_many`](crate::db::models::NewMessage::insert_many) marks the
//! transaction running on its thread; [`write_transaction`](crate::db::write_transaction)
//! announces the mark once the transaction has committed, never before: a listener woken
//! earlier would read the table before the rows are there and then sleep past them.

use std::cell::Cell;
use std::sync::LazyLock;

use tokio::sync::watch;

thread_local! {
    /// Whether the write transaction running on this thread has written messages.
    static WROTE_MESSAGES: Cell<bool> = const { Cell::new(false) };
}

/// Counts the commits that wrote messages in this process; listeners wait for it to change.
static COMMITS: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::channel(0).0);

/// The transaction on this thread writes state-change messages.
pub(crate) fn wrote_messages() {
    WROTE_MESSAGES.with(|wrote| wrote.set(true));
}

/// A write transaction begins on this thread: nothing written yet.
pub(crate) fn transaction_began() {
    WROTE_MESSAGES.with(|wrote| wrote.set(false));
}

/// The write transaction on this thread committed: its messages, if any, are announced.
/// Returns whether there were any.
pub(crate) fn transaction_committed() -> bool {
    let wrote = WROTE_MESSAGES.with(|wrote| wrote.replace(false));
    if wrote {
        COMMITS.send_modify(|commits| *commits = commits.wrapping_add(1));
    }
    wrote
}

/// A receiver that sees a change after every commit that wrote state-change messages.
pub fn subscribe() -> watch::Receiver<u64> {
    COMMITS.subscribe()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commits_that_wrote_messages_are_announced() {
        transaction_began();
        assert!(!transaction_committed());
        transaction_began();
        wrote_messages();
        assert!(transaction_committed());
        assert!(!transaction_committed(), "announced once");
    }

    #[test]
    fn a_rolled_back_transaction_announces_nothing_later() {
        transaction_began();
        wrote_messages();
        transaction_began();
        assert!(!transaction_committed());
    }

    #[test]
    fn an_announcement_reaches_every_subscriber() {
        let (mut first, mut second) = (subscribe(), subscribe());
        first.mark_unchanged();
        second.mark_unchanged();
        transaction_began();
        wrote_messages();
        transaction_committed();
        assert!(first.has_changed().unwrap_or(false));
        assert!(second.has_changed().unwrap_or(false));
    }
}
