//! Races between workers, the beat and users, driven deterministically (or with a paused
//! process): a compose is never stuck, never built twice, never removed while renewed, and
//! never reuses what an admin deleted.

use std::process::Command;
use std::time::{Duration, Instant};

use odcs_common::compose::{ComposeState, SourceType};
use odcs_common::db::lifecycle::{self, ComposeChanges, Reuse, Transition};
use odcs_common::db::models::Compose;
use odcs_common::db::testing::Store;
use odcs_common::time::now;
use odcs_worker::beat::sweep;
use odcs_worker::compose::layout::is_staging_dir;
use odcs_worker::pipeline::{JobOutcome, DONE_REASON};
use serde_json::json;

use crate::amqp::{spawn, spawn_with, terminate};
use crate::lifecycle::{both_stores, World};

/// Runs `sweep` once.
fn beat(world: &World) -> odcs_worker::beat::Sweep {
    sweep(&mut world.pool.get().expect("conn"), &world.config, now()).expect("sweep")
}

fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal}");
}

/// The staging directories left in a compose's directory.
fn staging_dirs(world: &World, id: odcs_common::compose::ComposeId) -> Vec<String> {
    std::fs::read_dir(world.compose_dir(id))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| is_staging_dir(name))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_lease_taken_over_from_a_paused_worker_gives_one_outcome_and_one_tree() {
    let Some(corpus) = std::env::var_os("ODCS_TEST_CORPUS") else {
        eprintln!("ODCS_TEST_CORPUS not set; skipping");
        return;
    };
    let mut world = World::new(Store::Postgres);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    // Enough packages that A is paused mid-compose, few enough that B finishes soon.
    let big = world.scratch.path().join("roots/big");
    std::fs::create_dir_all(&big).expect("dir");
    let rpms = walkdir::WalkDir::new(std::path::Path::new(&corpus).join("os"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".rpm"))
        .take(40);
    for rpm in rpms {
        std::fs::hard_link(rpm.path(), big.join(rpm.file_name())).expect("link");
    }
    world.config = std::sync::Arc::new({
        let mut config = (*world.config).clone();
        config.messaging.amqp_url = std::env::var("ODCS_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
        config.messaging.default_queue = format!("odcs-test-{tag}");
        config.messaging.queue_routes = Default::default();
        config.workers.lease_seconds = 5;
        config
    });
    let compose =
        world.submit(json!({"source": {"type": "repo", "source": big.display().to_string()}}));

    // Worker A claims the compose and is paused in the middle of it. It has one slot, so the
    // broker hands it no other job to hold while paused.
    let paused = spawn_with(&world, &["consume"], &[("ODCS_WORKER_CONCURRENCY", "1")]);
    world.dispatch(compose.id);
    world.wait_for_state(
        compose.id,
        ComposeState::Generating,
        None,
        Duration::from_secs(60),
        "worker A never claimed the compose",
    );
    signal(&paused, "STOP");

    // Its lease runs out; the beat hands the compose to worker B, which finishes it.
    std::thread::sleep(Duration::from_secs(6));
    let swept = beat(&world);
    assert_eq!(swept.requeued, [compose.id]);
    let other = spawn(&world, &["consume"]);
    world.dispatch(compose.id);
    world.wait_for_state(
        compose.id,
        ComposeState::Done,
        Some(ComposeState::Failed),
        Duration::from_secs(180),
        "worker B did not finish the compose",
    );
    let done = world.find(compose.id);
    let tree = || {
        use std::os::unix::fs::MetadataExt;
        let dir = world.compose_dir(compose.id).join("compose");
        let info = dir.join("metadata/composeinfo.json");
        (
            std::fs::metadata(&dir).map(|m| m.ino()).ok(),
            std::fs::metadata(&info)
                .map(|m| (m.ino(), m.mtime_nsec()))
                .ok(),
        )
    };
    let published = tree();

    // A wakes up: it notices it lost the compose and writes nothing.
    signal(&paused, "CONT");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !staging_dirs(&world, compose.id).is_empty() {
        assert!(
            Instant::now() < deadline,
            "worker A left {:?}",
            staging_dirs(&world, compose.id)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        world.message_states(compose.id),
        ["wait", "generating", "wait", "generating", "done"],
        "one outcome"
    );
    let after = world.find(compose.id);
    assert_eq!(after.state, ComposeState::Done);
    assert_eq!(tree(), published, "the published tree was not touched by A");
    assert_eq!(after.pungi_compose_id, done.pungi_compose_id);
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            world
                .compose_dir(compose.id)
                .join("compose/metadata/composeinfo.json"),
        )
        .expect("composeinfo"),
    )
    .expect("json");
    assert_eq!(
        info["payload"]["compose"]["id"].as_str(),
        done.pungi_compose_id.as_deref(),
        "the tree is the recorded outcome's"
    );
    terminate(paused);
    terminate(other);
}

both_stores!(a_follower_never_attaches_to_a_leader_that_ended, |world| {
    let body = json!({"source": {"type": "repo", "source": world.repo.display().to_string()}});
    let leader = world.submit(body.clone());
    let follower = world.submit(body);
    let mut conn = world.pool.get().expect("conn");
    for (id, holder) in [(leader.id, "L"), (follower.id, "F")] {
        lifecycle::claim(&mut conn, id, holder, 60, &world.config, now())
            .expect("claim")
            .expect("claimed");
    }
    // The leader fails between the follower's lookup and its attaching.
    lifecycle::transition(
        &mut conn,
        leader.id,
        &Transition {
            from: &[ComposeState::Generating],
            to: ComposeState::Failed,
            reason: Some("boom".into()),
            held_by: Some("L"),
            expired_before: None,
            changes: ComposeChanges::default(),
        },
        &world.config,
        now(),
    )
    .expect("transition")
    .expect("failed");
    let reused = lifecycle::reuse(
        &mut conn,
        follower.id,
        "F",
        leader.id,
        60,
        &world.config,
        now(),
    )
    .expect("reuse");
    assert_eq!(reused, Reuse::Unusable);
    let still = world.find(follower.id);
    assert_eq!(still.state, ComposeState::Generating);
    assert_eq!(
        still.worker_id.as_deref(),
        Some("F"),
        "the follower keeps its lease"
    );
    assert_eq!(still.reused_id, None);

    // A follower orphaned some other way (its leader's row changed under it) is recovered.
    world.sql(&format!(
        "UPDATE composes SET worker_id = NULL, lease_expires_at = NULL, reused_id = {} WHERE id = {}",
        leader.id, follower.id
    ));
    let swept = beat(&world);
    assert_eq!(swept.requeued, [follower.id]);
    let requeued = world.find(follower.id);
    assert_eq!(requeued.state, ComposeState::Wait);
    assert_eq!(requeued.reused_id, None);
    assert_eq!(
        world.worker("w").process(follower.id).expect("processed"),
        JobOutcome::Done
    );
});

both_stores!(a_follower_of_a_done_leader_is_done_at_once, |world| {
    let body = json!({"source": {"type": "repo", "source": world.repo.display().to_string()}});
    let leader = world.submit(body.clone());
    assert_eq!(
        world.worker("w").process(leader.id).expect("processed"),
        JobOutcome::Done
    );
    let follower = world.submit(body);
    let mut conn = world.pool.get().expect("conn");
    lifecycle::claim(&mut conn, follower.id, "F", 60, &world.config, now())
        .expect("claim")
        .expect("claimed");
    match lifecycle::reuse(
        &mut conn,
        follower.id,
        "F",
        leader.id,
        60,
        &world.config,
        now(),
    )
    .expect("reuse")
    {
        Reuse::Done(done) => {
            assert_eq!(done.state, ComposeState::Done);
            assert_eq!(done.reused_id, Some(leader.id));
            assert_eq!(done.state_reason.as_deref(), Some(DONE_REASON));
        }
        other => panic!("expected done, got {other:?}"),
    }
});

both_stores!(a_renewal_during_an_expiry_sweep_wins, |world| {
    let compose = world.submit_repo();
    assert_eq!(
        world.worker("w").process(compose.id).expect("processed"),
        JobOutcome::Done
    );
    let past = now() - chrono::TimeDelta::seconds(10);
    world.sql(&format!(
        "UPDATE composes SET time_to_expire = '{}' WHERE id = {}",
        past.format("%Y-%m-%d %H:%M:%S"),
        compose.id
    ));
    // The sweep found it expired; a renewal extends it before the sweep removes it.
    let mut conn = world.pool.get().expect("conn");
    Compose::extend_expiry(
        &mut conn,
        &[compose.id],
        now() + chrono::TimeDelta::hours(1),
    )
    .expect("renewed");
    let removed = lifecycle::expire(&mut conn, compose.id, &world.config, now()).expect("expire");
    assert!(removed.is_none(), "the renewal wins");
    assert_eq!(world.find(compose.id).state, ComposeState::Done);
    assert!(world.compose_dir(compose.id).join("compose").exists());
});

both_stores!(a_compose_an_admin_deleted_is_never_reused, |world| {
    let body = json!({"source": {"type": "repo", "source": world.repo.display().to_string()}});
    let first = world.submit(body.clone());
    assert_eq!(
        world.worker("w").process(first.id).expect("processed"),
        JobOutcome::Done
    );
    assert!(Compose::mark_for_removal(
        &mut world.pool.get().expect("conn"),
        first.id,
        "boss",
        now() + chrono::TimeDelta::minutes(5),
    )
    .expect("delete"));
    let second = world.submit(body);
    assert_eq!(
        world.worker("w").process(second.id).expect("processed"),
        JobOutcome::Done,
        "generated anew"
    );
    let second = world.find(second.id);
    assert_eq!(second.reused_id, None);
    assert!(world.compose_dir(second.id).join("compose").exists());
    assert_eq!(second.source_type, SourceType::Repo);
});
