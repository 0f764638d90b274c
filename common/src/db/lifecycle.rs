//! State transitions of composes, each with its state-change message written to the outbox in
//! the same transaction, so no transition is ever without its message (and no message without
//! its transition), whatever crashes.

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
    pub time_to_expire: Option<NaiveDateTime>,
    pub time_started: Option<Option<NaiveDateTime>>,
    pub time_done: Option<Option<NaiveDateTime>>,
    pub time_removed: Option<Option<NaiveDateTime>>,
    pub koji_event: Option<Option<i64>>,
    pub pungi_compose_id: Option<Option<String>>,
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
    }
}

/// Stores a new compose (in `wait`) with its first state-change message.
pub fn create(
    conn: &mut DbConnection,
    new: &NewCompose,
    config: &Config,
    now: NaiveDateTime,
) -> QueryResult<Compose> {
    write_transaction(conn, |conn| {
        let compose = new.insert(conn)?;
        message_for(&compose, config, now).insert(conn)?;
        Ok(compose)
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
    let Some(current) = Compose::find(conn, id)? else {
        return Ok(None);
    };
    let from = t.from;
    if !from.contains(&current.state) {
        return Ok(None);
    }
    let mut changes = t.changes.clone();
    changes.state = Some(t.to);
    changes.state_reason = Some(t.reason.clone());
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
    let target = composes::table
        .filter(composes::id.eq(id))
        .filter(composes::state.eq_any(from));
    let updated = match t.held_by {
        Some(worker) => diesel::update(target.filter(composes::worker_id.eq(worker)))
            .set(&changes)
            .execute(conn)?,
        None => diesel::update(target).set(&changes).execute(conn)?,
    };
    if updated != 1 {
        return Ok(None);
    }
    let Some(compose) = Compose::find(conn, id)? else {
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
            changes: ComposeChanges {
                worker_id: Some(Some(worker.to_owned())),
                lease_expires_at: Some(Some(after(now, lease_seconds))),
                attempts: Some(current.attempts.saturating_add(1)),
                ..ComposeChanges::default()
            },
        };
        apply(conn, id, &claim, config, now)
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

/// Records that compose `id`'s job was handed to the queue at `now`.
pub fn mark_dispatched(
    conn: &mut DbConnection,
    id: ComposeId,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(composes::table.filter(composes::id.eq(id)))
        .set(composes::dispatched_at.eq(Some(now)))
        .execute(conn)
        .map(|_| ())
}

/// Makes `worker`'s generating compose `id` follow `reused`, an identical compose still
/// generating: it records the reuse and gives up its lease (so the beat leaves it alone); when
/// `reused` reaches an outcome, so does `id`. False if `worker` no longer holds `id`.
pub fn follow(
    conn: &mut DbConnection,
    id: ComposeId,
    worker: &str,
    reused: ComposeId,
    koji_event: Option<i64>,
) -> QueryResult<bool> {
    let updated = diesel::update(
        composes::table
            .filter(composes::id.eq(id))
            .filter(composes::state.eq(ComposeState::Generating))
            .filter(composes::worker_id.eq(worker)),
    )
    .set((
        composes::reused_id.eq(Some(reused)),
        composes::koji_event.eq(koji_event),
        composes::worker_id.eq(None::<String>),
        composes::lease_expires_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}
