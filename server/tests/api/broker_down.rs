//! A broker that drops packets never holds up a POST: the compose is stored and answered at
//! once, and its job is published (by the relay) and generated when the broker is back.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use odcs_common::db::models::Compose;
use odcs_common::db::testing::Store;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use crate::support::{test_config, TestApp};

/// The broker the proxy forwards to once it is "back".
fn broker_addr() -> String {
    std::env::var("ODCS_TEST_AMQP_ADDR").unwrap_or_else(|_| "127.0.0.1:5672".into())
}

/// A TCP proxy in front of RabbitMQ that first swallows connections (accepts and never
/// answers, as a host behind a firewall that drops packets looks to a client that already
/// has a route) and, once `restore` is called, forwards new ones.
struct Blackhole {
    port: u16,
    forwarding: Arc<AtomicBool>,
    swallowed: Arc<AtomicUsize>,
}

impl Blackhole {
    fn start() -> Blackhole {
        let forwarding = Arc::new(AtomicBool::new(false));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let swallowed = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (forwarding.clone(), swallowed.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                let mut held = Vec::new();
                while let Ok((mut client, _)) = listener.accept().await {
                    if !flag.load(Ordering::SeqCst) {
                        held.push(client);
                        count.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    tokio::spawn(async move {
                        if let Ok(mut broker) = TcpStream::connect(broker_addr()).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                        }
                    });
                }
            });
        });
        Blackhole {
            port,
            forwarding,
            swallowed,
        }
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Waits until a client has tried the broker and been swallowed.
    async fn wait_for_a_swallowed_connection(&self) {
        while self.swallowed.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn restore(&self) {
        self.forwarding.store(true, Ordering::SeqCst);
    }
}

fn fixture_repo() -> std::path::PathBuf {
    std::env::var_os("ODCS_TEST_FIXTURE_REPO").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/fixtures/odcs-test-repo")
        },
        std::path::PathBuf::from,
    )
}

/// Runs the relay and one AMQP worker slot on their own runtime until `stop` turns true.
fn start_relay_and_worker(
    app: &TestApp,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::thread::JoinHandle<()> {
    let state = app.state.clone();
    std::thread::spawn(move || {
        // Workers hold blocking HTTP clients, which must be built outside any runtime.
        let config = state.config.clone();
        let cache = odcs_worker::services::open_cache(&config).expect("cache");
        let factory =
            odcs_worker::services::worker_factory(config.clone(), state.pool.clone(), cache)
                .expect("workers");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("worker runtime");
        runtime.block_on(async move {
            let queues = vec![config.messaging.default_queue.clone()];
            let url = config.messaging.amqp_url.clone();
            let consumer = tokio::spawn({
                let stop = stop.clone();
                async move {
                    odcs_worker::consumer::consume_amqp(&url, &queues, 1, factory, stop).await
                }
            });
            odcs_worker::relay::run(&config, state.pool.clone(), &state.dispatcher, stop).await;
            let _ = consumer.await;
        });
        drop(runtime);
    })
}

#[actix_web::test]
async fn a_post_answers_while_the_broker_drops_packets_and_the_compose_is_generated_later() {
    let proxy = Blackhole::start();
    let scratch = std::env::temp_dir().join(format!(
        "odcs-broker-down-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut config = test_config();
    config.messaging.amqp_url = proxy.url();
    config.messaging.default_queue = format!("odcs-test-{}", uuid::Uuid::new_v4().simple());
    config.storage.target_dir = scratch.join("composes");
    config.storage.package_cache_dir = scratch.join("cache");
    config.workers.repo_source_roots = vec![fixture_repo()];
    std::fs::create_dir_all(&config.storage.target_dir).expect("target dir");
    let app = TestApp::new(Store::Postgres, config);

    let body = json!({"source": {"type": "repo", "source": fixture_repo()}});
    // The HTTP timeout of the reference client is a minute; the answer must not wait for the
    // broker at all, so half of that is plenty even on a loaded machine.
    let created = tokio::time::timeout(Duration::from_secs(30), app.create(body))
        .await
        .expect("POST answers while the broker is unreachable");
    assert_eq!(created["state_name"], "wait");
    let id = created["id"].as_i64().expect("id") as i32;
    let row = Compose::find(&mut app.conn(), odcs_common::compose::ComposeId(id))
        .expect("find")
        .expect("stored");
    assert!(row.dispatched_at.is_none(), "nothing reached the broker");
    // The frontend's own dispatch tries the broker in the background and gets no answer.
    tokio::time::timeout(
        Duration::from_secs(30),
        proxy.wait_for_a_swallowed_connection(),
    )
    .await
    .expect("the frontend tries to dispatch the job");
    let row = Compose::find(&mut app.conn(), odcs_common::compose::ComposeId(id))
        .expect("find")
        .expect("stored");
    assert!(row.dispatched_at.is_none(), "nothing reached the broker");

    proxy.restore();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let services = start_relay_and_worker(&app, stop);
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let state = loop {
        let reply = app.get(&format!("/api/1/composes/{id}")).await;
        let state = reply.body["state_name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if state == "done" || state == "failed" || std::time::Instant::now() > deadline {
            break (state, reply.body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = stop_tx.send(true);
    let _ = services.join();
    let _ = std::fs::remove_dir_all(&scratch);
    assert_eq!(state.0, "done", "{}", state.1);
}
