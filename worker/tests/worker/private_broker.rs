//! A RabbitMQ node of our own on its own ports, for tests that stop and restart the broker
//! without disturbing the shared one the other tests use.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::Scratch;

/// A RabbitMQ node of our own, in a scratch directory.
pub struct PrivateBroker {
    dir: Scratch,
    node: String,
    port: u16,
}

impl PrivateBroker {
    /// Starts node `name` with `plugins` enabled; `slot` tells apart the nodes one test
    /// process runs (each takes six ports: AMQP, distribution, STOMP, AMQPS, STOMP over TLS).
    pub fn new(name: &str, slot: u16, plugins: &[&str]) -> PrivateBroker {
        Self::with_setup(name, slot, plugins, |_, _| String::new())
    }

    /// [`new`](Self::new), with `setup(dir, port)` preparing files in the node's directory
    /// and returning further configuration lines.
    pub fn with_setup(
        name: &str,
        slot: u16,
        plugins: &[&str],
        setup: impl FnOnce(&std::path::Path, u16) -> String,
    ) -> PrivateBroker {
        let dir = Scratch::new("rabbitmq");
        let port = 30000 + (std::process::id() % 1000) as u16 * 30 + slot * 6;
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

    /// Whether the node takes connections.
    pub fn up(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
    }

    /// Starts the node and waits until it takes connections.
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
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.up() {
            assert!(
                Instant::now() < deadline,
                "private broker did not start; see {}",
                self.path("log").display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
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

/// The STOMP listener's line of the configuration (port after the distribution port), when
/// the plugin is on; the key is unknown to RabbitMQ otherwise.
fn stomp_listener(plugins: &[&str], port: u16) -> String {
    if plugins.contains(&"rabbitmq_stomp") {
        format!("stomp.listeners.tcp.1 = 127.0.0.1:{}\n", port + 2)
    } else {
        String::new()
    }
}
