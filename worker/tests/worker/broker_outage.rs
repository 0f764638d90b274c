//! RabbitMQ goes away while composes are submitted and comes back: every compose reaches a
//! final state and every state-change message arrives, in order per compose, with stable ids.
//! Uses a private broker node on its own port, so other tests keep theirs.

use std::time::{Duration, Instant};

use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use odcs_common::compose::ComposeState;
use odcs_common::db::testing::Store;
use odcs_common::dispatch::Dispatcher;

use crate::amqp::{collect_states, spawn, terminate};
use crate::lifecycle::World;
use crate::private_broker::PrivateBroker;

#[test]
fn composes_and_messages_survive_a_broker_outage() {
    let broker = PrivateBroker::new("outage", &[]);
    let mut world = World::new(Store::Postgres);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    world.config = std::sync::Arc::new({
        let mut config = (*world.config).clone();
        config.messaging.amqp_url = broker.url();
        config.messaging.default_queue = format!("odcs-test-{tag}");
        config.messaging.queue_routes = Default::default();
        config.messaging.topic_prefix = format!("test.{tag}.");
        config
    });
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let listener = format!("listener-{tag}");
    let topic = format!("test.{tag}.odcs.state.change");
    broker.keep_messages_of(&runtime, &listener, &topic);

    let mut processes = Processes(vec![
        spawn(&world, &["consume"]),
        spawn(&world, &["relay"]),
        spawn(&world, &["beat"]),
    ]);
    let dispatcher = Dispatcher::from_config(&world.config);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = world.submit_repo().id;
        runtime.block_on(odcs_common::dispatch::dispatch(
            &dispatcher,
            &world.config,
            &world.pool,
            id,
        ));
        ids.push(id);
    }
    broker.stop();
    for _ in 0..3 {
        // The request still succeeds; the compose waits for the broker.
        let id = world.submit_repo().id;
        runtime.block_on(odcs_common::dispatch::dispatch(
            &dispatcher,
            &world.config,
            &world.pool,
            id,
        ));
        assert!(
            world.find(id).dispatched_at.is_none(),
            "nothing was dispatched while the broker was down"
        );
        ids.push(id);
    }
    std::thread::sleep(Duration::from_secs(2));
    broker.start();

    let deadline = Instant::now() + Duration::from_secs(120);
    for id in &ids {
        loop {
            let compose = world.find(*id);
            if compose.state == ComposeState::Done {
                break;
            }
            assert_ne!(
                compose.state,
                ComposeState::Failed,
                "{:?}",
                compose.state_reason
            );
            assert!(
                Instant::now() < deadline,
                "compose {id} stuck in state {}",
                compose.state
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // Every message arrives (duplicates allowed, recognised by id), in order per compose.
    let seen = runtime.block_on(async {
        let conn = odcs_common::amqp::connect(&broker.url())
            .await
            .expect("private broker");
        let channel = conn.create_channel().await.expect("channel");
        let mut consumer = channel
            .basic_consume(
                &listener,
                "check",
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume");
        // Duplicates (published again after a lost confirm) are allowed; ids tell them apart.
        let (seen, _duplicates) =
            collect_states(&mut consumer, ids.len() * 3, Duration::from_secs(60)).await;
        let _ = conn.close(200, "done").await;
        seen
    });
    for id in &ids {
        assert_eq!(
            seen[&i64::from(*id)],
            ["wait", "generating", "done"],
            "compose {id}"
        );
    }
    for process in processes.0.drain(..) {
        terminate(process);
    }
}

/// Child processes killed if the test fails before stopping them.
struct Processes(Vec<std::process::Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
