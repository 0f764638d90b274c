//! The clock, in the one form the store keeps: naive UTC, whole microseconds.

use chrono::{DurationRound, NaiveDateTime, TimeDelta, Utc};

/// The current UTC time, truncated to microseconds so PostgreSQL and SQLite store the same
/// value and a row read back equals the row written.
pub fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

/// `from` plus `seconds`, saturating instead of overflowing on absurd lifetimes.
pub fn after(from: NaiveDateTime, seconds: i64) -> NaiveDateTime {
    TimeDelta::try_seconds(seconds)
        .and_then(|delta| from.checked_add_signed(delta))
        .unwrap_or(NaiveDateTime::MAX)
}
