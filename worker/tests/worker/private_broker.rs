//! A RabbitMQ node of our own on its own ports, for tests that stop and restart the broker
//! without disturbing the shared one the other tests use.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

use crate::support::Scratch;

/// A RabbitMQ node of our own, in a scratch directory.
pub struct PrivateBroker {
    dir: Scratch,
    node: String,
    port: u16,
}

impl PrivateBroker {
    /// Starts node `name` with `plugins` enabled.
    pub fn new(name: &str, plugins: &[&str]) -> PrivateBroker {
        Self::with_setup(name, plugins, |_, _| String::new())
    }

    /// [`new`](Self::new), with `setup(dir, port)` preparing files in the node's directory
    /// and returning further configuration lines.
    pub fn with_setup(
        name: &str,
        plugins: &[&str],
        setup: impl FnOnce(&std::path::Path, u16) -> String,
    ) -> PrivateBroker {
        let dir = Scratch::new("rabbitmq");
        let port = claim_ports();
        let node = format!("odcs{name}{}@localhost", std::process::id());
        let enabled = if plugins.is_empty() {
            String::new()
        } else {
            format!("[{}].\n", plugins.join(","))
        };
        std::fs::write(dir.path().join("plugins"), enabled).expect("plugins file");
        std::fs::write(
            dir.path().join("rabbitmq.conf"),
            stomp_listener(plugins, port)
                + &setup(dir.path(), port)
                + &format!("listeners.tcp.local = 127.0.0.1:{port}\n"),
        )
        .expect("config");
        // The broker runs as the rabbitmq user.
        let _ = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(dir.path())
            .status();
        let broker = PrivateBroker { dir, node, port };
        broker.start();
        broker
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The port its AMQP listener (0.9.1 and, with the plugin, 1.0) takes connections on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of its STOMP listener, when the `rabbitmq_stomp` plugin is on.
    pub fn stomp_port(&self) -> u16 {
        self.port + 2
    }

    /// The port of its AMQP-over-TLS listener, when the setup configures one.
    pub fn amqps_port(&self) -> u16 {
        self.port + 3
    }

    /// The port of its STOMP-over-TLS listener, when the setup configures one.
    pub fn stomps_port(&self) -> u16 {
        self.port + 4
    }

    /// Runs `rabbitmqctl` against this node; panics if it fails (a test set-up error).
    pub fn ctl(&self, args: &[&str]) {
        let status = Command::new("rabbitmqctl")
            .args(["-n", &self.node, "-q"])
            .args(args)
            .status()
            .expect("rabbitmqctl runs");
        assert!(status.success(), "rabbitmqctl {args:?}");
    }

    /// The AMQP URL with the default guest login.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Declares the durable queue `queue` bound to `topic` on `amq.topic`, so messages published
    /// while a consumer reconnects (or the broker restarts) are kept for it.
    pub fn keep_messages_of(&self, runtime: &tokio::runtime::Runtime, queue: &str, topic: &str) {
        runtime.block_on(async {
            let conn = odcs_common::amqp::connect(&self.url())
                .await
                .expect("private broker");
            let channel = conn.create_channel().await.expect("channel");
            let durable = QueueDeclareOptions {
                durable: true,
                ..Default::default()
            };
            channel
                .queue_declare(queue, durable, FieldTable::default())
                .await
                .expect("declare");
            channel
                .queue_bind(
                    queue,
                    "amq.topic",
                    topic,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bind");
            let _ = conn.close(200, "set up").await;
        });
    }

    /// Whether the node takes connections.
    pub fn up(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
    }

    /// Starts the node and waits until it takes connections and commands.
    pub fn start(&self) {
        let status = Command::new("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_DIST_PORT", (self.port + 1).to_string())
            .env("RABBITMQ_CONFIG_FILE", self.path("rabbitmq.conf"))
            .env("RABBITMQ_MNESIA_BASE", self.path("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.path("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", self.path("plugins"))
            .current_dir(self.dir.path())
            .status()
            .expect("rabbitmq-server runs");
        assert!(status.success(), "rabbitmq-server -detached failed");
        // Generous: under a loaded CI machine a node with plugins takes tens of seconds.
        let deadline = Instant::now() + Duration::from_secs(180);
        while !self.up() {
            assert!(
                Instant::now() < deadline,
                "private broker {} did not start on port {}; its log ends:\n{}",
                self.node,
                self.port,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // The listener opens before the node has finished booting (plugins start after it),
        // and `rabbitmqctl` refuses commands such as add_user until then.
        self.ctl(&["--timeout", "180", "await_startup"]);
    }

    /// The last lines of the node's logs, for a failure message that says why it did not start.
    fn log_tail(&self) -> String {
        let mut tail = String::new();
        for entry in std::fs::read_dir(self.path("log"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            tail += &format!("--- {}\n", entry.path().display());
            tail += &lines[lines.len().saturating_sub(30)..].join("\n");
            tail += "\n";
        }
        tail
    }

    /// Stops the node and waits until it is gone.
    pub fn stop(&self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-n", &self.node, "-q", "stop"])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.up() {
            assert!(Instant::now() < deadline, "private broker did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Ports per node: AMQP, distribution, STOMP, AMQPS, STOMP over TLS, one spare.
const PORTS_PER_NODE: u16 = 6;

/// First ports of the blocks this test process has handed out, so two nodes never share one.
static CLAIMED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Claims a block of [`PORTS_PER_NODE`] free ports below the kernel's ephemeral range (where
/// the many client connections of a test run cannot take them) and returns its first port.
fn claim_ports() -> u16 {
    let mut claimed = CLAIMED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let blocks = 3000;
    let start = std::process::id() as u16 % blocks;
    (0..blocks)
        .map(|i| 14000 + (start + i) % blocks * PORTS_PER_NODE)
        .find(|&first| {
            !claimed.contains(&first)
                && (first..first + PORTS_PER_NODE)
                    .all(|port| TcpListener::bind(("0.0.0.0", port)).is_ok())
        })
        .inspect(|&first| {
            claimed.insert(first);
        })
        .expect("a block of free ports for a private broker")
}

/// The STOMP listener's line of the configuration (port after the distribution port), when
/// the plugin is on; the key is unknown to RabbitMQ otherwise.
fn stomp_listener(plugins: &[&str], port: u16) -> String {
    if plugins.contains(&"rabbitmq_stomp") {
        format!("stomp.listeners.tcp.1 = 127.0.0.1:{}\n", port + 2)
    } else {
        String::new()
    }
}
