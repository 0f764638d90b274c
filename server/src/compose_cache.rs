//! Composes this process served lately, kept as the bytes of their JSON, so a client polling a
//! compose (the reference client's `wait_for_compose`, Freshmaker, CI jobs) is answered
//! without a database round trip.
//!
//! An entry is only as good as the news of changes: the cache serves nothing unless a
//! [`crate::change_feed`] is listening to the database's change notices, forgets a compose the
//! moment a notice names it, and forgets everything when the feed loses its connection (notices
//! may have been missed). Changes made through this process are forgotten before their answer
//! is sent, so a client reads its own writes; a change made elsewhere is seen once its notice
//! arrives, milliseconds after it commits. The keeping is [`crate::noticed_cache`]'s.

use odcs_common::compose::ComposeId;

use crate::noticed_cache::NoticedCache;

/// How many change counters the ids share: a change to one compose spoils the tickets of the
/// others in its slot, so more slots mean fewer refused entries while composes change often.
const SLOTS: usize = 256;

/// Recently served composes, valid while the change feed listens.
pub type ComposeCache = NoticedCache<ComposeId>;

/// A cache of at most `capacity` composes (0 keeps none).
pub fn compose_cache(capacity: usize) -> ComposeCache {
    NoticedCache::new(capacity, SLOTS)
}
