//! One compose job, from claim to outcome: the orchestration around [`crate::generate`], and
//! the only place a worker writes compose states.
//!
//! A job is acknowledged only after its outcome is committed. Duplicate deliveries are
//! harmless: the claim (`wait → generating`) succeeds once, and a job for a compose that is no
//! longer waiting is acknowledged and skipped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use odcs_common::compose::{ComposeFlag, ComposeFlags, ComposeState, SourceType};
use odcs_common::config::Config;
use odcs_common::db::lifecycle::{self, ComposeChanges, Transition};
use odcs_common::db::models::Compose;
use odcs_common::db::view::compose_urls;
use odcs_common::db::{DbError, DbPool};
use odcs_common::time::{after, now};

use crate::compose::layout::ComposeLayout;
use crate::compose::{ComposeLog, ComposeSpec};
use crate::gather::lookaside::Fetcher;
use crate::generate::{
    compression, generate, resolve_koji_event, EngineContext, GatherOptions, GenerateRequest,
    Generated, KojiOptions, ResolvedRequest,
};
use crate::koji::Koji;
use crate::repodata::PackageCache;
use crate::source::koji::{is_koji_source, known_tag, KojiSourceError};

/// The reason a done compose carries, as in the reference.
pub const DONE_REASON: &str = "Compose is generated successfully";

/// What became of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The compose is done.
    Done,
    /// The compose failed, with this reason.
    Failed(String),
    /// The compose was not waiting (already claimed, finished or cancelled): nothing to do.
    Skipped,
    /// An identical earlier compose is reused (done at once, or following one still generating).
    Reused(i32),
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

impl Worker {
    /// The services generation uses.
    fn context(&self) -> EngineContext<'_> {
        EngineContext {
            cache: &self.cache,
            repo_roots: &self.config.repo_source_roots,
            fetcher: &self.fetcher,
            koji: self.koji.as_deref(),
        }
    }

    /// Processes the job for compose `id`. Errors are transient (the database is unreachable):
    /// the job should be retried later; everything else ends in an outcome.
    pub fn process(&self, id: i32) -> Result<JobOutcome, DbError> {
        let mut conn = self.pool.get()?;
        let Some(mut compose) = lifecycle::claim(
            &mut conn,
            id,
            &self.id,
            self.config.lease_seconds,
            &self.config,
            now(),
        )?
        else {
            return Ok(JobOutcome::Skipped);
        };
        tracing::info!(compose.id = id, worker = %self.id, "compose claimed");
        let unresolvable = match self.try_reuse(&mut conn, &mut compose)? {
            Resolution::Reused(outcome) => return Ok(outcome),
            Resolution::Generate => None,
            Resolution::Unresolvable(reason) => Some(reason),
        };
        drop(conn);

        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let renewer = self.spawn_lease_renewal(id, stopped);
        let result = self.run(&compose, unresolvable);
        if let Some(koji) = &self.koji {
            if SourceType::from_code(compose.source_type).is_some_and(is_koji_source) {
                koji.prune_cache();
            }
        }
        // Dropping the sender wakes the renewer at once.
        drop(stop);
        let _ = renewer.join();

        let (to, reason, changes) = match &result {
            Ok(generated) => {
                let resolved = generated.resolved.clone();
                let field = |f: fn(&ResolvedRequest) -> &String| {
                    resolved.as_ref().map(|r| Some(f(r).clone()))
                };
                (
                    ComposeState::Done,
                    generated.reason(DONE_REASON),
                    ComposeChanges {
                        koji_event: Some(generated.koji_event),
                        pungi_compose_id: Some(Some(generated.pungi_compose_id.clone())),
                        arches: field(|r| &r.arches),
                        builds: field(|r| &r.builds),
                        packages: field(|r| &r.packages),
                        sigkeys: field(|r| &r.sigkeys),
                        ..ComposeChanges::default()
                    },
                )
            }
            Err(reason) => (
                ComposeState::Failed,
                reason.clone(),
                ComposeChanges::default(),
            ),
        };
        let mut conn = self.pool.get()?;
        let recorded = lifecycle::transition(
            &mut conn,
            id,
            &Transition {
                from: &[ComposeState::Generating],
                to,
                reason: Some(reason.clone()),
                held_by: Some(&self.id),
                changes,
            },
            &self.config,
            now(),
        )?;
        if recorded.is_none() {
            // The lease was lost (the beat gave the compose to another worker, or it was
            // cancelled); that outcome wins.
            tracing::warn!(compose.id = id, worker = %self.id, "outcome not recorded: lease lost");
            return Ok(JobOutcome::Skipped);
        }
        tracing::info!(compose.id = id, compose.state = %to, "compose finished");
        Ok(match to {
            ComposeState::Done => JobOutcome::Done,
            _ => JobOutcome::Failed(reason),
        })
    }

    /// Resolves the compose's Koji event and, unless `no_reuse`, reuses an identical earlier
    /// compose. A tag compose reuses one whose tag (with inheritance) has not changed since
    /// its event, and is pinned at that event.
    fn try_reuse(
        &self,
        conn: &mut odcs_common::db::DbConnection,
        compose: &mut Compose,
    ) -> Result<Resolution, DbError> {
        let flags = ComposeFlags::from_bits(compose.flags);
        let Some(source_type) = SourceType::from_code(compose.source_type) else {
            return Ok(Resolution::Generate);
        };
        let reuse = !flags.contains(ComposeFlag::NoReuse) && source_type != SourceType::RawConfig;
        if source_type == SourceType::Tag {
            return match self.tag_reuse(conn, compose, reuse)? {
                Ok(Some(old)) => self.reuse(conn, compose, old).map(Resolution::Reused),
                Ok(None) => Ok(Resolution::Generate),
                Err(e) => Ok(Resolution::Unresolvable(e.to_string())),
            };
        }
        if compose.koji_event.is_none() {
            let ctx = self.context();
            // A source that cannot be resolved fails in generation, with its log.
            compose.koji_event = resolve_koji_event(source_type, &compose.source, &ctx)
                .ok()
                .flatten();
        }
        if !reuse {
            return Ok(Resolution::Generate);
        }
        match Compose::reusable_for(conn, compose)? {
            Some(old) => self.reuse(conn, compose, old).map(Resolution::Reused),
            None => Ok(Resolution::Generate),
        }
    }

    /// For a tag compose: an earlier compose of the same request whose tags have not changed
    /// since its event (which `compose` then takes), else `None` with `compose` pinned at the
    /// hub's newest event; an unknown tag or an unreachable hub is the compose's failure (the
    /// hub calls were already retried, generation need not retry them again).
    fn tag_reuse(
        &self,
        conn: &mut odcs_common::db::DbConnection,
        compose: &mut Compose,
        reuse: bool,
    ) -> Result<Result<Option<Compose>, KojiSourceError>, DbError> {
        let Some(koji) = &self.koji else {
            // Generation reports that Koji is not configured.
            return Ok(Ok(None));
        };
        let hub = &koji.hub;
        let tag = match known_tag(hub, &compose.source) {
            Ok(tag) => tag,
            Err(e) => return Ok(Err(e)),
        };
        if reuse {
            let candidates = Compose::reuse_candidates(conn, compose)?;
            let pinned = compose.koji_event;
            let usable = candidates
                .into_iter()
                .filter(|old| match (old.koji_event, pinned) {
                    (Some(old), Some(asked)) => old <= asked,
                    (Some(_), None) => true,
                    (None, _) => false,
                });
            let mut tags = None;
            for old in usable {
                let Some(event) = old.koji_event else {
                    continue;
                };
                if tags.is_none() {
                    tags = hub.inherited_tags(&tag).ok();
                }
                let Some(tags) = &tags else { break };
                match hub.tags_changed_since(event, tags) {
                    Ok(false) => {
                        compose.koji_event = Some(event);
                        return Ok(Ok(Some(old)));
                    }
                    Ok(true) => {}
                    Err(e) => {
                        tracing::warn!(compose.id = compose.id, error = %e, "cannot check tag changes");
                        break;
                    }
                }
            }
        }
        if compose.koji_event.is_none() {
            match hub.last_event() {
                Ok(event) => compose.koji_event = Some(event.id),
                Err(e) => return Ok(Err(e.into())),
            }
        }
        Ok(Ok(None))
    }

    /// Makes `compose` reuse `old`: done at once when `old` is done, else following it.
    fn reuse(
        &self,
        conn: &mut odcs_common::db::DbConnection,
        compose: &Compose,
        old: Compose,
    ) -> Result<JobOutcome, DbError> {
        let now = now();
        if old.state == ComposeState::Done.code() {
            let lifetime = (compose.time_to_expire - compose.time_submitted).num_seconds();
            let expiry = after(now, lifetime).max(old.time_to_expire);
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
                        koji_event: Some(compose.koji_event),
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
                tracing::info!(
                    compose.id = compose.id,
                    reused.id = old.id,
                    "compose reuses a done compose"
                );
            }
            return Ok(JobOutcome::Reused(old.id));
        }
        // The identical compose is still generating: follow it (its outcome becomes ours).
        let followed = lifecycle::follow(conn, compose.id, &self.id, old.id, compose.koji_event)?;
        if followed {
            tracing::info!(
                compose.id = compose.id,
                reused.id = old.id,
                "compose follows a generating compose"
            );
        }
        Ok(JobOutcome::Reused(old.id))
    }

    /// Renews the lease every third of its length until `stopped` disconnects.
    fn spawn_lease_renewal(
        &self,
        id: i32,
        stopped: std::sync::mpsc::Receiver<()>,
    ) -> std::thread::JoinHandle<()> {
        let pool = self.pool.clone();
        let worker = self.id.clone();
        let lease = self.config.lease_seconds;
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
                        tracing::warn!(compose.id = id, "lease lost");
                        return;
                    }
                    Err(e) => tracing::warn!(compose.id = id, error = %e, "lease not renewed"),
                }
            }
        })
    }

    /// Generates the compose (or, when its source could not be resolved, records why in its
    /// log); what was generated, or the failure reason.
    fn run(&self, compose: &Compose, unresolvable: Option<String>) -> Result<Generated, String> {
        let target_dir = compose
            .target_dir
            .as_deref()
            .map_or_else(|| self.config.target_dir.clone(), PathBuf::from);
        let layout = ComposeLayout::new(&target_dir, compose.id);
        let log = ComposeLog::open(&layout.log_file()).map_err(|e| {
            format!(
                "cannot write the compose log {}: {e}",
                layout.log_file().display()
            )
        })?;
        log.line(format_args!(
            "Compose odcs-{} started by {}",
            compose.id, self.id
        ));
        if let Some(reason) = unresolvable {
            log.error(&reason);
            log.sync();
            return Err(reason);
        }
        let source_type = SourceType::from_code(compose.source_type)
            .ok_or_else(|| format!("unknown source type {}", compose.source_type))?;
        let words = |s: &Option<String>| -> Vec<String> {
            s.as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        let packages = words(&compose.packages);
        let request = GenerateRequest {
            id: compose.id,
            source_type,
            source: compose.source.clone(),
            packages: (!packages.is_empty()).then_some(packages),
            gather: gather_options(compose),
            koji: KojiOptions {
                event: compose.koji_event,
                builds: words(&compose.builds),
                inherit: !ComposeFlags::from_bits(compose.flags)
                    .contains(ComposeFlag::NoInheritance),
            },
            spec: ComposeSpec {
                id: compose.id,
                target_dir,
                arches: words(&compose.arches),
                compose_type: compose
                    .compose_type
                    .clone()
                    .unwrap_or_else(|| "test".into()),
                label: compose.label.clone(),
                repo_url: compose_urls(compose, &self.config).repo,
                compression: compression(&self.config.repodata_compression),
                built_at: chrono::Utc::now(),
            },
        };
        let ctx = self.context();
        let result = generate(&request, &ctx, &log).map_err(|e| e.to_string());
        match &result {
            Ok(_) => log.line("Compose generated successfully"),
            Err(reason) => log.error(reason),
        }
        log.sync();
        result
    }
}

/// What happens to a claimed compose before generation.
enum Resolution {
    /// It reuses an earlier compose: nothing to generate.
    Reused(JobOutcome),
    /// It is generated.
    Generate,
    /// Its source could not be resolved (unknown tag, hub unreachable): it fails with this.
    Unresolvable(String),
}

/// The gather options a compose's stored request carries.
fn gather_options(compose: &Compose) -> GatherOptions {
    let flags = ComposeFlags::from_bits(compose.flags);
    let words = |s: &Option<String>| -> Vec<String> {
        s.as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    GatherOptions {
        // Stored space-separated; an empty entry (allowing unsigned packages) is kept.
        sigkeys: compose
            .sigkeys
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| s.split(' ').map(str::to_owned).collect()),
        no_deps: flags.contains(ComposeFlag::NoDeps),
        check_deps: flags.contains(ComposeFlag::CheckDeps),
        lookaside_repos: words(&compose.lookaside_repos),
        multilib_arches: words(&compose.multilib_arches),
        multilib_method: compose.multilib_method.unwrap_or(0),
    }
}
