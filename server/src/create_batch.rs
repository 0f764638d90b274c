//! Group commit of compose creates.
//!
//! Every create is a transaction (the compose and its first state-change message), and under
//! load most of its cost is the commit: a round trip, and on PostgreSQL a WAL flush, on SQLite
//! the single writer's lock and a sync. Requests arriving together are therefore stored
//! together: each hands its compose to a writer, which takes everything queued meanwhile and
//! stores it in one transaction. A lone request is stored at once, as before; a batch that
//! fails is stored again one compose at a time, so one request's failure is never another's.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use diesel::result::DatabaseErrorKind;
use diesel::result::Error::DatabaseError;
use odcs_common::config::Config;
use odcs_common::db::lifecycle;
use odcs_common::db::models::{Compose, IdempotencyClaim, NewCompose};
use odcs_common::db::DbPool;
use tokio::sync::oneshot;

use crate::error::ApiError;

/// Most composes stored in one transaction.
const MAX_BATCH: usize = 64;

/// Writer threads: one gathers the next batch while another commits.
const WRITERS: usize = 2;

/// What became of a create.
#[derive(Debug)]
pub enum Created {
    /// The compose as stored.
    Stored(Box<Compose>),
    /// Nothing was stored: a create with the same owner and this `Idempotency-Key` was stored
    /// first (concurrently), and its compose is the answer.
    KeyTaken(IdempotencyClaim),
}

/// A create waiting for its batch.
struct Pending {
    new: NewCompose,
    stored: oneshot::Sender<Result<Created, ApiError>>,
}

/// Where handlers send the composes to store. The writers are threads of their own (diesel is
/// blocking), so they serve every HTTP worker's runtime; they stop when the last handle is
/// dropped.
#[derive(Clone)]
pub struct CreateBatcher {
    queue: Sender<Pending>,
}

impl CreateBatcher {
    /// Starts the writers, storing into `pool`.
    pub fn start(pool: DbPool, config: Arc<Config>) -> std::io::Result<CreateBatcher> {
        let (queue, rx) = mpsc::channel();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..WRITERS {
            let (pool, config, rx) = (pool.clone(), config.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("create-writer-{n}"))
                .spawn(move || {
                    while let Some(batch) = next_batch(&rx) {
                        store(&pool, &config, batch);
                    }
                })?;
        }
        Ok(CreateBatcher { queue })
    }

    /// Stores `new` (in `wait`, with its first state-change message and its idempotency key)
    /// and returns the row.
    pub async fn create(&self, new: NewCompose) -> Result<Created, ApiError> {
        let (stored, answer) = oneshot::channel();
        self.queue
            .send(Pending { new, stored })
            .map_err(|_| ApiError::internal("the create writers stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("a create writer stopped"))?
    }
}

/// Waits for one create, then takes those queued behind it (up to [`MAX_BATCH`]); `None` once
/// every sender is gone.
fn next_batch(rx: &Mutex<Receiver<Pending>>) -> Option<Vec<Pending>> {
    let rx = rx.lock().ok()?;
    let first = rx.recv().ok()?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(more) => batch.push(more),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Stores `batch` in one transaction and answers each request; if that fails, stores each on
/// its own on the same connection. Without a connection every request is answered so.
fn store(pool: &DbPool, config: &Config, batch: Vec<Pending>) {
    let (news, answers): (Vec<NewCompose>, Vec<_>) =
        batch.into_iter().map(|p| (p.new, p.stored)).unzip();
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(e) => {
            tracing::error!(error = %e, composes = news.len(), "database unavailable");
            for answer in answers {
                let _ = answer.send(Err(ApiError::Unavailable));
            }
            return;
        }
    };
    match lifecycle::create_many(&mut conn, &news, config, odcs_common::time::now()) {
        Ok(rows) if rows.len() == answers.len() => {
            conn.mark_healthy();
            for (answer, row) in answers.into_iter().zip(rows) {
                let _ = answer.send(Ok(Created::Stored(Box::new(row))));
            }
        }
        _ => {
            for (new, answer) in news.iter().zip(answers) {
                let stored = lifecycle::create(&mut conn, new, config, odcs_common::time::now());
                let alone = match (stored, &new.idempotency) {
                    (Ok(row), _) => Ok(Created::Stored(Box::new(row))),
                    (Err(DatabaseError(DatabaseErrorKind::UniqueViolation, _)), Some(claim)) => {
                        Ok(Created::KeyTaken(claim.clone()))
                    }
                    (Err(e), _) => Err(ApiError::from(e)),
                };
                let _ = answer.send(alone);
            }
        }
    }
}
