//! One compose job, from claim to outcome: the orchestration around [`crate::generate`], and
//! the only place a worker writes compose states.
//!
//! A job is acknowledged only after its outcome is committed. Duplicate deliveries are
//! harmless: the claim (`wait → generating`) succeeds once, and a job for a compose that is no
//! longer waiting is acknowledged and skipped. Each claim has its own token: renewals, the
//! outcome and the compose's tree belong to it alone. A worker that loses its lease stops at
//! the next stage, records nothing and removes only its own staging directory; the tree is put
//! in place in the same transaction that records `done`, under the claim's fence. A transient
//! failure (a service unreachable through its retries, a full disk) puts the compose back in
//! `wait` for the beat to dispatch again, up to `max_attempts` generations; any other failure,
//! a panic included, fails it with its reason.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::config::Config;
use odcs_common::db::lifecycle::{self, ComposeChanges, FencedError, Reuse, Transition};
use odcs_common::db::models::{Compose, Deployment};
use odcs_common::db::view::{compose_json, compose_urls};
use odcs_common::db::{DbConnection, DbError, DbPool};
use odcs_common::spec::ComposeSpec;
use odcs_common::time::{after, now};

use crate::cancel::{Cancel, Cancelled};
use crate::compose::layout::ComposeLayout;
use crate::compose::{publish, ComposeError, ComposeLog};
use crate::durable::WriteError;
use crate::fetch::Fetcher;
use crate::generate::{self, Engine, GenerateError, Generated, Target};
use crate::koji::Koji;
use crate::modules::mbs::Mbs;
use crate::pulp::Pulp;
use crate::repodata::PackageCache;
use crate::source::raw_config::RawConfigServices;
use crate::source::{ComposeRecord, SourceContext, SourceError};

pub use odcs_common::db::lifecycle::DONE_REASON;

/// What became of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The compose is done.
    Done,
    /// The compose failed, with this reason.
    Failed(String),
    /// A transient failure put the compose back in the queue, with this reason.
    Requeued(String),
    /// The compose was not waiting (already claimed, finished or cancelled), or this worker
    /// lost it to another: nothing recorded.
    Skipped,
    /// An identical earlier compose is reused (done at once, or following one still generating).
    Reused(ComposeId),
}

impl JobOutcome {
    /// The outcome as a metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            JobOutcome::Done => "done",
            JobOutcome::Failed(_) => "failed",
            JobOutcome::Requeued(_) => "requeued",
            JobOutcome::Skipped => "skipped",
            JobOutcome::Reused(_) => "reused",
        }
    }
}

/// A worker: its identity and the services it uses.
pub struct Worker {
    /// Names the process and thread slot; each claim adds a token of its own, recorded as the
    /// lease holder.
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
    /// The Module Build Service, when configured.
    pub mbs: Option<Arc<Mbs>>,
    /// The Pulp server, when configured.
    pub pulp: Option<Arc<Pulp>>,
    /// Pungi and the named configurations, for `raw_config` composes.
    pub raw_config: Arc<RawConfigServices>,
    /// This deployment's identity, read from the database once: it is made with the schema
    /// and never changes, and reading it for every compose cost a query each.
    pub deployment: std::sync::OnceLock<Deployment>,
}

/// How a claimed compose ended, before it is recorded.
enum Ending {
    /// Generated, its tree in the claim's staging directory.
    Generated(Box<Generated>),
    /// Reusing an earlier compose (already recorded).
    Reused(ComposeId),
    /// Generation failed.
    Failed(GenerateError),
}

/// One claim of a compose: its token, its lease and its staging directory.
struct Claim {
    /// The lease holder's name, unique to this claim.
    token: String,
    /// Whether the compose may go on.
    cancel: Cancel,
    /// The compose's directories.
    layout: ComposeLayout,
    /// Where this claim builds the tree.
    staging: PathBuf,
}

impl Worker {
    /// The services generation uses, for the compose `record` describes.
    fn engine<'a>(&'a self, cancel: &'a Cancel, record: &'a ClaimRecord<'a>) -> Engine<'a> {
        Engine {
            sources: SourceContext {
                repo_roots: &self.config.workers.repo_source_roots,
                max_metadata_bytes: self.config.workers.max_metadata_bytes,
                fetcher: &self.fetcher,
                koji: self.koji.as_deref(),
                mbs: self.mbs.as_deref(),
                pulp: self.pulp.as_deref(),
                base_module_names: &self.config.policy.base_module_names,
                raw_config: Some(&self.raw_config),
                record: Some(record),
            },
            cache: &self.cache,
            boot_iso_command: &self.config.pungi.boot_iso_command,
            compression: self
                .config
                .storage
                .repodata_compression
                .parse()
                .unwrap_or_default(),
            cancel,
        }
    }

    /// Processes the job for compose `id`. Errors are transient (the database is unreachable):
    /// the job should be retried later; everything else ends in an outcome.
    pub fn process(&self, id: ComposeId) -> Result<JobOutcome, DbError> {
        let token = format!(
            "{}-{}",
            self.id,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let mut conn = self.pool.get()?;
        let Some(compose) = lifecycle::claim(
            &mut conn,
            id,
            &token,
            self.config.workers.lease_seconds,
            &self.config,
            now(),
        )?
        else {
            return Ok(JobOutcome::Skipped);
        };
        let deployment = match self.deployment.get() {
            Some(deployment) => deployment.clone(),
            None => {
                let read = Deployment::current(&mut conn)?;
                self.deployment.get_or_init(|| read).clone()
            }
        };
        drop(conn);
        tracing::info!(compose.id = %id, worker = %token, attempt = compose.attempts, "compose claimed");
        let claimed = std::time::Instant::now();
        let source_type = compose.source_type.name();
        if let (Some(metrics), 1) = (crate::metrics::metrics(), compose.attempts) {
            let waited = (now() - compose.time_submitted).as_seconds_f64().max(0.0);
            metrics.waited(source_type, waited);
        }
        let target_dir = compose
            .target_dir
            .as_deref()
            .map_or_else(|| self.config.storage.target_dir.clone(), PathBuf::from);
        let layout = ComposeLayout::new(&target_dir, id);
        // The directory is this deployment's: only then may the beat ever delete it.
        if let Err(e) = deployment.mark(&layout.top) {
            tracing::warn!(compose.id = %id, error = %e, "cannot mark the compose directory");
        }
        let claim = Claim {
            staging: layout.staging_dir(&token),
            layout,
            cancel: Cancel::new(Duration::from_secs(
                self.config.workers.generate_timeout_seconds,
            )),
            token,
        };

        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let renewer = self.spawn_lease_renewal(id, &claim, stopped);
        let ending = {
            let _current = claim.cancel.enter();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(&compose, &claim)))
                .unwrap_or_else(|panic| {
                    Ok(Ending::Failed(GenerateError::Internal(panic_message(
                        panic.as_ref(),
                    ))))
                })
        };
        if let Some(koji) = &self.koji {
            koji.prune_cache();
        }
        let storage = &self.config.storage;
        self.cache.prune_now_and_then(
            Duration::from_secs(storage.package_cache_max_age_seconds),
            storage.package_cache_max_bytes,
        );
        // Dropping the sender wakes the renewer at once.
        drop(stop);
        let _ = renewer.join();
        let outcome = match ending {
            Err(e) => Err(e),
            Ok(Ending::Reused(old)) => Ok(JobOutcome::Reused(old)),
            Ok(Ending::Failed(GenerateError::Cancelled(Cancelled::LeaseLost))) => {
                tracing::warn!(compose.id = %id, worker = %claim.token, "lease lost: the compose is someone else's now");
                Ok(JobOutcome::Skipped)
            }
            Ok(Ending::Generated(generated)) => self
                .pool
                .get()
                .map_err(DbError::Pool)
                .and_then(|mut conn| self.record_done(&mut conn, &compose, &claim, &generated)),
            Ok(Ending::Failed(error)) => self
                .pool
                .get()
                .map_err(DbError::Pool)
                .and_then(|mut conn| self.record_failure(&mut conn, &compose, &claim, &error)),
        };
        // Whatever happened, this claim's staging is gone (renamed into place when done).
        if claim.staging.exists() {
            let _ = std::fs::remove_dir_all(&claim.staging);
        }
        if let (Some(metrics), Ok(outcome)) = (crate::metrics::metrics(), &outcome) {
            metrics.finished(
                source_type,
                outcome.label(),
                claimed.elapsed().as_secs_f64(),
            );
        }
        outcome
    }

    /// Reads the compose's request, opens and pins its source, reuses an earlier compose with
    /// the same content or generates it; everything that happens is in the compose log.
    fn run(&self, compose: &Compose, claim: &Claim) -> Result<Ending, DbError> {
        let layout = &claim.layout;
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
            layout.name, claim.token, compose.attempts
        ));
        let ending = match compose.spec_in(&self.config.storage.target_dir) {
            Ok(spec) => self.build(compose, &spec, claim, &log)?,
            Err(e) => Ending::Failed(GenerateError::Request(e)),
        };
        match &ending {
            Ending::Generated(_) => log.line("Compose generated successfully"),
            Ending::Reused(old) => log.line(format_args!("Reusing compose {}", old.dir_name())),
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
        claim: &Claim,
        log: &ComposeLog,
    ) -> Result<Ending, DbError> {
        let record = ClaimRecord {
            worker: self,
            compose,
            token: &claim.token,
        };
        let engine = self.engine(&claim.cancel, &record);
        let mut prepared = match generate::prepare(spec, &engine) {
            Ok(prepared) => prepared,
            Err(e) => return Ok(Ending::Failed(e)),
        };
        if spec.allows_reuse() {
            let mut conn = self.pool.get()?;
            // A request pinning resolves (modules to their builds) reuses composes that
            // resolved to the same.
            let pinned = prepared
                .pinned()
                .map(|resolved| spec.with_resolved(&resolved));
            let wanted = pinned.as_ref().unwrap_or(spec);
            for old in Compose::reuse_candidates(&mut conn, compose, wanted, now())? {
                match prepared.unchanged_since(old.koji_event) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(compose.id = %compose.id, error = %e, "cannot check whether an earlier compose can be reused");
                        break;
                    }
                }
                let reused = lifecycle::reuse(
                    &mut conn,
                    compose.id,
                    &claim.token,
                    old.id,
                    compose.lifetime_seconds(),
                    &self.config,
                    now(),
                )?;
                match reused {
                    Reuse::Done(_) | Reuse::Following => {
                        tracing::info!(compose.id = %compose.id, reused.id = %old.id, "compose reuses an earlier one");
                        return Ok(Ending::Reused(old.id));
                    }
                    Reuse::LeaseLost => return Ok(Ending::Failed(Cancelled::LeaseLost.into())),
                    Reuse::Unusable => {}
                }
            }
        }
        let target = Target {
            id: compose.id,
            repo_url: compose_urls(compose, &self.config).repo,
            built_at: chrono::Utc::now(),
            staging: claim.staging.clone(),
        };
        Ok(
            match generate::generate(spec, prepared, &target, &engine, log) {
                Ok(generated) => Ending::Generated(Box::new(generated)),
                Err(e) => Ending::Failed(e),
            },
        )
    }

    /// Puts the claim's tree in place and records `generating → done` (with what the source
    /// resolved), both under the claim's fence: a claim that lost the compose does neither.
    fn record_done(
        &self,
        conn: &mut DbConnection,
        compose: &Compose,
        claim: &Claim,
        generated: &Generated,
    ) -> Result<JobOutcome, DbError> {
        let changes = ComposeChanges {
            koji_event: Some(generated.koji_event),
            pungi_compose_id: Some(generated.pungi_compose_id.clone()),
            pungi_config_dump: generated.config_dump.clone().map(Some),
            ..generated
                .resolved
                .as_ref()
                .map(ComposeChanges::recording)
                .unwrap_or_default()
        };
        let transition = Transition {
            from: &[ComposeState::Generating],
            to: ComposeState::Done,
            reason: Some(generated.reason(DONE_REASON)),
            held_by: Some(&claim.token),
            expired_before: None,
            changes,
        };
        let mut put_in_place = || -> Result<(), String> {
            if claim.staging.exists() {
                publish(&claim.layout, &claim.staging, generated.staged)
                    .map_err(|e| e.to_string())?;
            }
            if let Some(links) = &generated.links {
                links
                    .create()
                    .map_err(|e| format!("cannot link the compose: {e}"))?;
            }
            Ok(())
        };
        match lifecycle::transition_fenced(
            conn,
            compose.id,
            &transition,
            &self.config,
            now(),
            &mut put_in_place,
        ) {
            Ok(Some(_)) => {
                tracing::info!(compose.id = %compose.id, "compose done");
                Ok(JobOutcome::Done)
            }
            Ok(None) => {
                tracing::warn!(compose.id = %compose.id, worker = %claim.token, "outcome not recorded: lease lost");
                Ok(JobOutcome::Skipped)
            }
            Err(FencedError::Before(reason)) => {
                let error = GenerateError::Build(ComposeError::Publish(reason));
                self.record_failure(conn, compose, claim, &error)
            }
            Err(FencedError::Db(e)) => Err(e.into()),
        }
    }

    /// Records a failure: back to `wait` when it is transient and attempts remain, else
    /// `failed`.
    fn record_failure(
        &self,
        conn: &mut DbConnection,
        compose: &Compose,
        claim: &Claim,
        error: &GenerateError,
    ) -> Result<JobOutcome, DbError> {
        let max = self.config.workers.max_attempts;
        if let Some(metrics) = crate::metrics::metrics() {
            metrics.failed(compose.source_type.name(), error.class());
        }
        let told = self.redact(&error.to_string());
        let (to, reason) = if error.is_transient() && compose.attempts < max {
            (
                ComposeState::Wait,
                format!(
                    "Generating failed on attempt {} of {max}, to be tried again: {told}",
                    compose.attempts
                ),
            )
        } else if error.is_transient() {
            (
                ComposeState::Failed,
                format!("{told} (gave up after {} attempts)", compose.attempts),
            )
        } else {
            (ComposeState::Failed, told)
        };
        let recorded = lifecycle::transition(
            conn,
            compose.id,
            &Transition {
                from: &[ComposeState::Generating],
                to,
                reason: Some(reason),
                held_by: Some(&claim.token),
                expired_before: None,
                changes: ComposeChanges {
                    dispatched_at: Some(None),
                    ..ComposeChanges::default()
                },
            },
            &self.config,
            now(),
        )?;
        let Some(recorded) = recorded else {
            tracing::warn!(compose.id = %compose.id, worker = %claim.token, "outcome not recorded: lease lost");
            return Ok(JobOutcome::Skipped);
        };
        tracing::info!(compose.id = %compose.id, compose.state = %to, "compose finished");
        let reason = recorded.state_reason.unwrap_or_default();
        Ok(match to {
            ComposeState::Wait => JobOutcome::Requeued(reason),
            _ => JobOutcome::Failed(reason),
        })
    }

    /// `text` with the server's own paths replaced: the target directory by its public URL
    /// (as the reference shows them), the package cache by its name.
    fn redact(&self, text: &str) -> String {
        let storage = &self.config.storage;
        let url = storage.target_dir_url.trim_end_matches('/');
        let mut out = text.to_owned();
        for (dir, shown) in [
            (&storage.target_dir, url),
            (&storage.package_cache_dir, "<package cache>"),
        ] {
            let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            for form in [absolute.as_path(), dir.as_path()] {
                let form = form.display().to_string();
                if !form.is_empty() {
                    out = out.replace(&form, shown);
                }
            }
        }
        out
    }

    /// Renews the claim's lease every third of its length until `stopped` disconnects; when
    /// the lease is lost, cancels the compose.
    fn spawn_lease_renewal(
        &self,
        id: ComposeId,
        claim: &Claim,
        stopped: std::sync::mpsc::Receiver<()>,
    ) -> std::thread::JoinHandle<()> {
        let pool = self.pool.clone();
        let token = claim.token.clone();
        let cancel = claim.cancel.clone();
        let lease = self.config.workers.lease_seconds;
        std::thread::spawn(move || {
            let step = Duration::from_millis((lease.max(1) as u64 * 1000) / 3);
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(step) {
                let renewed = pool.get().map_err(DbError::Pool).and_then(|mut c| {
                    Ok(lifecycle::renew_lease(
                        &mut c,
                        id,
                        &token,
                        after(now(), lease),
                    )?)
                });
                match renewed {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(compose.id = %id, "lease lost");
                        cancel.lose_lease();
                        return;
                    }
                    Err(e) => tracing::warn!(compose.id = %id, error = %e, "lease not renewed"),
                }
            }
        })
    }
}

/// The compose a claim generates, as sources see it.
struct ClaimRecord<'a> {
    worker: &'a Worker,
    compose: &'a Compose,
    token: &'a str,
}

impl ComposeRecord for ClaimRecord<'_> {
    fn json(&self) -> serde_json::Value {
        serde_json::to_value(compose_json(self.compose, &self.worker.config, false))
            .unwrap_or_default()
    }

    fn config_dump(&self) -> Option<String> {
        self.compose.pungi_config_dump.clone()
    }

    fn claim_pungi_compose_id(&self, id: &str) -> Result<bool, SourceError> {
        let mut conn = self
            .worker
            .pool
            .get()
            .map_err(|e| SourceError::classified(DbError::Pool(e), true))?;
        lifecycle::record_pungi_compose_id(&mut conn, self.compose.id, self.token, id)
            .map_err(|e| SourceError::classified(e, true))
    }
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
