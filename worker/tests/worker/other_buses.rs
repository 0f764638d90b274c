//! State-change messages over AMQP 1.0 (`messaging_backend = "amqp1"`) and STOMP
//! (`"stomp"`) on RabbitMQ's plugins: a consumer speaking the same protocol receives every
//! transition of every compose in order while the broker restarts in the middle, and the
//! messages carry the headers UMB and fedora-messaging consumers read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fe2o3_amqp::types::messaging::{Body, MessageId};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use fe2o3_amqp::{Connection, Receiver, Session};
use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::config::MessagingBackend;
use odcs_common::db::lifecycle::{self, ComposeChanges, Transition};
use odcs_common::db::testing::Store;

use crate::amqp::{spawn_with, terminate};
use crate::lifecycle::{assert_schema, World};
use crate::private_broker::PrivateBroker;

/// One message as the AMQP 1.0 consumer got it.
#[derive(Debug, Clone)]
struct Received {
    message_id: String,
    body: serde_json::Value,
    properties: BTreeMap<String, SimpleValue>,
}

/// Receives over AMQP 1.0 from `address` until `stop`, reconnecting whenever the broker goes away, and
/// accepting each message only after it is recorded.
async fn consume_amqp1(
    url: String,
    address: String,
    into: Arc<Mutex<Vec<Received>>>,
    stop: Instant,
) {
    while Instant::now() < stop {
        let attempt = async {
            let mut connection = Connection::open("odcs-test-consumer", url.as_str())
                .await
                .ok()?;
            let mut session = Session::begin(&mut connection).await.ok()?;
            let mut receiver =
                Receiver::attach(&mut session, "odcs-test-receiver", address.as_str())
                    .await
                    .ok()?;
            while Instant::now() < stop {
                let next = tokio::time::timeout(
                    Duration::from_millis(500),
                    receiver.recv::<Body<Value>>(),
                );
                let delivery = match next.await {
                    Err(_) => continue,
                    Ok(Err(_)) => return None,
                    Ok(Ok(delivery)) => delivery,
                };
                let message = delivery.message();
                let Body::Value(value) = &message.body else {
                    panic!("the body is an AMQP value, as the reference's proton messages are");
                };
                let Value::String(text) = &value.0 else {
                    panic!("the body is a JSON string: {:?}", value.0);
                };
                let message_id = match message
                    .properties
                    .as_ref()
                    .and_then(|p| p.message_id.clone())
                {
                    Some(MessageId::String(id)) => id,
                    other => panic!("message id {other:?}"),
                };
                let properties = message
                    .application_properties
                    .as_ref()
                    .map(|p| p.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let received = Received {
                    message_id,
                    body: serde_json::from_str(text).expect("JSON body"),
                    properties,
                };
                into.lock().expect("lock").push(received);
                receiver.accept(&delivery).await.ok()?;
            }
            let _ = receiver.close().await;
            let _ = session.close().await;
            let _ = connection.close().await;
            Some(())
        };
        if attempt.await.is_none() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Moves compose `id` through `states`, each transition writing its message to the outbox.
fn advance(world: &World, id: ComposeId, states: &[(ComposeState, ComposeState)]) {
    let mut conn = world.pool.get().expect("conn");
    for (from, to) in states {
        let moved = lifecycle::transition(
            &mut conn,
            id,
            &Transition {
                from: &[*from],
                to: *to,
                reason: None,
                held_by: None,
                expired_before: None,
                changes: ComposeChanges::default(),
            },
            &world.config,
            odcs_common::time::now(),
        )
        .expect("transition");
        assert!(moved.is_some(), "compose {id} {from} -> {to}");
    }
}

/// Receives over STOMP from `destination` until `stop`, reconnecting whenever the broker
/// goes away, acknowledging each message only after it is recorded.
async fn consume_stomp(
    port: u16,
    destination: String,
    into: Arc<Mutex<Vec<Received>>>,
    stop: Instant,
) {
    use async_stomp::client::{Connector, Subscriber};
    use async_stomp::{AckMode, FromServer, ToServer};
    use futures_util::{SinkExt, StreamExt};
    while Instant::now() < stop {
        let attempt = async {
            let mut conn = Connector::builder()
                .server(format!("127.0.0.1:{port}"))
                .virtualhost("/")
                .login("guest".to_owned())
                .passcode("guest".to_owned())
                .connect()
                .await
                .ok()?;
            let subscribe = Subscriber::builder()
                .destination(destination.clone())
                .id("odcs-test")
                .ack(AckMode::ClientIndividual)
                .subscribe();
            conn.send(subscribe).await.ok()?;
            while Instant::now() < stop {
                let next = tokio::time::timeout(Duration::from_millis(500), conn.next());
                let frame = match next.await {
                    Err(_) => continue,
                    Ok(None | Some(Err(_))) => return None,
                    Ok(Some(Ok(frame))) => frame,
                };
                let FromServer::Message {
                    ack, headers, body, ..
                } = frame.content
                else {
                    continue;
                };
                let header = |name: &str| {
                    headers
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                };
                let properties = headers
                    .iter()
                    .map(|(n, v)| (n.clone(), SimpleValue::String(v.clone())))
                    .collect();
                into.lock().expect("lock").push(Received {
                    message_id: header("amqp-message-id").expect("our message id"),
                    body: serde_json::from_slice(&body.unwrap_or_default()).expect("JSON body"),
                    properties,
                });
                let ack = ToServer::Ack {
                    id: ack.expect("client-individual acknowledgment"),
                    transaction: None,
                };
                conn.send(ack.into()).await.ok()?;
            }
            Some(())
        };
        if attempt.await.is_none() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The bus a scenario runs on.
struct Bus {
    backend: &'static str,
    broker_url: String,
    address: &'static str,
    /// Whether header values arrive typed (AMQP 1.0) or as text (STOMP).
    typed: bool,
}

/// Composes change state before, during and after a broker restart while the relay publishes
/// over `bus` and a consumer started by `consume` receives; every transition arrives once at
/// least, in order per compose.
fn across_a_restart<F>(
    broker: &PrivateBroker,
    bus: Bus,
    consume: impl FnOnce(String, Arc<Mutex<Vec<Received>>>, Instant) -> F,
) where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut world = World::new(Store::Postgres);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    // The prefix UMB's bus-driven services use, so its dots and capitals pass through.
    let prefix = format!("VirtualTopic.eng.test{tag}.");
    let topic = format!("{prefix}odcs.state.change");
    let listener = format!("listener-{tag}");
    world.config = Arc::new({
        let mut config = (*world.config).clone();
        config.messaging.backend = backend_named(bus.backend);
        config.messaging.broker_urls = vec![bus.broker_url.clone()];
        config.messaging.address = bus.address.into();
        config.messaging.topic_prefix = prefix;
        config
    });
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    broker.keep_messages_of(&runtime, &listener, &topic);
    let received = Arc::new(Mutex::new(Vec::new()));
    let consumer = runtime.spawn(consume(
        listener.clone(),
        received.clone(),
        Instant::now() + Duration::from_secs(120),
    ));
    let relay = spawn_with(
        &world,
        &["relay"],
        &[
            ("ODCS_MESSAGING_BACKEND", bus.backend),
            (
                "ODCS_MESSAGING_BROKER_URLS",
                &serde_json::to_string(&[&bus.broker_url]).expect("json"),
            ),
            ("ODCS_MESSAGING_ADDRESS", bus.address),
        ],
    );
    use ComposeState::{Done, Generating, Wait};
    let count = |received: &Arc<Mutex<Vec<Received>>>| {
        let seen = received.lock().expect("lock");
        seen.iter()
            .map(|r| r.message_id.clone())
            .collect::<BTreeSet<_>>()
            .len()
    };
    let wait_for = |n: usize, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while count(&received) < n {
            assert!(
                Instant::now() < deadline,
                "{what}: {} of {n} messages arrived",
                count(&received)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    // Before the restart: three composes, each wait, generating, done.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = world.submit_repo().id;
        advance(&world, id, &[(Wait, Generating), (Generating, Done)]);
        ids.push(id);
    }
    wait_for(9, "before the restart");
    // The broker goes away with the relay's and the consumer's connections; meanwhile
    // composes go on changing state.
    broker.stop();
    let mut late = Vec::new();
    for _ in 0..3 {
        let id = world.submit_repo().id;
        advance(&world, id, &[(Wait, Generating)]);
        late.push(id);
    }
    std::thread::sleep(Duration::from_secs(1));
    broker.start();
    for id in &late {
        advance(&world, *id, &[(Generating, Done)]);
    }
    ids.extend(late);
    wait_for(18, "after the restart");
    terminate(relay);
    consumer.abort();

    let received = received.lock().expect("lock").clone();
    let mut first_seen = BTreeSet::new();
    let mut states: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for message in &received {
        // At least once: a message whose outcome the restart swallowed comes again.
        if !first_seen.insert(message.message_id.clone()) {
            continue;
        }
        assert_schema(&message.body);
        let compose = &message.body["compose"];
        let id = compose["id"].as_i64().expect("id");
        states
            .entry(id)
            .or_default()
            .push(compose["state_name"].as_str().expect("state").to_owned());
        assert_eq!(
            message.properties.get("fedora_messaging_schema"),
            Some(&SimpleValue::String("odcs.state.change.v1".into()))
        );
        let owner = compose["owner"].as_str().expect("owner");
        let flag = if bus.typed {
            SimpleValue::Bool(true)
        } else {
            SimpleValue::String("true".into())
        };
        assert_eq!(
            message
                .properties
                .get(&format!("fedora_messaging_user_{owner}")),
            Some(&flag)
        );
    }
    for id in &ids {
        assert_eq!(
            states[&i64::from(*id)],
            ["wait", "generating", "done"],
            "compose {id}, in order"
        );
    }
}

#[test]
fn amqp1_messages_arrive_in_order_across_a_broker_restart() {
    let broker = PrivateBroker::new("amqp1", &["rabbitmq_amqp1_0"]);
    let url = format!("amqp://guest:guest@127.0.0.1:{}", broker.port());
    let consumer_url = url.clone();
    across_a_restart(
        &broker,
        Bus {
            backend: "amqp1",
            broker_url: url,
            address: "/topic/{topic}",
            typed: true,
        },
        move |queue, into, stop| {
            consume_amqp1(consumer_url, format!("/amq/queue/{queue}"), into, stop)
        },
    );
}

#[test]
fn stomp_messages_arrive_in_order_across_a_broker_restart() {
    let broker = PrivateBroker::new("stomp", &["rabbitmq_stomp"]);
    let port = broker.stomp_port();
    across_a_restart(
        &broker,
        Bus {
            backend: "stomp",
            broker_url: format!("stomp://guest:guest@127.0.0.1:{port}"),
            address: "",
            typed: false,
        },
        move |queue, into, stop| consume_stomp(port, format!("/amq/queue/{queue}"), into, stop),
    );
}

/// UMB-style: the broker takes only TLS clients with a certificate from its CA and logs the
/// relay in by the certificate's name, with no password anywhere: `ssl_cert_login` over STOMP,
/// SASL EXTERNAL over AMQP 1.0. Given the client certificate, the relay delivers over both;
/// without one, nothing leaves the outbox.
#[test]
fn client_certificates_log_the_relay_in_over_tls() {
    let mut pki = None;
    let broker = PrivateBroker::with_setup(
        "tls",
        &[
            "rabbitmq_amqp1_0",
            "rabbitmq_stomp",
            "rabbitmq_auth_mechanism_ssl",
        ],
        |dir, port| {
            let made = odcs_common::test_pki::TestPki::new(&dir.join("pki"));
            let conf = format!(
                "listeners.ssl.1 = 127.0.0.1:{amqps}\n\
                 stomp.listeners.ssl.1 = 127.0.0.1:{stomps}\n\
                 ssl_options.cacertfile = {ca}\n\
                 ssl_options.certfile = {cert}\n\
                 ssl_options.keyfile = {key}\n\
                 ssl_options.verify = verify_peer\n\
                 ssl_options.fail_if_no_peer_cert = true\n\
                 auth_mechanisms.1 = PLAIN\n\
                 auth_mechanisms.2 = AMQPLAIN\n\
                 auth_mechanisms.3 = EXTERNAL\n\
                 ssl_cert_login_from = common_name\n\
                 stomp.ssl_cert_login = true\n",
                amqps = port + 3,
                stomps = port + 4,
                ca = made.ca.display(),
                cert = made.server_cert.display(),
                key = made.server_key.display(),
            );
            pki = Some(made);
            conf
        },
    );
    let pki = pki.expect("pki made");
    // The certificate's common name is the user, as UMB maps service certificates to users.
    broker.ctl(&["add_user", "client", "unused-password"]);
    broker.ctl(&["set_permissions", "-p", "/", "client", ".*", ".*", ".*"]);
    let client_cert = pki.client.display().to_string();
    let ca = pki.ca.display().to_string();
    let tls_env = [
        ("ODCS_MESSAGING_CERT_FILE", client_cert.as_str()),
        ("ODCS_MESSAGING_KEY_FILE", client_cert.as_str()),
        ("ODCS_MESSAGING_CA_CERT", ca.as_str()),
    ];
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for (backend, url, address) in [
        (
            "amqp1",
            format!("amqps://127.0.0.1:{}", broker.amqps_port()),
            "/topic/{topic}",
        ),
        (
            "stomp",
            format!("stomp+ssl://127.0.0.1:{}", broker.stomps_port()),
            "",
        ),
    ] {
        let mut world = World::new(Store::Postgres);
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("test.{tag}.");
        let listener = format!("listener-{tag}");
        world.config = Arc::new({
            let mut config = (*world.config).clone();
            config.messaging.backend = backend_named(backend);
            config.messaging.broker_urls = vec![url.clone()];
            config.messaging.topic_prefix = prefix.clone();
            config
        });
        broker.keep_messages_of(&runtime, &listener, &format!("{prefix}odcs.state.change"));
        let urls = serde_json::to_string(&[&url]).expect("json");
        let bus_env = [
            ("ODCS_MESSAGING_BACKEND", backend),
            ("ODCS_MESSAGING_BROKER_URLS", urls.as_str()),
            ("ODCS_MESSAGING_ADDRESS", address),
        ];
        let id = world.submit_repo().id;
        advance(
            &world,
            id,
            &[(ComposeState::Wait, ComposeState::Generating)],
        );

        // Without a certificate the broker refuses the relay: the messages wait.
        let bare = spawn_with(&world, &["relay"], &[&bus_env[..], &tls_env[2..]].concat());
        std::thread::sleep(Duration::from_secs(3));
        terminate(bare);
        assert_eq!(
            unpublished(&world),
            2,
            "{backend}: nothing published without a certificate"
        );

        let relay = spawn_with(&world, &["relay"], &[&bus_env[..], &tls_env[..]].concat());
        advance(
            &world,
            id,
            &[(ComposeState::Generating, ComposeState::Done)],
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Instant::now() + Duration::from_secs(60);
        let consumer = match backend {
            "amqp1" => runtime.spawn(consume_amqp1(
                broker.url(),
                format!("/amq/queue/{listener}"),
                received.clone(),
                stop,
            )),
            _ => runtime.spawn(consume_stomp(
                broker.stomp_port(),
                format!("/amq/queue/{listener}"),
                received.clone(),
                stop,
            )),
        };
        while received.lock().expect("lock").len() < 3 {
            assert!(
                Instant::now() < stop,
                "{backend}: messages did not arrive over TLS"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        terminate(relay);
        consumer.abort();
        let states: Vec<String> = received.lock().expect("lock")[..3]
            .iter()
            .map(|m| {
                m.body["compose"]["state_name"]
                    .as_str()
                    .expect("state")
                    .to_owned()
            })
            .collect();
        assert_eq!(states, ["wait", "generating", "done"], "{backend}");
        assert_eq!(unpublished(&world), 0, "{backend}");
    }
}

/// How many messages wait in the outbox.
fn unpublished(world: &World) -> usize {
    let mut conn = world.pool.get().expect("conn");
    odcs_common::db::models::OutboxMessage::oldest(&mut conn, 100)
        .expect("outbox")
        .len()
}

fn backend_named(name: &str) -> MessagingBackend {
    match name {
        "amqp1" => MessagingBackend::Amqp1,
        _ => MessagingBackend::Stomp,
    }
}
