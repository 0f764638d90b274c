//! The relay: publishes the outbox's state-change messages to the broker, oldest first, each
//! confirmed before it is marked published, so every message is delivered at least once and
//! in order per compose (consumers drop duplicates by message id). Published messages stay as
//! the composes' state history until the beat prunes them. It also empties the job outbox:
//! composes stored but never handed to a queue (the broker was away when they were created)
//! are dispatched as soon as the broker takes jobs again.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use odcs_common::config::Config;
use odcs_common::db::models::{Compose, OutboxMessage};
use odcs_common::db::{DbConnection, DbError, DbPool};
use odcs_common::dispatch::{dispatch, Dispatcher, DISPATCH_TIMEOUT};
use odcs_common::messaging::{OutgoingMessage, StateChanged, Subjects};
use odcs_common::time::now;

use crate::publisher::Publisher;

/// Messages fetched per round.
const BATCH: i64 = 200;

/// A lock id all relays agree on: one relay publishes at a time, which keeps the order.
const RELAY_LOCK: i64 = 0x0DC5_0003;

/// How long the relay rests when the outbox is empty or the broker is away.
pub const IDLE: Duration = Duration::from_millis(200);

/// How long a new compose's own dispatch (by the frontend) is given before the relay takes it.
const DISPATCH_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// Jobs dispatched per round.
const JOB_BATCH: i64 = 50;

/// The longest the relay goes between two looks at the job outbox while it finds nothing
/// there. A look reads past every waiting compose (whose jobs were handed over, nearly all of
/// them), 60 ms over a backlog of 200,000: looking every [`IDLE`] would keep the database
/// busy for nothing. A compose whose dispatch failed is still found within this and
/// [`DISPATCH_GRACE`] of its creation.
const MAX_JOB_LOOK_INTERVAL: Duration = Duration::from_secs(5);

/// When the relay looks at the job outbox next: every [`IDLE`] while it finds jobs there,
/// twice as long after each look that finds none, up to [`MAX_JOB_LOOK_INTERVAL`].
struct JobOutboxPace {
    next: Instant,
    interval: Duration,
}

impl JobOutboxPace {
    fn new() -> JobOutboxPace {
        JobOutboxPace {
            next: Instant::now(),
            interval: IDLE,
        }
    }

    fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    fn looked(&mut self, found: usize) {
        self.interval = if found > 0 {
            IDLE
        } else {
            (self.interval * 2).min(MAX_JOB_LOOK_INTERVAL)
        };
        self.next = Instant::now() + self.interval;
    }
}

fn take_lock(conn: &mut DbConnection) -> QueryResult<bool> {
    match conn {
        DbConnection::Postgresql(pg) => {
            #[derive(QueryableByName)]
            struct Locked {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                locked: bool,
            }
            let row: Locked = diesel::sql_query(format!(
                "SELECT pg_try_advisory_lock({RELAY_LOCK}) AS locked"
            ))
            .get_result(pg)?;
            Ok(row.locked)
        }
        DbConnection::Sqlite(_) => Ok(true),
    }
}

async fn blocking<T: Send + 'static>(
    pool: &DbPool,
    work: impl FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
) -> Result<T, DbError> {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || -> Result<T, DbError> {
        let mut conn = pool.get()?;
        Ok(work(&mut conn)?)
    })
    .await
    .map_err(|e| DbError::Task(e.to_string()))?
}

/// Publishes outbox messages, and dispatches jobs never dispatched, until `stop` resolves.
/// Without a bus (standalone mode with the default backend) messages are written as published
/// (and any left unpublished, say from before the bus was removed, are marked so here), so
/// the outbox stays empty.
pub async fn run(
    config: &Config,
    pool: DbPool,
    dispatcher: &Dispatcher,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    // The advisory lock is per session: hold one connection for the relay's life.
    let lock_pool = pool.clone();
    let mut lock_conn = loop {
        if *stop.borrow() {
            return;
        }
        let attempt = {
            let lock_pool = lock_pool.clone();
            tokio::task::spawn_blocking(move || -> Result<Option<_>, DbError> {
                let mut conn = lock_pool.get()?;
                Ok(take_lock(&mut conn)?.then_some(conn))
            })
            .await
        };
        match attempt {
            Ok(Ok(Some(conn))) => break conn,
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "relay cannot reach the database"),
            Err(e) => tracing::warn!(error = %e, "relay lock task failed"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let _keep = &mut lock_conn;
    let mut link: Option<Publisher> = None;
    let mut jobs = JobOutboxPace::new();
    while !*stop.borrow() {
        if jobs.due() {
            let found = dispatch_pending(config, &pool, dispatcher).await;
            jobs.looked(found);
        }
        let batch = match blocking(&pool, |c| OutboxMessage::oldest(c, BATCH)).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "relay cannot read the outbox");
                tokio::time::sleep(IDLE).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let published = if !config.messaging.publishes() {
            batch.iter().map(|m| m.id).collect()
        } else {
            publish(config, &mut link, &batch).await
        };
        if published.is_empty() {
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let marking =
            move |c: &mut DbConnection| OutboxMessage::mark_published(c, &published, now());
        if let Err(e) = blocking(&pool, marking).await {
            // They will be published again: at least once, never lost.
            tracing::warn!(error = %e, "relay cannot mark messages published");
        }
    }
}

/// Dispatches the jobs of composes stored but never dispatched, stopping at the first that
/// does not go through (the broker is still away); returns how many it found.
async fn dispatch_pending(config: &Config, pool: &DbPool, dispatcher: &Dispatcher) -> usize {
    let before = now() - DISPATCH_GRACE;
    let pending = match blocking(pool, move |c| Compose::undispatched(c, before, JOB_BATCH)).await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::warn!(error = %e, "relay cannot read the job outbox");
            return 0;
        }
    };
    let found = pending.len();
    for id in pending {
        dispatch(dispatcher, config, pool, id).await;
        let recorded = blocking(pool, move |c| {
            Ok(Compose::find(c, id)?.is_none_or(|c| c.dispatched_at.is_some()))
        })
        .await;
        if !recorded.unwrap_or(false) {
            break;
        }
    }
    found
}

/// Publishes `batch` in order, stopping at the first failure; returns the published ids.
async fn publish(
    config: &Config,
    link: &mut Option<Publisher>,
    batch: &[OutboxMessage],
) -> Vec<i64> {
    if link.as_ref().is_none_or(|publisher| !publisher.is_open()) {
        if let Some(stale) = link.take() {
            stale.close().await;
        }
        match tokio::time::timeout(DISPATCH_TIMEOUT, Publisher::connect(&config.messaging)).await {
            Ok(Ok(publisher)) => *link = Some(publisher),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "relay cannot reach the broker");
                return Vec::new();
            }
            Err(_) => {
                tracing::warn!("relay cannot reach the broker: no answer in time");
                return Vec::new();
            }
        }
    }
    let Some(publisher) = link.as_mut() else {
        return Vec::new();
    };
    let mut done = Vec::with_capacity(batch.len());
    for message in batch {
        let outgoing = OutgoingMessage {
            message_id: &message.message_id,
            topic: &message.topic,
            body: &message.body,
            sent_at: chrono::Utc::now().to_rfc3339(),
            subjects: serde_json::from_str::<StateChanged>(&message.body)
                .map(|body| Subjects::of(&body.compose))
                .unwrap_or_default(),
        };
        let published = tokio::time::timeout(
            DISPATCH_TIMEOUT,
            publisher.publish(&config.messaging, &outgoing),
        )
        .await;
        match published {
            Ok(Ok(())) => done.push(message.id),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "relay cannot publish; will retry");
                *link = None;
                break;
            }
            Err(_) => {
                tracing::warn!("relay cannot publish: the broker did not confirm in time");
                *link = None;
                break;
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_outbox_is_looked_at_less_often_while_it_is_empty() {
        let mut pace = JobOutboxPace::new();
        assert!(pace.due(), "the first look is at once");
        let mut intervals = Vec::new();
        for _ in 0..8 {
            pace.looked(0);
            intervals.push(pace.interval);
        }
        assert_eq!(intervals[0], IDLE * 2);
        assert!(intervals.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(intervals.last(), Some(&MAX_JOB_LOOK_INTERVAL));
        assert!(!pace.due());
        pace.looked(3);
        assert_eq!(
            pace.interval, IDLE,
            "a look that finds jobs brings the pace back"
        );
    }
}
