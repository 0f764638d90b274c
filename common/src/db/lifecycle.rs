//! State transitions of composes, each with its state-change message written to the outbox in
//! the same transaction, so no transition is ever without its message (and no message without
//! its transition), whatever crashes.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::compose::{ComposeId, ComposeState};
use crate::config::Config;
use crate::db::models::{Compose, NewCompose, NewMessage};
use crate::db::schema::composes;
use crate::db::view::compose_json;
use crate::db::{write_transaction, DbConnection};
use crate::messaging::{state_change_topic, StateChanged};
use crate::time::after;

/// Columns a transition may set besides the state; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq, AsChangeset)]
#[diesel(table_name = composes)]
#[allow(missing_docs)] // each field sets the column of the same name
pub struct ComposeChanges {
    pub state: Option<ComposeState>,
    pub state_reason: Option<Option<String>>,
    pub source: Option<String>,
    pub time_to_expire: Option<NaiveDateTime>,
    pub time_started: Option<Option<NaiveDateTime>>,
    pub time_done: Option<Option<NaiveDateTime>>,
    pub time_removed: Option<Option<NaiveDateTime>>,
    pub koji_event: Option<Option<i64>>,
    pub pungi_compose_id: Option<Option<String>>,
    pub pungi_config_dump: Option<Option<String>>,
    pub reused_id: Option<Option<ComposeId>>,
    pub worker_id: Option<Option<String>>,
    pub lease_expires_at: Option<Option<NaiveDateTime>>,
    pub dispatched_at: Option<Option<NaiveDateTime>>,
    pub attempts: Option<i32>,
    pub arches: Option<Option<String>>,
    pub builds: Option<Option<String>>,
    pub packages: Option<Option<String>>,
    pub sigkeys: Option<Option<String>>,
}

/// The outbox message announcing `compose`'s current state.
fn message_for(compose: &Compose, config: &Config, now: NaiveDateTime) -> NewMessage {
    let body = StateChanged::new(compose_json(compose, config, false));
    NewMessage {
        compose_id: compose.id,
        message_id: uuid::Uuid::new_v4().to_string(),
        topic: state_change_topic(config),
        body: serde_json::to_string(&body).unwrap_or_default(),
        created_at: now,
        published_at: (!config.messaging.publishes()).then_some(now),
    }
}

/// Stores a new compose (in `wait`) with its first state-change message.
pub fn create(
    conn: &mut DbConnection,
    new: &NewCompose,
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<Compose> {
    create_many(conn, std::slice::from_ref(new), config, now)?
        .pop()
        .ok_or(diesel::result::Error::NotFound)
}

/// Stores new composes as [`create`] stores one, all in one transaction (one commit for many
/// requests arriving together), in order.
pub fn create_many(
    conn: &mut DbConnection,
    news: &[NewCompose],
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<Vec<Compose>> {
    write_transaction(conn, |conn| {
        let stored = NewCompose::insert_many(conn, news)?;
        for (new, compose) in news.iter().zip(&stored) {
            if let Some(claim) = &new.idempotency {
                claim.insert(conn, &compose.owner, compose.id)?;
            }
        }
        let messages: Vec<NewMessage> = stored
            .iter()
            .map(|compose| message_for(compose, config, now))
            .collect();
        NewMessage::insert_many(conn, &messages)?;
        Ok(stored)
    })
}

/// A requested transition.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    /// States the compose may be in for the transition to happen.
    pub from: &'a [ComposeState],
    /// The new state.
    pub to: ComposeState,
    /// The new state reason.
    pub reason: Option<String>,
    /// Only if this worker holds the compose (for outcomes of claimed composes).
    pub held_by: Option<&'a str>,
    /// Only if the compose expired before this time (for removals, so a renewal that extended
    /// it in the meantime wins).
    pub expired_before: Option<NaiveDateTime>,
    /// Further columns to set.
    pub changes: ComposeChanges,
}

/// Performs `transition` on compose `id` at `now`: the times the reference keeps (started, done,
/// removed; an outcome restarts the compose's lifetime), the outbox message, and the same
/// transition for every compose reusing this one. Returns the compose after the change, or
/// `None` when it was not in an allowed state (someone else moved it first).
pub fn transition(
    conn: &mut DbConnection,
    id: ComposeId,
    transition: &Transition<'_>,
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<Option<Compose>> {
    write_transaction(conn, |conn| apply(conn, id, transition, config, now))
}

fn apply(
    conn: &mut DbConnection,
    id: ComposeId,
    t: &Transition<'_>,
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<Option<Compose>> {
    match Compose::find(conn, id)? {
        Some(current) => apply_to(conn, &current, t, config, now),
        None => Ok(None),
    }
}

/// [`apply`] to `current`, the compose as just read in this transaction.
fn apply_to(
    conn: &mut DbConnection,
    current: &Compose,
    t: &Transition<'_>,
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<Option<Compose>> {
    let id = current.id;
    let from = t.from;
    if !from.contains(&current.state) {
        return Ok(None);
    }
    if t.expired_before
        .is_some_and(|at| current.time_to_expire >= at)
    {
        return Ok(None);
    }
    let mut changes = t.changes.clone();
    changes.state = Some(t.to);
    changes.state_reason = Some(t.reason.as_deref().map(crate::reason::bounded));
    match t.to {
        ComposeState::Generating => {
            changes.time_started.get_or_insert(Some(now));
        }
        ComposeState::Done => {
            changes.time_done.get_or_insert(Some(now));
        }
        ComposeState::Removed => {
            changes.time_removed.get_or_insert(Some(now));
        }
        _ => {}
    }
    if matches!(t.to, ComposeState::Done | ComposeState::Failed) && changes.time_to_expire.is_none()
    {
        let lifetime = (current.time_to_expire - current.time_submitted).num_seconds();
        changes.time_to_expire = Some(after(now, lifetime));
    }
    if !t.to.is_pending() {
        changes.worker_id.get_or_insert(None);
        changes.lease_expires_at.get_or_insert(None);
    }
    let Some(compose) = update_returning(conn, id, from, t.held_by, &changes)? else {
        return Ok(None);
    };
    message_for(&compose, config, now).insert(conn)?;
    // Composes reusing this one share its fate (the reference moves them along).
    let followers: Vec<ComposeId> = composes::table
        .filter(composes::reused_id.eq(id))
        .filter(composes::state.eq_any(from))
        .select(composes::id)
        .load(conn)?;
    for follower in followers {
        let follow = Transition {
            from: t.from,
            to: t.to,
            reason: t.reason.clone(),
            held_by: None,
            expired_before: None,
            changes: ComposeChanges {
                time_done: changes.time_done,
                pungi_compose_id: changes.pungi_compose_id.clone(),
                koji_event: changes.koji_event,
                ..ComposeChanges::default()
            },
        };
        apply(conn, follower, &follow, config, now)?;
    }
    Ok(Some(compose))
}

/// Sets `changes` on compose `id` if it is in one of the states `from` (and held by `held_by`,
/// if given) and returns the row as it now is, in one statement; `None` if it was not.
fn update_returning(
    conn: &mut DbConnection,
    id: ComposeId,
    from: &[ComposeState],
    held_by: Option<&str>,
    changes: &ComposeChanges,
) -> QueryResult<Option<Compose>> {
    // RETURNING is spelled out per backend: diesel's multi-connection backend cannot express
    // it, though both databases support it.
    macro_rules! update_on {
        ($conn:expr) => {{
            let target = composes::table
                .filter(composes::id.eq(id))
                .filter(composes::state.eq_any(from));
            match held_by {
                Some(worker) => diesel::update(target.filter(composes::worker_id.eq(worker)))
                    .set(changes)
                    .returning(Compose::as_returning())
                    .get_result($conn)
                    .optional(),
                None => diesel::update(target)
                    .set(changes)
                    .returning(Compose::as_returning())
                    .get_result($conn)
                    .optional(),
            }
        }};
    }
    match conn {
        DbConnection::Postgresql(pg) => update_on!(pg),
        DbConnection::Sqlite(lite) => update_on!(lite),
    }
}

/// Claims a waiting compose for `worker` until `now + lease_seconds`: `wait → generating`, once,
/// whatever duplicate deliveries of its job arrive. Counts the attempt.
pub fn claim(
    conn: &mut DbConnection,
    id: ComposeId,
    worker: &str,
    lease_seconds: i64,
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<Option<Compose>> {
    write_transaction(conn, |conn| {
        let Some(current) = Compose::find(conn, id)? else {
            return Ok(None);
        };
        let claim = Transition {
            from: &[ComposeState::Wait],
            to: ComposeState::Generating,
            reason: Some("Compose is being generated".into()),
            held_by: None,
            expired_before: None,
            changes: ComposeChanges {
                worker_id: Some(Some(worker.to_owned())),
                lease_expires_at: Some(Some(after(now, lease_seconds))),
                attempts: Some(current.attempts.saturating_add(1)),
                ..ComposeChanges::default()
            },
        };
        apply_to(conn, &current, &claim, config, now)
    })
}

/// Extends `worker`'s lease on compose `id` to `until`; false if it no longer holds it.
pub fn renew_lease(
    conn: &mut DbConnection,
    id: ComposeId,
    worker: &str,
    until: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(
        composes::table
            .filter(composes::id.eq(id))
            .filter(composes::state.eq(ComposeState::Generating))
            .filter(composes::worker_id.eq(worker)),
    )
    .set(composes::lease_expires_at.eq(Some(until)))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Records `pungi_compose_id` for compose `id`, generating under `worker`, unless another
/// compose already has it: false then (or when `worker` no longer holds the compose), so the
/// caller tries the next respin. Recorded before Pungi runs, as the reference does, so the
/// API shows it while the compose is generating.
pub fn record_pungi_compose_id(
    conn: &mut DbConnection,
    id: ComposeId,
    worker: &str,
    pungi_compose_id: &str,
) -> QueryResult<bool> {
    write_transaction(conn, |conn| {
        let taken: i64 = composes::table
            .filter(composes::pungi_compose_id.eq(pungi_compose_id))
            .filter(composes::id.ne(id))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Ok(false);
        }
        let updated = diesel::update(
            composes::table
                .filter(composes::id.eq(id))
                .filter(composes::state.eq(ComposeState::Generating))
                .filter(composes::worker_id.eq(worker)),
        )
        .set(composes::pungi_compose_id.eq(Some(pungi_compose_id)))
        .execute(conn)?;
        Ok(updated == 1)
    })
}

/// Records that compose `id`'s job was handed to the queue at `now`.
pub fn mark_dispatched(
    conn: &mut DbConnection,
    id: ComposeId,
    now: NaiveDateTime,
) -> QueryResult<()> {
    mark_dispatched_many(conn, &[id], now)
}

/// Records that the jobs of composes `ids` were handed to the queue by `now`, in one statement.
pub fn mark_dispatched_many(
    conn: &mut DbConnection,
    ids: &[ComposeId],
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(composes::table.filter(composes::id.eq_any(ids)))
        .set(composes::dispatched_at.eq(Some(now)))
        .execute(conn)
        .map(|_| ())
}

/// What became of a compose asked to reuse another.
#[derive(Debug, Clone, PartialEq)]
pub enum Reuse {
    /// The other is done: this compose is done too, sharing its files (the row after).
    Done(Box<Compose>),
    /// The other is still generating (or queued): this compose follows it and takes its
    /// outcome.
    Following,
    /// The other cannot be reused any more (failed, removed, deleted by an admin, expired):
    /// this compose must be generated.
    Unusable,
    /// This worker no longer holds the compose.
    LeaseLost,
}

/// Makes `worker`'s generating compose `id` reuse `old`, in one transaction that holds `old`
/// still: done at once when `old` is done and not expiring (its expiry and `id`'s become the
/// later of the two, `id` living `lifetime` seconds from `now`), following it when it is still
/// generating or queued, else [`Reuse::Unusable`].
pub fn reuse(
    conn: &mut DbConnection,
    id: ComposeId,
    worker: &str,
    old: ComposeId,
    lifetime: i64,
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<Reuse> {
    write_transaction(conn, |conn| {
        // Hold the old compose's row: its state cannot change until this commits.
        if !Compose::lock(conn, old)? {
            return Ok(Reuse::Unusable);
        }
        let Some(leader) = Compose::find(conn, old)? else {
            return Ok(Reuse::Unusable);
        };
        match leader.state {
            ComposeState::Done if leader.removed_by.is_none() && leader.time_to_expire > now => {
                let expiry = after(now, lifetime).max(leader.time_to_expire);
                let done = apply(
                    conn,
                    id,
                    &Transition {
                        from: &[ComposeState::Generating],
                        to: ComposeState::Done,
                        reason: Some(DONE_REASON.to_owned()),
                        held_by: Some(worker),
                        expired_before: None,
                        changes: ComposeChanges {
                            reused_id: Some(Some(old)),
                            // Candidates match the pinned request, so the leader's source is
                            // what this request resolved to (a module's builds, say).
                            source: Some(leader.source.clone()),
                            koji_event: Some(leader.koji_event),
                            pungi_compose_id: Some(leader.pungi_compose_id.clone()),
                            time_to_expire: Some(expiry),
                            ..ComposeChanges::default()
                        },
                    },
                    config,
                    now,
                )?;
                let Some(done) = done else {
                    return Ok(Reuse::LeaseLost);
                };
                Compose::extend_expiry(conn, &[old], expiry)?;
                Ok(Reuse::Done(Box::new(done)))
            }
            ComposeState::Generating | ComposeState::Wait => {
                let attached = diesel::update(
                    composes::table
                        .filter(composes::id.eq(id))
                        .filter(composes::state.eq(ComposeState::Generating))
                        .filter(composes::worker_id.eq(worker)),
                )
                .set((
                    composes::reused_id.eq(Some(old)),
                    composes::source.eq(&leader.source),
                    composes::koji_event.eq(leader.koji_event),
                    composes::worker_id.eq(None::<String>),
                    composes::lease_expires_at.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
                Ok(if attached == 1 {
                    Reuse::Following
                } else {
                    Reuse::LeaseLost
                })
            }
            _ => Ok(Reuse::Unusable),
        }
    })
}

/// The reason a done compose carries, as in the reference.
pub const DONE_REASON: &str = "Compose is generated successfully";

/// Why a fenced transition did not happen.
#[derive(Debug, thiserror::Error)]
pub enum FencedError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    /// What was to happen under the fence failed; nothing was recorded.
    #[error("{0}")]
    Before(String),
}

/// Performs `transition` (which names its holder in `held_by`) after `before`, with no other
/// claim able to record an outcome in between: in one transaction that first takes the
/// compose's row while `held_by` still holds it. `before` is what only the holder may do (put
/// its tree in place); it may run again if the transaction is retried, and a failure of it
/// records nothing. `None` when the holder lost the compose.
pub fn transition_fenced(
    conn: &mut DbConnection,
    id: ComposeId,
    transition: &Transition<'_>,
    config: &Config,
    now: NaiveDateTime,
    before: &mut dyn FnMut() -> Result<(), String>,
) -> Result<Option<Compose>, FencedError> {
    let Some(holder) = transition.held_by else {
        return Err(FencedError::Before(
            "a fenced transition names its holder".into(),
        ));
    };
    let mut failure: Option<String> = None;
    let result = write_transaction(conn, |conn| {
        let held = diesel::update(
            composes::table
                .filter(composes::id.eq(id))
                .filter(composes::state.eq_any(transition.from))
                .filter(composes::worker_id.eq(holder)),
        )
        .set(composes::worker_id.eq(composes::worker_id))
        .execute(conn)?;
        if held != 1 {
            return Ok(None);
        }
        if let Err(e) = before() {
            failure = Some(e);
            return Err(diesel::result::Error::RollbackTransaction);
        }
        apply(conn, id, transition, config, now)
    });
    match (result, failure) {
        (_, Some(reason)) => Err(FencedError::Before(reason)),
        (result, None) => Ok(result?),
    }
}

/// Removes expired compose `id` (done or failed, expiring before `now`) unless a live compose
/// still shares its files: the check and the removal are one transaction, and a renewal that
/// extended it first wins. The removed row, or `None`.
pub fn expire(
    conn: &mut DbConnection,
    id: ComposeId,
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<Option<Compose>> {
    Ok(expire_many(conn, &[id], config, now)?.into_iter().next())
}

/// Removes the expired composes among `ids` as [`expire`] removes one, all in one transaction
/// and with a statement per step rather than per compose, so a sweep over thousands of
/// expiries is a few round trips and one commit per batch. The removed rows, by id.
pub fn expire_many(
    conn: &mut DbConnection,
    ids: &[ComposeId],
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<Vec<Compose>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let finished = [ComposeState::Done, ComposeState::Failed];
    let live = [
        ComposeState::Wait,
        ComposeState::Generating,
        ComposeState::Done,
    ];
    write_transaction(conn, |conn| {
        let expired = || {
            composes::table
                .filter(composes::id.eq_any(ids))
                .filter(composes::state.eq_any(finished))
                .filter(composes::time_to_expire.lt(now))
        };
        // Hold the rows, so a renewal either extended one before this reads it, or waits (on
        // SQLite the transaction holds the database's write lock already).
        let rows: Vec<(ComposeId, Option<String>)> = match conn {
            DbConnection::Postgresql(pg) => expired()
                .select((composes::id, composes::removed_by))
                .for_update()
                .load(pg)?,
            DbConnection::Sqlite(lite) => expired()
                .select((composes::id, composes::removed_by))
                .load(lite)?,
        };
        let in_use: HashSet<Option<ComposeId>> = composes::table
            .filter(composes::reused_id.eq_any(ids))
            .filter(composes::state.eq_any(live))
            .filter(composes::time_to_expire.ge(now))
            .select(composes::reused_id)
            .load::<Option<ComposeId>>(conn)?
            .into_iter()
            .collect();
        let mut by_reason: BTreeMap<String, Vec<ComposeId>> = BTreeMap::new();
        for (id, removed_by) in rows {
            if !in_use.contains(&Some(id)) {
                by_reason
                    .entry(removal_reason(removed_by.as_deref()))
                    .or_default()
                    .push(id);
            }
        }
        let mut removed_ids = Vec::new();
        for (reason, group) in &by_reason {
            let changes = ComposeChanges {
                state: Some(ComposeState::Removed),
                state_reason: Some(Some(crate::reason::bounded(reason))),
                time_removed: Some(Some(now)),
                worker_id: Some(None),
                lease_expires_at: Some(None),
                ..ComposeChanges::default()
            };
            diesel::update(expired().filter(composes::id.eq_any(group)))
                .set(&changes)
                .execute(conn)?;
            removed_ids.extend_from_slice(group);
        }
        let removed: Vec<Compose> = composes::table
            .filter(composes::id.eq_any(&removed_ids))
            .order(composes::id.asc())
            .select(composes::all_columns)
            .load(conn)?;
        let messages: Vec<NewMessage> = removed
            .iter()
            .map(|compose| message_for(compose, config, now))
            .collect();
        NewMessage::insert_many(conn, &messages)?;
        // Composes reusing a removed one share its fate, as in every transition.
        let followers: Vec<(ComposeId, Option<ComposeId>)> = composes::table
            .filter(composes::reused_id.eq_any(&removed_ids))
            .filter(composes::state.eq_any(finished))
            .select((composes::id, composes::reused_id))
            .load(conn)?;
        for (follower, leader) in followers {
            let reason = removed
                .iter()
                .find(|c| Some(c.id) == leader)
                .and_then(|c| c.state_reason.clone());
            let follow = Transition {
                from: &finished,
                to: ComposeState::Removed,
                reason,
                held_by: None,
                expired_before: None,
                changes: ComposeChanges::default(),
            };
            apply(conn, follower, &follow, config, now)?;
        }
        Ok(removed)
    })
}

/// The state reason of a removal: by whom, or by expiry.
fn removal_reason(removed_by: Option<&str>) -> String {
    match removed_by {
        Some(user) => format!("Removed by {user}."),
        None => "Compose is expired.".to_owned(),
    }
}

/// What the beat did with a generating compose nobody is working on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Back in `wait`, to be dispatched again.
    Requeued,
    /// Failed: its workers stopped `max_attempts` times.
    GaveUp,
    /// Someone is working on it after all (its lease was renewed, its leader is alive), or it
    /// moved on: left alone.
    Alive,
}

/// Recovers generating compose `id` when nobody is working on it: its lease ran out before
/// `now`, or it has no lease and follows no live compose. It goes back to `wait` until it was
/// claimed `max_attempts` times, then fails (a compose that kills its workers would otherwise
/// be retried for ever). Checked and done in one transaction.
pub fn recover(
    conn: &mut DbConnection,
    id: ComposeId,
    max_attempts: i32,
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<Recovery> {
    write_transaction(conn, |conn| {
        if !Compose::lock(conn, id)? {
            return Ok(Recovery::Alive);
        }
        let Some(compose) = Compose::find(conn, id)? else {
            return Ok(Recovery::Alive);
        };
        if compose.state != ComposeState::Generating {
            return Ok(Recovery::Alive);
        }
        let abandoned = match (compose.lease_expires_at, compose.reused_id) {
            (Some(lease), _) => lease < now,
            (None, None) => true,
            (None, Some(leader)) => !Compose::find(conn, leader)?
                .is_some_and(|l| matches!(l.state, ComposeState::Generating | ComposeState::Wait)),
        };
        if !abandoned {
            return Ok(Recovery::Alive);
        }
        let (to, reason, recovery) = if compose.attempts >= max_attempts {
            (
                ComposeState::Failed,
                format!(
                    "The workers generating this compose stopped {} times (killed, crashed or \
                     cut off); giving up",
                    compose.attempts
                ),
                Recovery::GaveUp,
            )
        } else {
            (
                ComposeState::Wait,
                "Requeued: its worker stopped renewing its lease".to_owned(),
                Recovery::Requeued,
            )
        };
        let moved = apply(
            conn,
            id,
            &Transition {
                from: &[ComposeState::Generating],
                to,
                reason: Some(reason),
                held_by: None,
                expired_before: None,
                changes: ComposeChanges {
                    dispatched_at: Some(None),
                    reused_id: Some(None),
                    ..ComposeChanges::default()
                },
            },
            config,
            now,
        )?;
        Ok(if moved.is_some() {
            recovery
        } else {
            Recovery::Alive
        })
    })
}
