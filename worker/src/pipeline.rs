//! One compose job, from claim to outcome: the orchestration around [`crate::generate`], and
//! the only place a worker writes compose states.
//!
//! A job is acknowledged only after its outcome is committed. Duplicate deliveries are
//! harmless: the claim (`wait → generating`) succeeds once, and a job for a compose that is no
//! longer waiting is acknowledged and skipped. A transient failure (a service unreachable
//! through its retries, a full disk) puts the compose back in `wait` for the beat to dispatch
//! again, up to `max_attempts` generations; any other failure fails it with its reason.

use std::sync::Arc;
use std::time::Duration;

use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::config::Config;
use odcs_common::db::lifecycle::{self, ComposeChanges, Transition};
use odcs_common::db::models::Compose;
use odcs_common::db::view::compose_urls;
use odcs_common::db::{DbConnection, DbError, DbPool};
use odcs_common::spec::ComposeSpec;
use odcs_common::time::{after, now};

use crate::compose::layout::ComposeLayout;
use crate::compose::ComposeLog;
use crate::durable::WriteError;
use crate::fetch::Fetcher;
use crate::generate::{self, Engine, GenerateError, Generated, Target};
use crate::koji::Koji;
use crate::repodata::PackageCache;
use crate::source::SourceContext;

/// The reason a done compose carries, as in the reference.
pub const DONE_REASON: &str = "Compose is generated successfully";

/// What became of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The compose is done.
    Done,
    /// The compose failed, with this reason.
    Failed(String),
    /// A transient failure put the compose back in the queue, with this reason.
    Requeued(String),
    /// The compose was not waiting (already claimed, finished or cancelled): nothing to do.
    Skipped,
    /// An identical earlier compose is reused (done at once, or following one still generating).
    Reused(ComposeId),
}

/// A worker: its identity and the services it uses.
pub struct Worker {
    /// Unique per process and thread slot, recorded as the lease holder.
    pub id: String,
    /// Configuration.
    pub config: Arc<Config>,
    /// The compose store.
    pub pool: DbPool,
    /// The package-metadata cache.
    pub cache: Arc<PackageCache>,
    /// Reads lookaside repositories and other remote files.
    pub fetcher: Arc<Fetcher>,
    /// The Koji hub and package storage, when configured.
    pub koji: Option<Arc<Koji>>,
}

/// How a claimed compose ended, before it is recorded.
enum Ending {
    /// Generated.
    Generated(Generated),
    /// An earlier compose has its content: reuse it.
    Reuse(Box<Compose>),
    /// Generation failed.
    Failed(GenerateError),
}

impl Worker {
    /// The services generation uses.
    fn engine(&self) -> Engine<'_> {
        Engine {
            sources: SourceContext {
                repo_roots: &self.config.workers.repo_source_roots,
                fetcher: &self.fetcher,
                koji: self.koji.as_deref(),
            },
            cache: &self.cache,
            compression: self
                .config
                .storage
                .repodata_compression
                .parse()
                .unwrap_or_default(),
        }
    }

    /// Processes the job for compose `id`. Errors are transient (the database is unreachable):
    /// the job should be retried later; everything else ends in an outcome.
    pub fn process(&self, id: ComposeId) -> Result<JobOutcome, DbError> {
        let mut conn = self.pool.get()?;
        let Some(compose) = lifecycle::claim(
            &mut conn,
            id,
            &self.id,
            self.config.workers.lease_seconds,
            &self.config,
            now(),
        )?
        else {
            return Ok(JobOutcome::Skipped);
        };
        drop(conn);
        tracing::info!(compose.id = %id, worker = %self.id, attempt = compose.attempts, "compose claimed");

        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let renewer = self.spawn_lease_renewal(id, stopped);
        let ending = self.run(&compose);
        if let Some(koji) = &self.koji {
            koji.prune_cache();
        }
        // Dropping the sender wakes the renewer at once.
        drop(stop);
        let _ = renewer.join();
        let mut conn = self.pool.get()?;
        match ending? {
            Ending::Reuse(old) => self.reuse(&mut conn, &compose, *old),
            Ending::Generated(generated) => self.record_done(&mut conn, &compose, &generated),
            Ending::Failed(error) => self.record_failure(&mut conn, &compose, &error),
        }
    }

    /// Reads the compose's request, opens and pins its source, reuses an earlier compose with
    /// the same content or generates it; everything that happens is in the compose log.
    fn run(&self, compose: &Compose) -> Result<Ending, DbError> {
        let target_dir = &self.config.storage.target_dir;
        let spec = compose.spec_in(target_dir);
        let layout_dir = spec.as_ref().map_or(target_dir, |s| &s.target_dir);
        let layout = ComposeLayout::new(layout_dir, compose.id);
        let log = match ComposeLog::open(&layout.log_file()) {
            Ok(log) => log,
            Err(source) => {
                return Ok(Ending::Failed(GenerateError::Log(WriteError {
                    path: layout.log_file(),
                    source,
                })))
            }
        };
        log.line(format_args!(
            "Compose {} started by {} (attempt {})",
            layout.name, self.id, compose.attempts
        ));
        let ending = match spec {
            Ok(spec) => self.build(compose, &spec, &log)?,
            Err(e) => Ending::Failed(GenerateError::Request(e)),
        };
        match &ending {
            Ending::Generated(_) => log.line("Compose generated successfully"),
            Ending::Reuse(old) => log.line(format_args!("Reusing compose {}", old.id.dir_name())),
            Ending::Failed(e) => log.error(e),
        }
        log.sync();
        Ok(ending)
    }

    /// The stages: prepare the source, look for a compose to reuse, generate.
    fn build(
        &self,
        compose: &Compose,
        spec: &ComposeSpec,
        log: &ComposeLog,
    ) -> Result<Ending, DbError> {
        let engine = self.engine();
        let mut prepared = match generate::prepare(spec, &engine) {
            Ok(prepared) => prepared,
            Err(e) => return Ok(Ending::Failed(e)),
        };
        if spec.allows_reuse() {
            let mut conn = self.pool.get()?;
            for old in Compose::reuse_candidates(&mut conn, compose, spec)? {
                match prepared.unchanged_since(old.koji_event) {
                    Ok(true) => return Ok(Ending::Reuse(Box::new(old))),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(compose.id = %compose.id, error = %e, "cannot check whether an earlier compose can be reused");
                        break;
                    }
                }
            }
        }
        let target = Target {
            id: compose.id,
            repo_url: compose_urls(compose, &self.config).repo,
            built_at: chrono::Utc::now(),
        };
        Ok(
            match generate::generate(spec, prepared, &target, &engine, log) {
                Ok(generated) => Ending::Generated(generated),
                Err(e) => Ending::Failed(e),
            },
        )
    }

    /// Records `generating → done`, with what the source resolved.
    fn record_done(
        &self,
        conn: &mut DbConnection,
        compose: &Compose,
        generated: &Generated,
    ) -> Result<JobOutcome, DbError> {
        let changes = ComposeChanges {
            koji_event: Some(generated.koji_event),
            pungi_compose_id: Some(Some(generated.pungi_compose_id.clone())),
            ..generated
                .resolved
                .as_ref()
                .map(ComposeChanges::recording)
                .unwrap_or_default()
        };
        let reason = generated.reason(DONE_REASON);
        self.record(conn, compose.id, ComposeState::Done, reason, changes)
            .map(|recorded| recorded.unwrap_or(JobOutcome::Done))
    }

    /// Records a failure: back to `wait` when it is transient and attempts remain, else
    /// `failed`.
    fn record_failure(
        &self,
        conn: &mut DbConnection,
        compose: &Compose,
        error: &GenerateError,
    ) -> Result<JobOutcome, DbError> {
        let max = self.config.workers.max_attempts;
        if error.is_transient() && compose.attempts < max {
            let reason = format!(
                "Generating failed on attempt {} of {max}, to be tried again: {error}",
                compose.attempts
            );
            let changes = ComposeChanges {
                dispatched_at: Some(None),
                ..ComposeChanges::default()
            };
            return self
                .record(
                    conn,
                    compose.id,
                    ComposeState::Wait,
                    reason.clone(),
                    changes,
                )
                .map(|recorded| recorded.unwrap_or(JobOutcome::Requeued(reason)));
        }
        let reason = if error.is_transient() {
            format!("{error} (gave up after {} attempts)", compose.attempts)
        } else {
            error.to_string()
        };
        self.record(
            conn,
            compose.id,
            ComposeState::Failed,
            reason.clone(),
            ComposeChanges::default(),
        )
        .map(|recorded| recorded.unwrap_or(JobOutcome::Failed(reason)))
    }

    /// Moves the compose this worker holds out of `generating`; `Some(Skipped)` when the lease
    /// was lost (the beat gave it to another worker, or it was cancelled): that outcome wins.
    fn record(
        &self,
        conn: &mut DbConnection,
        id: ComposeId,
        to: ComposeState,
        reason: String,
        changes: ComposeChanges,
    ) -> Result<Option<JobOutcome>, DbError> {
        let recorded = lifecycle::transition(
            conn,
            id,
            &Transition {
                from: &[ComposeState::Generating],
                to,
                reason: Some(reason),
                held_by: Some(&self.id),
                changes,
            },
            &self.config,
            now(),
        )?;
        if recorded.is_none() {
            tracing::warn!(compose.id = %id, worker = %self.id, "outcome not recorded: lease lost");
            return Ok(Some(JobOutcome::Skipped));
        }
        tracing::info!(compose.id = %id, compose.state = %to, "compose finished");
        Ok(None)
    }

    /// Makes `compose` reuse `old`: done at once when `old` is done, else following it. The
    /// compose is recorded at `old`'s point in time, which has its content.
    fn reuse(
        &self,
        conn: &mut DbConnection,
        compose: &Compose,
        old: Compose,
    ) -> Result<JobOutcome, DbError> {
        let now = now();
        if old.state == ComposeState::Done {
            let expiry = after(now, compose.lifetime_seconds()).max(old.time_to_expire);
            let done = lifecycle::transition(
                conn,
                compose.id,
                &Transition {
                    from: &[ComposeState::Generating],
                    to: ComposeState::Done,
                    reason: Some(DONE_REASON.to_owned()),
                    held_by: Some(&self.id),
                    changes: ComposeChanges {
                        reused_id: Some(Some(old.id)),
                        koji_event: Some(old.koji_event),
                        pungi_compose_id: Some(old.pungi_compose_id.clone()),
                        time_to_expire: Some(expiry),
                        ..ComposeChanges::default()
                    },
                },
                &self.config,
                now,
            )?;
            if done.is_some() {
                Compose::extend_expiry(conn, &[old.id], expiry)?;
                tracing::info!(compose.id = %compose.id, reused.id = %old.id, "compose reuses a done compose");
            }
            return Ok(JobOutcome::Reused(old.id));
        }
        // The identical compose is still generating: follow it (its outcome becomes ours).
        if lifecycle::follow(conn, compose.id, &self.id, old.id, old.koji_event)? {
            tracing::info!(compose.id = %compose.id, reused.id = %old.id, "compose follows a generating compose");
        }
        Ok(JobOutcome::Reused(old.id))
    }

    /// Renews the lease every third of its length until `stopped` disconnects.
    fn spawn_lease_renewal(
        &self,
        id: ComposeId,
        stopped: std::sync::mpsc::Receiver<()>,
    ) -> std::thread::JoinHandle<()> {
        let pool = self.pool.clone();
        let worker = self.id.clone();
        let lease = self.config.workers.lease_seconds;
        std::thread::spawn(move || {
            let step = Duration::from_millis((lease.max(1) as u64 * 1000) / 3);
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(step) {
                let renewed = pool.get().map_err(DbError::Pool).and_then(|mut c| {
                    Ok(lifecycle::renew_lease(
                        &mut c,
                        id,
                        &worker,
                        after(now(), lease),
                    )?)
                });
                match renewed {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(compose.id = %id, "lease lost");
                        return;
                    }
                    Err(e) => tracing::warn!(compose.id = %id, error = %e, "lease not renewed"),
                }
            }
        })
    }
}
