//! The beat job: what has to happen on a schedule rather than on request.
//!
//! Each sweep removes expired composes (state, files and the links naming them; never the
//! compose a `latest-*` link points to), deletes left-over directories,
//! hands composes whose lease ran out back to the queue, fails composes waiting too long,
//! deletes state-change messages past `message_retention_seconds`, and returns the waiting
//! composes whose job should be dispatched again. Every state change is a
//! conditional transition, so several beats running at once never do anything twice; on
//! PostgreSQL an advisory lock also keeps them from sweeping at the same moment.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{NaiveDateTime, TimeDelta};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use odcs_common::compose::{ComposeId, ComposeState, ComposeType, SourceType};
use odcs_common::config::Config;
use odcs_common::db::lifecycle::{self, ComposeChanges, Recovery, Transition};
use odcs_common::db::models::worker::FORGET_AFTER;
use odcs_common::db::models::{Compose, Deployment, OutboxMessage, WorkerHeartbeat};
use odcs_common::db::schema::composes;
use odcs_common::db::{DbConnection, DbError};
use rayon::prelude::*;

use crate::pungi::links::ComposeLinks;

/// Most composes one sweep handles per kind of work besides expiry; more wait for the next
/// sweep.
pub const BATCH: i64 = 500;

/// Expired composes removed per transaction.
const EXPIRY_BATCH: i64 = 1000;

/// Most expired composes one sweep removes; more wait for the next sweep.
pub const MAX_EXPIRIES: usize = 50_000;

/// Most old state-change messages one sweep deletes; more wait for the next sweep.
pub const MAX_PRUNED_MESSAGES: i64 = 10_000;

/// A lock id all beats agree on.
const BEAT_LOCK: i64 = 0x0DC5_0002;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Composes moved to `removed`.
    pub removed: Vec<ComposeId>,
    /// Directories deleted (of removed or unknown composes).
    pub deleted_dirs: Vec<PathBuf>,
    /// Composes whose lease ran out, handed back to `wait`.
    pub requeued: Vec<ComposeId>,
    /// Composes failed for waiting too long.
    pub timed_out: Vec<ComposeId>,
    /// Composes failed because their workers stopped `max_attempts` times.
    pub gave_up: Vec<ComposeId>,
    /// Waiting composes whose job should be dispatched (again).
    pub to_dispatch: Vec<ComposeId>,
    /// State-change messages deleted for being published longer than
    /// `message_retention_seconds` ago.
    pub pruned_messages: usize,
    /// Worker processes forgotten for not being seen for a day.
    pub forgotten_workers: usize,
    /// Whether another beat held the lock, so nothing was done.
    pub skipped: bool,
}

/// Runs one sweep at `now`.
pub fn sweep(
    conn: &mut DbConnection,
    config: &Config,
    now: NaiveDateTime,
) -> Result<Sweep, DbError> {
    let locked = match conn {
        DbConnection::Postgresql(pg) => {
            #[derive(QueryableByName)]
            struct Locked {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                locked: bool,
            }
            let row: Locked = diesel::sql_query(format!(
                "SELECT pg_try_advisory_lock({BEAT_LOCK}) AS locked"
            ))
            .get_result(pg)?;
            row.locked
        }
        DbConnection::Sqlite(_) => true,
    };
    if !locked {
        return Ok(Sweep {
            skipped: true,
            ..Sweep::default()
        });
    }
    let result = sweep_locked(conn, config, now);
    if let DbConnection::Postgresql(pg) = conn {
        pg.batch_execute(&format!("SELECT pg_advisory_unlock({BEAT_LOCK})"))?;
    }
    result
}

fn ids_where(
    conn: &mut DbConnection,
    query: composes::BoxedQuery<'_, odcs_common::db::MultiBackend>,
) -> Result<Vec<ComposeId>, DbError> {
    Ok(query.select(composes::id).limit(BATCH).load(conn)?)
}

fn sweep_locked(
    conn: &mut DbConnection,
    config: &Config,
    now: NaiveDateTime,
) -> Result<Sweep, DbError> {
    let mut sweep = Sweep::default();
    let deployment = Deployment::current(conn)?;
    let finished = [ComposeState::Done, ComposeState::Failed];

    // Expired composes, unless a live compose still uses their files: batch after batch, so
    // a sweep clears a whole day's expiries (up to MAX_EXPIRIES), longest expired first; those
    // kept (named by a link, still in use) are not asked for again.
    let mut kept: Vec<ComposeId> = Vec::new();
    while sweep.removed.len() < MAX_EXPIRIES {
        let batch: Vec<Compose> = composes::table
            .filter(composes::state.eq_any(finished))
            .filter(composes::time_to_expire.lt(now))
            .filter(composes::id.ne_all(&kept))
            .order((composes::time_to_expire.asc(), composes::id.asc()))
            .limit(EXPIRY_BATCH)
            .select(composes::all_columns)
            .load(conn)?;
        if batch.is_empty() {
            break;
        }
        let mut links = HashMap::new();
        let mut ids = Vec::with_capacity(batch.len());
        for compose in &batch {
            match links_of(compose, config) {
                // The compose a `latest-*` link names stays while the link does.
                Some(named) if named.is_latest() => {
                    kept.push(compose.id);
                    continue;
                }
                Some(named) => {
                    links.insert(compose.id, named);
                }
                None => {}
            }
            ids.push(compose.id);
        }
        let removed = lifecycle::expire_many(conn, &ids, config, now)?;
        let gone: HashSet<ComposeId> = removed.iter().map(|c| c.id).collect();
        kept.extend(ids.iter().filter(|id| !gone.contains(id)));
        // A reusing compose has no directory of its own.
        let owning: Vec<&Compose> = removed.iter().filter(|c| c.reused_id.is_none()).collect();
        let deleted: Vec<Option<PathBuf>> = owning
            .par_iter()
            .map(|compose| {
                let dir = compose_dir(compose, config);
                if let Some(named) = links.get(&compose.id) {
                    named.remove();
                }
                (deployment.owns(compose.id, &dir) && remove_dir(&dir)).then_some(dir)
            })
            .collect();
        sweep.deleted_dirs.extend(deleted.into_iter().flatten());
        sweep.removed.extend(removed.iter().map(|c| c.id));
        if batch.len() < EXPIRY_BATCH as usize {
            break;
        }
    }

    // Generating composes nobody works on: their worker stopped renewing its lease, or they
    // follow a compose that is no longer generating. Back to the queue, a bounded number of
    // times. (Two queries rather than one with OR, so each is a range of a pending-rows index.)
    let generating = || composes::table.filter(composes::state.eq(ComposeState::Generating));
    let mut abandoned = ids_where(
        conn,
        generating()
            .filter(composes::lease_expires_at.lt(now))
            .order((composes::lease_expires_at.asc(), composes::id.asc()))
            .into_boxed(),
    )?;
    abandoned.extend(ids_where(
        conn,
        generating()
            .filter(composes::lease_expires_at.is_null())
            .order(composes::id.asc())
            .into_boxed(),
    )?);
    abandoned.truncate(BATCH as usize);
    for id in abandoned {
        match lifecycle::recover(conn, id, config.workers.max_attempts, config, now)? {
            Recovery::Requeued => sweep.requeued.push(id),
            Recovery::GaveUp => sweep.gave_up.push(id),
            Recovery::Alive => {}
        }
    }

    // Composes waiting too long fail; the others are dispatched again if their job may be lost.
    let too_old = now - TimeDelta::seconds(config.workers.max_wait_seconds);
    let timed_out = ids_where(
        conn,
        composes::table
            .filter(composes::state.eq(ComposeState::Wait))
            .filter(composes::time_submitted.lt(too_old))
            .order((composes::time_submitted.asc(), composes::id.asc()))
            .into_boxed(),
    )?;
    for id in timed_out {
        let failed = lifecycle::transition(
            conn,
            id,
            &Transition {
                from: &[ComposeState::Wait],
                to: ComposeState::Failed,
                reason: Some(format!(
                    "Compose waited for a worker for more than {} seconds",
                    config.workers.max_wait_seconds
                )),
                held_by: None,
                expired_before: None,
                changes: ComposeChanges::default(),
            },
            config,
            now,
        )?;
        if failed.is_some() {
            sweep.timed_out.push(id);
        }
    }
    let redispatch_before = now - TimeDelta::seconds(config.workers.redispatch_after_seconds);
    sweep.to_dispatch = ids_where(
        conn,
        composes::table
            .filter(composes::state.eq(ComposeState::Wait))
            .filter(
                composes::dispatched_at
                    .is_null()
                    .or(composes::dispatched_at.lt(redispatch_before)),
            )
            .order((composes::time_submitted.asc(), composes::id.asc()))
            .into_boxed(),
    )?;

    let forget_before = now - TimeDelta::seconds(config.workers.message_retention_seconds);
    sweep.pruned_messages = OutboxMessage::prune(conn, forget_before, MAX_PRUNED_MESSAGES)?;
    sweep.forgotten_workers = WorkerHeartbeat::forget_before(conn, now - FORGET_AFTER)?;

    sweep
        .deleted_dirs
        .extend(remove_leftovers(conn, config, &deployment)?);
    Ok(sweep)
}

/// The directory of `compose` (`odcs-{id}` under its target directory).
pub fn compose_dir(compose: &Compose, config: &Config) -> PathBuf {
    let base = compose
        .target_dir
        .as_deref()
        .map_or_else(|| config.storage.target_dir.clone(), PathBuf::from);
    base.join(compose.id.dir_name())
}

/// The links naming `compose`, a `raw_config` compose Pungi gave an id.
fn links_of(compose: &Compose, config: &Config) -> Option<ComposeLinks> {
    if compose.source_type != SourceType::RawConfig {
        return None;
    }
    let compose_type: ComposeType = compose.compose_type.as_deref()?.parse().ok()?;
    let base = compose_dir(compose, config);
    Some(ComposeLinks::new(
        base.parent()?,
        &compose.id.dir_name(),
        compose_type,
        compose.pungi_compose_id.as_deref()?,
        compose.label.as_deref(),
    ))
}

fn remove_dir(dir: &Path) -> bool {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove compose directory");
            false
        }
    }
}

/// Deletes `odcs-{id}` directories in the target directories whose compose is removed or
/// unknown, when this deployment created them (another deployment's, or a store's since
/// recreated, are left alone).
fn remove_leftovers(
    conn: &mut DbConnection,
    config: &Config,
    deployment: &Deployment,
) -> Result<Vec<PathBuf>, DbError> {
    let mut deleted = Vec::new();
    let dirs = std::iter::once(config.storage.target_dir.clone())
        .chain(config.storage.extra_target_dirs.values().cloned());
    for base in dirs {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(ComposeId::from_dir_name) else {
                continue;
            };
            let state: Option<ComposeState> = composes::table
                .find(id)
                .select(composes::state)
                .first(conn)
                .optional()?;
            let orphan = match state {
                None => true,
                Some(s) => s == ComposeState::Removed,
            };
            if orphan && deployment.created(&entry.path()) && remove_dir(&entry.path()) {
                deleted.push(entry.path());
            }
        }
    }
    Ok(deleted)
}
