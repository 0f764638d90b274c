//! Composes through the worker pipeline, the beat job and the outbox, against PostgreSQL and
//! SQLite, with the in-process queue.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::config::Config;
use odcs_common::db::lifecycle::{self, ComposeChanges, Transition};
use odcs_common::db::models::deployment::MARKER_FILE;
use odcs_common::db::models::{Compose, Deployment, NewCompose, OutboxMessage};
use odcs_common::db::schema::messages;
use odcs_common::db::testing::{Store, TestDb};
use odcs_common::db::{migrations, pool, DbConnection, DbPool};
use odcs_common::dispatch::{Dispatcher, LocalQueue};
use odcs_common::request::ComposeRequest;
use odcs_common::time::now;
use odcs_worker::beat::sweep;
use odcs_worker::consumer::run_local;
use odcs_worker::pipeline::{JobOutcome, Worker, DONE_REASON};
use odcs_worker::repodata::PackageCache;
use odcs_worker::services::worker_factory;
use odcs_worker::source::raw_config::RawConfigServices;
use serde_json::{json, Value};

use crate::support::*;

/// A store, a configuration with a repo root holding the fixture, and a worker.
pub struct World {
    pub scratch: Scratch,
    /// Keeps the test database alive as long as the world.
    pub _db: TestDb,
    pub pool: DbPool,
    pub config: Arc<Config>,
    pub repo: PathBuf,
}

impl World {
    /// Publishes compose `id`'s job as the frontend does.
    pub fn dispatch(&self, id: ComposeId) {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let dispatcher = Dispatcher::from_config(&self.config);
        runtime.block_on(odcs_common::dispatch::dispatch(
            &dispatcher,
            &self.config,
            &self.pool,
            id,
        ));
    }

    /// Waits until compose `id` is in `state`, failing the test (naming `what` did not happen)
    /// after `within`, or at once if it reaches `never`.
    pub fn wait_for_state(
        &self,
        id: ComposeId,
        state: ComposeState,
        never: Option<ComposeState>,
        within: Duration,
        what: &str,
    ) {
        let deadline = Instant::now() + within;
        loop {
            let now = self.find(id).state;
            if now == state {
                return;
            }
            assert!(Some(now) != never, "{what}: the compose is {now:?}");
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn new(store: Store) -> World {
        let scratch = Scratch::new("world");
        let repo = scratch.path().join("roots/repo");
        link_tree(&fixture_repo(), &repo);
        let db = TestDb::new(store);
        let config = {
            let mut config = Config::default();
            config.storage.database_url = db.url.clone();
            config.storage.target_dir = scratch.path().join("composes");
            config.storage.target_dir_url = "http://odcs.example.com/composes".into();
            config.workers.repo_source_roots = vec![scratch.path().join("roots")];
            config.storage.package_cache_dir = scratch.path().join("cache");
            config.workers.lease_seconds = 30;
            // The tests' mirrors and hubs listen on loopback; hostile.rs checks the default.
            config.workers.fetch_blocked_networks = Vec::new();
            config
        };
        let pool = pool::build(&config.storage.database_url, 4).expect("pool");
        migrations::run_pending(&mut pool.get().expect("conn")).expect("migrate");
        World {
            scratch,
            _db: db,
            pool,
            config: Arc::new(config),
            repo,
        }
    }

    /// Stores a compose request like the frontend does.
    pub fn submit(&self, body: Value) -> Compose {
        let request = ComposeRequest::from_json(&body)
            .and_then(|r| r.resolve(&self.config))
            .expect("valid request");
        let new = NewCompose::from_spec(&request, "tester", now());
        lifecycle::create(
            &mut self.pool.get().expect("conn"),
            &new,
            &self.config,
            now(),
        )
        .expect("stored")
    }

    /// A repo compose of the fixture that never reuses another.
    pub fn submit_repo(&self) -> Compose {
        self.submit(
            json!({"source": {"type": "repo", "source": self.repo.display().to_string()},
                           "flags": ["no_reuse"]}),
        )
    }

    pub fn worker(&self, id: &str) -> Worker {
        Worker {
            id: id.into(),
            config: self.config.clone(),
            pool: self.pool.clone(),
            cache: Arc::new(PackageCache::open(&self.scratch.path().join("cache")).expect("cache")),
            fetcher: Arc::new(odcs_worker::services::fetcher(&self.config).expect("fetcher")),
            koji: None,
            mbs: None,
            pulp: None,
            raw_config: Arc::new(RawConfigServices::new(&self.config)),
            deployment: Default::default(),
        }
    }

    pub fn find(&self, id: ComposeId) -> Compose {
        Compose::find(&mut self.pool.get().expect("conn"), id)
            .expect("query")
            .expect("compose exists")
    }

    pub fn sql(&self, statement: &str) {
        self.pool
            .get()
            .expect("conn")
            .batch_execute(statement)
            .expect("arrange");
    }

    /// The state names of every state-change message about compose `id`, in order (written
    /// published: these worlds are standalone, with no bus).
    pub fn message_states(&self, id: ComposeId) -> Vec<String> {
        OutboxMessage::after(&mut self.pool.get().expect("conn"), 0, 10_000)
            .expect("history")
            .into_iter()
            .filter(|m| m.compose_id == id)
            .map(|m| {
                let body: Value = serde_json::from_str(&m.body).expect("json");
                assert_schema(&body);
                body["compose"]["state_name"]
                    .as_str()
                    .expect("state")
                    .to_owned()
            })
            .collect()
    }

    pub fn compose_dir(&self, id: ComposeId) -> PathBuf {
        self.config.storage.target_dir.join(id.dir_name())
    }
}

/// Fails unless `body` satisfies the state-change message schema in common/schemas.
pub fn assert_schema(body: &Value) {
    let schema: Value = serde_json::from_str(include_str!(
        "../../../common/schemas/odcs.state.change.json"
    ))
    .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "message violates the schema: {errors:?}\n{body}"
    );
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

macro_rules! both_stores {
    ($name:ident, |$world:ident| $body:block) => {
        mod $name {
            use super::*;

            #[test]
            fn postgres() {
                let $world = World::new(Store::Postgres);
                $body
            }

            #[test]
            fn sqlite() {
                let $world = World::new(Store::Sqlite);
                $body
            }
        }
    };
}
pub(crate) use both_stores;

both_stores!(a_repo_compose_goes_wait_generating_done, |world| {
    let done = r#"odcs_worker_compose_duration_seconds_count{outcome="done",source_type="repo"}"#;
    let waited = r#"odcs_worker_queue_wait_seconds_count{source_type="repo"}"#;
    let looked_up = [
        r#"odcs_worker_cache_lookups_total{cache="package_metadata",result="hit"}"#,
        r#"odcs_worker_cache_lookups_total{cache="package_metadata",result="miss"}"#,
    ];
    let lookups = || looked_up.iter().map(|s| worker_metric(s)).sum::<f64>();
    let before = (worker_metric(done), worker_metric(waited), lookups());
    let compose = world.submit_repo();
    let outcome = world.worker("w1").process(compose.id).expect("processed");
    assert_eq!(outcome, JobOutcome::Done);
    assert!(
        worker_metric(done) > before.0,
        "{}",
        odcs_worker::metrics::render()
    );
    assert!(worker_metric(waited) > before.1);
    assert!(lookups() > before.2, "the package cache was asked");
    let done = world.find(compose.id);
    assert_eq!(done.state, ComposeState::Done);
    // The fixture holds ed without glibc: the compose is done, listing what is missing.
    let reason = done.state_reason.unwrap_or_default();
    assert!(reason.starts_with(DONE_REASON), "{reason}");
    assert!(
        reason.contains("ed-1.14.1-2.module_fd8ca23e.x86_64 requires libc.so.6(GLIBC_2.14)(64bit)"),
        "{reason}"
    );
    assert!(done.time_started.is_some() && done.time_done.is_some());
    assert_eq!(
        done.koji_event,
        Some(1_496_834_159),
        "the source repodata revision"
    );
    assert!(done
        .pungi_compose_id
        .as_deref()
        .is_some_and(|id| id.starts_with(&format!("odcs-{}-1-", compose.id))));
    assert!(done.worker_id.is_none() && done.lease_expires_at.is_none());
    assert!(world
        .compose_dir(compose.id)
        .join("compose/Temporary/x86_64/os/repodata/repomd.xml")
        .exists());
    assert_eq!(
        world.message_states(compose.id),
        ["wait", "generating", "done"]
    );
    // A second delivery of the same job does nothing.
    assert_eq!(
        world.worker("w2").process(compose.id).expect("processed"),
        JobOutcome::Skipped
    );
    assert_eq!(world.message_states(compose.id).len(), 3);
});

both_stores!(a_failing_compose_records_a_reason, |world| {
    let failures = r#"odcs_worker_compose_failures_total{reason="source",source_type="repo"}"#;
    let failed_count =
        r#"odcs_worker_compose_duration_seconds_count{outcome="failed",source_type="repo"}"#;
    let before = (worker_metric(failures), worker_metric(failed_count));
    let compose = world.submit(json!({"source": {"type": "repo", "source": "/etc"}}));
    match world.worker("w1").process(compose.id).expect("processed") {
        JobOutcome::Failed(reason) => {
            assert!(reason.contains("outside the allowed roots"), "{reason}")
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        worker_metric(failures) > before.0,
        "{}",
        odcs_worker::metrics::render()
    );
    assert!(worker_metric(failed_count) > before.1);
    let failed = world.find(compose.id);
    assert_eq!(failed.state, ComposeState::Failed);
    assert_eq!(
        world.message_states(compose.id),
        ["wait", "generating", "failed"]
    );
    let log = std::fs::read_to_string(world.compose_dir(compose.id).join("pungi-stderr.log"))
        .expect("log");
    assert!(log.contains("outside the allowed roots"), "{log}");
    let tag = world.submit(json!({"source": {"type": "tag", "source": "f40"}}));
    match world.worker("w1").process(tag.id).expect("processed") {
        JobOutcome::Failed(reason) => {
            assert!(reason.contains("Koji composes are disabled"), "{reason}")
        }
        other => panic!("expected a failure, got {other:?}"),
    }
});

both_stores!(the_in_process_queue_feeds_two_workers, |world| {
    let queue = LocalQueue::new();
    let dispatcher = Dispatcher::Local(queue.clone());
    let cache = Arc::new(PackageCache::open(&world.scratch.path().join("cache")).expect("cache"));
    let factory = worker_factory(world.config.clone(), world.pool.clone(), cache).expect("factory");
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let threads = run_local(queue, 2, factory, stop);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ids: Vec<ComposeId> = (0..4).map(|_| world.submit_repo().id).collect();
    for id in &ids {
        runtime.block_on(odcs_common::dispatch::dispatch(
            &dispatcher,
            &world.config,
            &world.pool,
            *id,
        ));
    }
    for id in &ids {
        wait_until("composes are done", || {
            world.find(*id).state == ComposeState::Done
        });
        assert_eq!(world.message_states(*id), ["wait", "generating", "done"]);
        assert!(world.find(*id).dispatched_at.is_some());
    }
    stop_tx.send(true).expect("stop");
    for thread in threads {
        thread.join().expect("worker thread");
    }
});

both_stores!(the_beat_expires_composes_and_their_directories, |world| {
    let expired = world.submit_repo();
    world.worker("w").process(expired.id).expect("done");
    let deleted = world.submit_repo();
    world.worker("w").process(deleted.id).expect("done");
    let kept = world.submit_repo();
    world.worker("w").process(kept.id).expect("done");
    let past = "'2000-01-01 00:00:00'";
    world.sql(&format!(
        "UPDATE composes SET time_to_expire = {past} WHERE id IN ({}, {})",
        expired.id, deleted.id
    ));
    world.sql(&format!(
        "UPDATE composes SET removed_by = 'boss' WHERE id = {}",
        deleted.id
    ));
    let swept = sweep(&mut world.pool.get().expect("conn"), &world.config, now()).expect("sweep");
    assert_eq!(swept.removed, [expired.id, deleted.id]);
    let removed = world.find(expired.id);
    assert_eq!(removed.state, ComposeState::Removed);
    assert_eq!(removed.state_reason.as_deref(), Some("Compose is expired."));
    assert!(removed.time_removed.is_some());
    assert_eq!(
        world.find(deleted.id).state_reason.as_deref(),
        Some("Removed by boss.")
    );
    assert!(!world.compose_dir(expired.id).exists());
    assert!(world.compose_dir(kept.id).exists());
    assert_eq!(
        world.message_states(expired.id).last().map(String::as_str),
        Some("removed")
    );
    let again = sweep(&mut world.pool.get().expect("conn"), &world.config, now()).expect("sweep");
    assert!(again.removed.is_empty(), "nothing is removed twice");
});

both_stores!(one_sweep_clears_expiries_batch_after_batch, |world| {
    // More than two batches of expired composes, and one reused by a live compose in the
    // middle: one sweep removes every other one, each with its message, and keeps that one.
    let n = 2_500;
    world.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO composes (owner, source_type, source, state, results, flags, \
                               time_to_expire, time_submitted) \
         SELECT 'me', 1, 't', 2 + 2 * (i % 2), 1, 0, '2000-01-01 00:00:00', \
                '1999-12-31 00:00:00' FROM n"
    ));
    let live = world.submit(json!({"source": {"type": "tag", "source": "t"}}));
    world.sql(&format!(
        "UPDATE composes SET state = 2, reused_id = 1200 WHERE id = {}",
        live.id
    ));
    let swept = sweep(&mut world.pool.get().expect("conn"), &world.config, now()).expect("sweep");
    assert_eq!(swept.removed.len(), n - 1);
    assert!(!swept.removed.contains(&ComposeId(1200)), "in use");
    assert_eq!(world.find(ComposeId(1200)).state, ComposeState::Done);
    assert_eq!(world.find(ComposeId(2_499)).state, ComposeState::Removed);
    assert_eq!(
        world.message_states(ComposeId(1)),
        ["removed"],
        "each removal has its message"
    );
    let again = sweep(&mut world.pool.get().expect("conn"), &world.config, now()).expect("sweep");
    assert!(again.removed.is_empty());
});

both_stores!(a_compose_reused_by_a_live_one_is_not_removed, |world| {
    let reused = world.submit_repo();
    world.worker("w").process(reused.id).expect("done");
    let reusing = world.submit_repo();
    world.sql(&format!(
        "UPDATE composes SET state = 2, reused_id = {} WHERE id = {}",
        reused.id, reusing.id
    ));
    world.sql(&format!(
        "UPDATE composes SET time_to_expire = '2000-01-01 00:00:00' WHERE id = {}",
        reused.id
    ));
    let swept = sweep(&mut world.pool.get().expect("conn"), &world.config, now()).expect("sweep");
    assert!(swept.removed.is_empty());
    assert!(world.compose_dir(reused.id).exists());
});

both_stores!(the_beat_requeues_composes_of_dead_workers, |world| {
    let compose = world.submit_repo();
    // A worker claims it and dies: its lease runs out.
    let claimed = lifecycle::claim(
        &mut world.pool.get().expect("conn"),
        compose.id,
        "dead",
        30,
        &world.config,
        now() - TimeDelta::seconds(60),
    )
    .expect("claim")
    .expect("claimed");
    assert_eq!(claimed.state, ComposeState::Generating);
    let swept = sweep(&mut world.pool.get().expect("conn"), &world.config, now()).expect("sweep");
    assert_eq!(swept.requeued, [compose.id]);
    assert!(swept.to_dispatch.contains(&compose.id));
    assert_eq!(world.find(compose.id).state, ComposeState::Wait);
    assert_eq!(
        world
            .worker("alive")
            .process(compose.id)
            .expect("processed"),
        JobOutcome::Done
    );
    // The dead worker's late outcome is refused.
    let late = lifecycle::transition(
        &mut world.pool.get().expect("conn"),
        compose.id,
        &Transition {
            from: &[ComposeState::Generating],
            to: ComposeState::Failed,
            reason: Some("late".into()),
            held_by: Some("dead"),
            expired_before: None,
            changes: ComposeChanges::default(),
        },
        &world.config,
        now(),
    )
    .expect("query");
    assert!(late.is_none());
    assert_eq!(
        world.message_states(compose.id),
        ["wait", "generating", "wait", "generating", "done"]
    );
});

both_stores!(
    the_beat_fails_composes_waiting_too_long_and_redispatches_the_rest,
    |world| {
        let old = world.submit_repo();
        let fresh = world.submit_repo();
        world.sql(&format!(
            "UPDATE composes SET time_submitted = '2000-01-01 00:00:00' WHERE id = {}",
            old.id
        ));
        let swept =
            sweep(&mut world.pool.get().expect("conn"), &world.config, now()).expect("sweep");
        assert_eq!(swept.timed_out, [old.id]);
        assert_eq!(
            swept.to_dispatch,
            [fresh.id],
            "never dispatched: dispatch it"
        );
        let failed = world.find(old.id);
        assert!(failed
            .state_reason
            .as_deref()
            .is_some_and(|r| r.contains("waited for a worker")));
    }
);

both_stores!(the_beat_deletes_left_over_directories, |world| {
    let deployment = Deployment::current(&mut world.pool.get().expect("conn")).expect("deployment");
    let stray = world.config.storage.target_dir.join("odcs-99999");
    deployment.mark(&stray).expect("marked as ours");
    let other = world.config.storage.target_dir.join("not-a-compose");
    std::fs::create_dir_all(&other).expect("dir");
    // Not created by this deployment: another one sharing the directory, or a database
    // recreated since.
    let unmarked = world.config.storage.target_dir.join("odcs-99998");
    std::fs::create_dir_all(&unmarked).expect("dir");
    let foreign = world.config.storage.target_dir.join("odcs-99997");
    std::fs::create_dir_all(&foreign).expect("dir");
    std::fs::write(foreign.join(MARKER_FILE), "another-deployment\n").expect("marker");
    let swept = sweep(&mut world.pool.get().expect("conn"), &world.config, now()).expect("sweep");
    assert_eq!(swept.deleted_dirs, std::slice::from_ref(&stray));
    assert!(!stray.exists());
    assert!(other.exists(), "only compose directories are touched");
    assert!(
        unmarked.exists() && foreign.exists(),
        "only this deployment's"
    );
});

#[test]
fn concurrent_beats_remove_each_compose_once() {
    let world = World::new(Store::Postgres);
    let ids: Vec<ComposeId> = (0..20)
        .map(|_| {
            let c = world.submit(json!({"source": {"type": "tag", "source": "t"}}));
            world.sql(&format!(
                "UPDATE composes SET state = 2, time_to_expire = '2000-01-01 00:00:00' WHERE id = {}",
                c.id
            ));
            c.id
        })
        .collect();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let pool = world.pool.clone();
            let config = world.config.clone();
            std::thread::spawn(move || {
                let mut removed = Vec::new();
                for _ in 0..5 {
                    let s = sweep(&mut pool.get().expect("conn"), &config, now()).expect("sweep");
                    removed.extend(s.removed);
                }
                removed
            })
        })
        .collect();
    let mut removed: Vec<ComposeId> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("beat"))
        .collect();
    removed.sort_unstable();
    assert_eq!(removed, ids, "every compose removed exactly once");
    for id in ids {
        assert_eq!(world.message_states(id), ["wait", "removed"]);
    }
}

both_stores!(an_identical_request_reuses_a_done_compose, |world| {
    let body = json!({"source": {"type": "repo", "source": world.repo.display().to_string(), "packages": ["ed"]}});
    let first = world.submit(body.clone());
    assert_eq!(
        world.worker("w").process(first.id).expect("processed"),
        JobOutcome::Done
    );
    let second = world.submit(body.clone());
    assert_eq!(
        world.worker("w").process(second.id).expect("processed"),
        JobOutcome::Reused(first.id)
    );
    let reused = world.find(second.id);
    assert_eq!(reused.state, ComposeState::Done);
    assert_eq!(reused.reused_id, Some(first.id));
    assert_eq!(reused.koji_event, world.find(first.id).koji_event);
    assert_eq!(
        reused.pungi_compose_id,
        world.find(first.id).pungi_compose_id
    );
    assert!(
        !world.compose_dir(second.id).join("compose").exists(),
        "no second copy"
    );
    assert!(world.find(first.id).time_to_expire >= reused.time_to_expire);
    assert_eq!(
        world.message_states(second.id),
        ["wait", "generating", "done"]
    );

    // Other packages, or no_reuse, or a changed source: generated anew.
    let other = world.submit(json!({"source": {"type": "repo", "source": world.repo.display().to_string(), "packages": ["module-build-macros"]}}));
    assert_eq!(
        world.worker("w").process(other.id).expect("processed"),
        JobOutcome::Done
    );
    let mut flagged = body.clone();
    flagged["flags"] = json!(["no_reuse"]);
    let fresh = world.submit(flagged);
    assert_eq!(
        world.worker("w").process(fresh.id).expect("processed"),
        JobOutcome::Done
    );
    assert_eq!(world.find(fresh.id).reused_id, None);
});

both_stores!(
    a_compose_follows_an_identical_one_still_generating,
    |world| {
        let body = json!({"source": {"type": "repo", "source": world.repo.display().to_string()}});
        let first = world.submit(body.clone());
        // A worker holds the first compose, generating it.
        lifecycle::claim(
            &mut world.pool.get().expect("conn"),
            first.id,
            "busy",
            60,
            &world.config,
            now(),
        )
        .expect("claim")
        .expect("claimed");
        world.sql(&format!(
            "UPDATE composes SET koji_event = 1496834159 WHERE id = {}",
            first.id
        ));
        let second = world.submit(body);
        assert_eq!(
            world.worker("w").process(second.id).expect("processed"),
            JobOutcome::Reused(first.id)
        );
        let following = world.find(second.id);
        assert_eq!(following.state, ComposeState::Generating);
        assert_eq!(following.reused_id, Some(first.id));
        assert!(
            following.lease_expires_at.is_none(),
            "the beat leaves it to the compose it follows"
        );
        // The first compose finishes; the second follows it.
        lifecycle::transition(
            &mut world.pool.get().expect("conn"),
            first.id,
            &Transition {
                from: &[ComposeState::Generating],
                to: ComposeState::Done,
                reason: Some(DONE_REASON.into()),
                held_by: Some("busy"),
                expired_before: None,
                changes: ComposeChanges::default(),
            },
            &world.config,
            now(),
        )
        .expect("transition")
        .expect("done");
        assert_eq!(world.find(second.id).state, ComposeState::Done);
        assert_eq!(
            world.message_states(second.id),
            ["wait", "generating", "done"]
        );
    }
);

both_stores!(
    published_messages_stay_as_history_until_their_retention_ends,
    |world| {
        let compose = world.submit_repo();
        world.worker("w1").process(compose.id).expect("processed");
        let all = |world: &World| -> Vec<OutboxMessage> {
            let mut conn = world.pool.get().expect("conn");
            let conn: &mut DbConnection = &mut conn;
            messages::table
                .order(messages::id.asc())
                .select(OutboxMessage::as_select())
                .load(conn)
                .expect("messages")
        };
        let written = all(&world);
        assert_eq!(written.len(), 3);
        assert!(
            written.iter().all(|m| m.published_at.is_some()),
            "standalone, messages are written published"
        );
        let ids: Vec<i64> = written.iter().map(|m| m.id).collect();
        // As a deployment with a bus writes them: waiting for the relay.
        world.sql("UPDATE messages SET published_at = NULL");

        // The relay marks what it published; the outbox then only holds the rest.
        let published_at = now() - chrono::TimeDelta::days(40);
        let marked = OutboxMessage::mark_published(
            &mut world.pool.get().expect("conn"),
            &ids[..2],
            published_at,
        )
        .expect("mark");
        assert_eq!(marked, 2);
        let outbox =
            OutboxMessage::oldest(&mut world.pool.get().expect("conn"), 100).expect("outbox");
        assert_eq!(outbox.iter().map(|m| m.id).collect::<Vec<_>>(), [ids[2]]);
        assert_eq!(
            OutboxMessage::pending(&mut world.pool.get().expect("conn")).expect("pending"),
            1
        );
        assert_eq!(all(&world).len(), 3, "published messages stay as history");

        // The beat deletes messages published longer ago than the retention, and nothing else.
        let days = |n: i64| n * 24 * 60 * 60;
        let mut config: Config = (*world.config).clone();
        config.workers.message_retention_seconds = days(60);
        let swept = sweep(&mut world.pool.get().expect("conn"), &config, now()).expect("sweep");
        assert_eq!(
            swept.pruned_messages, 0,
            "published 40 days ago, kept 60: {swept:?}"
        );
        config.workers.message_retention_seconds = days(30);
        OutboxMessage::mark_published(&mut world.pool.get().expect("conn"), &ids[1..2], now())
            .expect("mark");
        let swept = sweep(&mut world.pool.get().expect("conn"), &config, now()).expect("sweep");
        assert_eq!(swept.pruned_messages, 1, "{swept:?}");
        let left: Vec<i64> = all(&world).iter().map(|m| m.id).collect();
        assert_eq!(
            left,
            ids[1..],
            "the recent and the unpublished message stay"
        );
    }
);

both_stores!(
    a_worker_beats_while_it_runs_and_the_beat_forgets_workers_gone_a_day,
    |world| {
        use odcs_common::db::models::WorkerHeartbeat;
        use odcs_worker::heartbeat;
        let known = |world: &World| {
            WorkerHeartbeat::known(&mut world.pool.get().expect("conn")).expect("workers")
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let queues = vec!["pungi_composes".to_owned(), "other".to_owned()];
        let beating = runtime.spawn(heartbeat::run(world.pool.clone(), queues, 4, stopped));
        let deadline = Instant::now() + Duration::from_secs(10);
        let mine = loop {
            runtime.block_on(async { tokio::time::sleep(Duration::from_millis(20)).await });
            if let Some(row) = known(&world).pop() {
                break row;
            }
            assert!(Instant::now() < deadline, "no heartbeat within 10 s");
        };
        assert_eq!(mine.name, heartbeat::process_name());
        assert_eq!(
            mine.queue_names().collect::<Vec<_>>(),
            ["pungi_composes", "other"]
        );
        assert_eq!(mine.concurrency, 4);
        assert!(mine.is_alive(now()));
        assert!(!mine.is_alive(now() + TimeDelta::minutes(2)));

        // A worker that stops cleanly takes its row with it.
        stop.send_replace(true);
        runtime.block_on(beating).expect("stopped");
        assert!(known(&world).is_empty());

        // One killed long ago is forgotten by the beat; one quiet for an hour is kept, offline.
        let gone = |name: &str, hours: i64| WorkerHeartbeat {
            name: name.into(),
            queues: "pungi_composes".into(),
            concurrency: 1,
            started_at: now() - TimeDelta::hours(hours + 1),
            seen_at: now() - TimeDelta::hours(hours),
        };
        let mut conn = world.pool.get().expect("conn");
        gone("old-1", 25).record(&mut conn).expect("beat");
        gone("quiet-2", 1).record(&mut conn).expect("beat");
        let swept = sweep(&mut conn, &world.config, now()).expect("sweep");
        assert_eq!(swept.forgotten_workers, 1, "{swept:?}");
        let names: Vec<String> = known(&world).into_iter().map(|w| w.name).collect();
        assert_eq!(names, ["quiet-2"]);
    }
);

#[test]
fn the_worker_metrics_are_served_over_http() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let listen = listener.local_addr().expect("addr");
    drop(listener);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // A series with nothing added, so the answer has one whatever ran before.
    odcs_worker::metrics::metrics()
        .expect("registered")
        .downloaded("metadata", 0);
    let serving = runtime.spawn(odcs_worker::metrics::serve(listen, stopped));
    let get = |path: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match reqwest::blocking::get(format!("http://{listen}{path}")) {
                Ok(reply) => return (reply.status().as_u16(), reply.text().unwrap_or_default()),
                Err(e) => assert!(Instant::now() < deadline, "metrics not served: {e}"),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let (status, text) = get("/metrics");
    assert_eq!(status, 200);
    assert!(
        text.contains("# TYPE odcs_worker_downloaded_bytes_total counter"),
        "{text}"
    );
    assert_eq!(get("/other").0, 404);
    stop.send_replace(true);
    runtime.block_on(serving).expect("joined").expect("served");
}
