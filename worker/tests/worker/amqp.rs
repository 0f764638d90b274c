//! The distributed deployment: two `odcs-worker consume` processes and an `odcs-worker relay`
//! on the real RabbitMQ and PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::db::testing::Store;
use odcs_common::dispatch::Dispatcher;
use serde_json::Value;

use crate::lifecycle::{assert_schema, World};

/// The broker tests use.
fn amqp_url() -> String {
    std::env::var("ODCS_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// An `odcs-worker` subcommand with the world's configuration in its environment.
pub fn spawn(world: &World, args: &[&str]) -> Child {
    spawn_with(world, args, &[])
}

/// [`spawn`], with further (or overriding) environment variables.
pub fn spawn_with(world: &World, args: &[&str], env: &[(&str, &str)]) -> Child {
    let c = &world.config;
    Command::new(env!("CARGO_BIN_EXE_odcs-worker"))
        .args(args)
        .env("ODCS_DATABASE_URL", &c.storage.database_url)
        .env("ODCS_AMQP_URL", &c.messaging.amqp_url)
        .env("ODCS_TARGET_DIR", &c.storage.target_dir)
        .env("ODCS_TARGET_DIR_URL", &c.storage.target_dir_url)
        .env(
            "ODCS_REPO_SOURCE_ROOTS",
            serde_json::to_string(&c.workers.repo_source_roots).expect("json"),
        )
        .env("ODCS_PACKAGE_CACHE_DIR", &c.storage.package_cache_dir)
        .env("ODCS_DEFAULT_QUEUE", &c.messaging.default_queue)
        .env("ODCS_QUEUE_ROUTES", "{}")
        .env("ODCS_MESSAGING_TOPIC_PREFIX", &c.messaging.topic_prefix)
        .env("ODCS_WORKER_CONCURRENCY", "2")
        .env("ODCS_LEASE_SECONDS", c.workers.lease_seconds.to_string())
        .env("ODCS_BEAT_INTERVAL_SECONDS", "1")
        .env("ODCS_REDISPATCH_AFTER_SECONDS", "1")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .spawn()
        .expect("odcs-worker starts")
}

pub fn terminate(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(
                status.success(),
                "odcs-worker exits cleanly on SIGTERM: {status}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "odcs-worker did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads state-change deliveries until `expected` distinct messages arrived (a redelivered
/// message id counts once), checking each against the schema and the properties
/// fedora-messaging needs. Returns the state names per compose in arrival order, and how many
/// duplicates were dropped.
pub async fn collect_states(
    consumer: &mut lapin::Consumer,
    expected: usize,
    within: Duration,
) -> (BTreeMap<i64, Vec<String>>, usize) {
    let mut seen: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut message_ids = BTreeSet::new();
    let mut duplicates = 0;
    let until = tokio::time::Instant::now() + within;
    while seen.values().map(Vec::len).sum::<usize>() < expected {
        let delivery = tokio::time::timeout_at(until, consumer.next())
            .await
            .expect("every message arrives")
            .expect("stream open")
            .expect("delivery");
        let props = &delivery.properties;
        assert_eq!(
            props.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        let headers = props.headers().as_ref().expect("headers").inner();
        assert_eq!(
            headers.get("fedora_messaging_schema"),
            Some(&AMQPValue::LongString("odcs.state.change.v1".into()))
        );
        let id = props
            .message_id()
            .as_ref()
            .map(|s| s.to_string())
            .expect("message id");
        if !message_ids.insert(id) {
            duplicates += 1;
            continue;
        }
        let body: Value = serde_json::from_slice(&delivery.data).expect("json");
        assert_schema(&body);
        let owner = body["compose"]["owner"].as_str().expect("owner");
        assert_eq!(
            headers.get(format!("fedora_messaging_user_{owner}").as_str()),
            Some(&AMQPValue::Boolean(true)),
            "consumers can bind to the owner's filter header"
        );
        let compose = body["compose"]["id"].as_i64().expect("id");
        let state = body["compose"]["state_name"].as_str().expect("state");
        seen.entry(compose).or_default().push(state.to_owned());
    }
    (seen, duplicates)
}

#[test]
fn two_worker_processes_and_the_relay_take_composes_to_done() {
    let mut world = World::new(Store::Postgres);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let config = {
        let mut config = (*world.config).clone();
        config.messaging.amqp_url = amqp_url();
        config.messaging.default_queue = format!("odcs-test-{tag}");
        config.messaging.queue_routes = Default::default();
        config.messaging.topic_prefix = format!("test.{tag}.");
        config
    };
    world.config = std::sync::Arc::new(config);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // Listen for state changes like a consumer of the bus would.
    let (conn, mut messages) = runtime.block_on(async {
        let conn = odcs_common::amqp::connect(&amqp_url())
            .await
            .expect("RabbitMQ must run (see .ci/test)");
        let channel = conn.create_channel().await.expect("channel");
        let queue = format!("odcs-test-listener-{tag}");
        channel
            .queue_declare(
                &queue,
                QueueDeclareOptions {
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare");
        channel
            .queue_bind(
                &queue,
                "amq.topic",
                &format!("test.{tag}.odcs.state.change"),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        let consumer = channel
            .basic_consume(
                &queue,
                "listener",
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume");
        (conn, consumer)
    });

    let workers = [spawn(&world, &["consume"]), spawn(&world, &["consume"])];
    let relay = spawn(&world, &["relay"]);
    let dispatcher = Dispatcher::from_config(&world.config);
    let ids: Vec<ComposeId> = (0..4).map(|_| world.submit_repo().id).collect();
    for id in &ids {
        runtime.block_on(odcs_common::dispatch::dispatch(
            &dispatcher,
            &world.config,
            &world.pool,
            *id,
        ));
        assert!(
            world.find(*id).dispatched_at.is_some(),
            "dispatched to RabbitMQ"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while ids
        .iter()
        .any(|id| world.find(*id).state != ComposeState::Done)
    {
        assert!(Instant::now() < deadline, "composes did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every compose's messages arrive: wait, generating, done, in order, with unique ids.
    let (seen, duplicates) = runtime.block_on(collect_states(
        &mut messages,
        ids.len() * 3,
        Duration::from_secs(30),
    ));
    assert_eq!(duplicates, 0, "message ids are unique");
    for id in &ids {
        assert_eq!(
            seen[&i64::from(*id)],
            ["wait", "generating", "done"],
            "compose {id}"
        );
    }
    for worker in workers {
        terminate(worker);
    }
    terminate(relay);
    runtime.block_on(async {
        let _ = conn.close(200, "done").await;
    });
}

#[test]
fn a_killed_worker_s_compose_is_finished_by_another() {
    // Generating the 200-RPM corpus takes long enough to kill the worker in the middle.
    let Some(corpus) = std::env::var_os("ODCS_TEST_CORPUS") else {
        eprintln!("ODCS_TEST_CORPUS not set; skipping");
        return;
    };
    let mut world = World::new(Store::Postgres);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let big = world.scratch.path().join("roots/big");
    crate::support::link_tree(&std::path::Path::new(&corpus).join("os"), &big);
    world.config = std::sync::Arc::new({
        let mut config = (*world.config).clone();
        config.messaging.amqp_url = amqp_url();
        config.messaging.default_queue = format!("odcs-test-{tag}");
        config.messaging.queue_routes = Default::default();
        config.workers.lease_seconds = 5;
        config
    });
    let compose = world.submit(
        serde_json::json!({"source": {"type": "repo", "source": big.display().to_string()}}),
    );

    let mut doomed = spawn(&world, &["consume"]);
    world.dispatch(compose.id);
    world.wait_for_state(
        compose.id,
        ComposeState::Generating,
        None,
        Duration::from_secs(60),
        "the worker never claimed the compose",
    );
    std::thread::sleep(Duration::from_millis(100));
    doomed.kill().expect("kill -9");
    let _ = doomed.wait();
    assert_eq!(
        world.find(compose.id).state,
        ComposeState::Generating,
        "killed mid-generation"
    );
    assert!(!world.compose_dir(compose.id).join("compose").exists());

    // Another worker and the beat: the lease runs out, the compose is handed back and done.
    let survivor = spawn(&world, &["consume"]);
    let beat = spawn(&world, &["beat"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = world.find(compose.id).state;
        if state == ComposeState::Done {
            break;
        }
        assert_ne!(
            state,
            ComposeState::Failed,
            "{:?}",
            world.find(compose.id).state_reason
        );
        assert!(Instant::now() < deadline, "compose stuck in state {state}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let states = world.message_states(compose.id);
    assert_eq!(states, ["wait", "generating", "wait", "generating", "done"]);
    let top = world.compose_dir(compose.id);
    assert!(top
        .join("compose/Temporary/x86_64/os/repodata/repomd.xml")
        .exists());
    let leftovers: Vec<_> = std::fs::read_dir(&top)
        .expect("compose directory")
        .filter_map(Result::ok)
        .filter(|e| odcs_worker::compose::layout::is_staging_dir(&e.file_name().to_string_lossy()))
        .collect();
    assert!(
        leftovers.is_empty(),
        "nothing half-written is left: {leftovers:?}"
    );
    terminate(survivor);
    terminate(beat);
}

#[test]
fn concurrent_dispatches_all_land_and_a_deleted_queue_is_declared_again() {
    let mut world = World::new(Store::Postgres);
    let queue = format!("odcs-test-{}", uuid::Uuid::new_v4().simple());
    let config = {
        let mut config = (*world.config).clone();
        config.messaging.amqp_url = amqp_url();
        config.messaging.default_queue = queue.clone();
        config.messaging.queue_routes = Default::default();
        config
    };
    world.config = std::sync::Arc::new(config);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dispatcher = Dispatcher::from_config(&world.config);
    let ids: Vec<ComposeId> = (0..40).map(|_| world.submit_repo().id).collect();
    let depth = |runtime: &tokio::runtime::Runtime| {
        runtime.block_on(async {
            let conn = odcs_common::amqp::connect(&amqp_url())
                .await
                .expect("RabbitMQ must run (see .ci/test)");
            let channel = conn.create_channel().await.expect("channel");
            let declared = channel
                .queue_declare(
                    &queue,
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await;
            let _ = conn.close(200, "done").await;
            declared.map(|q| q.message_count()).ok()
        })
    };

    // Forty requests at once share the publisher's channel; every job is confirmed.
    runtime.block_on(futures_util::future::join_all(ids.iter().map(|id| {
        odcs_common::dispatch::dispatch(&dispatcher, &world.config, &world.pool, *id)
    })));
    for id in &ids {
        assert!(world.find(*id).dispatched_at.is_some(), "{id} dispatched");
    }
    assert_eq!(depth(&runtime), Some(40));

    // An operator deletes the queue: the next job is returned, not lost, and stays to be
    // dispatched again; the one after declares the queue again.
    assert!(Command::new("rabbitmqctl")
        .args(["-q", "delete_queue", &queue])
        .status()
        .expect("rabbitmqctl")
        .success());
    let lost = world.submit_repo().id;
    runtime.block_on(odcs_common::dispatch::dispatch(
        &dispatcher,
        &world.config,
        &world.pool,
        lost,
    ));
    assert!(
        world.find(lost).dispatched_at.is_none(),
        "an unroutable job is not recorded as dispatched"
    );
    runtime.block_on(odcs_common::dispatch::dispatch(
        &dispatcher,
        &world.config,
        &world.pool,
        lost,
    ));
    assert!(world.find(lost).dispatched_at.is_some());
    assert_eq!(depth(&runtime), Some(1));
    let _ = Command::new("rabbitmqctl")
        .args(["-q", "delete_queue", &queue])
        .status();
}
