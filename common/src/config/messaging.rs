//! The broker: where compose jobs are queued and state-change messages are published.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// Job queues and state-change messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessagingConfig {
    /// AMQP broker URL; empty means the in-process queue (standalone).
    pub amqp_url: String,
    /// Exchange state-change messages are published to.
    #[serde(rename = "messaging_exchange")]
    pub exchange: String,
    /// Prefix of the state-change topic, e.g. `org.fedoraproject.prod.`.
    #[serde(rename = "messaging_topic_prefix")]
    pub topic_prefix: String,
    /// The state-change topic after the prefix.
    #[serde(rename = "messaging_topic")]
    pub topic: String,
    /// Compose jobs go to the first queue whose rules all match the compose JSON: a rule maps
    /// a property to a list of accepted values or to a regular expression (a string).
    pub queue_routes: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// The queue for composes no route matches.
    pub default_queue: String,
    /// The protocol state-change messages are published with.
    #[serde(rename = "messaging_backend")]
    pub backend: MessagingBackend,
    /// Brokers for the `amqp1` and `stomp` backends, tried in order (failover): `amqp://` or
    /// `amqps://` URLs (credentials in the URL for SASL PLAIN), `stomp://` or `stomp+ssl://`
    /// URLs (credentials for login and passcode, the path for the virtual host).
    #[serde(rename = "messaging_broker_urls")]
    pub broker_urls: Vec<String>,
    /// Where on an `amqp1` or `stomp` broker a message goes, `{topic}` standing for its topic.
    /// Empty means the backend's usual form: `topic://{topic}` over AMQP 1.0 (ActiveMQ, UMB;
    /// RabbitMQ wants `/topic/{topic}`), `/topic/{topic}` over STOMP (ActiveMQ and RabbitMQ).
    #[serde(rename = "messaging_address")]
    pub address: String,
    /// PEM client certificate presented to `amqps://` and `stomp+ssl://` brokers (with
    /// `messaging_key_file`).
    #[serde(rename = "messaging_cert_file")]
    pub cert_file: PathBuf,
    /// PEM private key of `messaging_cert_file` (it may be the same file).
    #[serde(rename = "messaging_key_file")]
    pub key_file: PathBuf,
    /// PEM CA bundle TLS brokers' certificates are checked against; the Mozilla roots when
    /// unset.
    #[serde(rename = "messaging_ca_cert")]
    pub ca_cert: PathBuf,
}

/// How state-change messages reach the bus. (Compose jobs always go over `amqp_url`.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessagingBackend {
    /// AMQP 0.9.1 (RabbitMQ, fedora-messaging) on `amqp_url`'s broker and `messaging_exchange`.
    #[default]
    Amqp,
    /// AMQP 1.0 (ActiveMQ Artemis, UMB, RabbitMQ's plugin) on `messaging_broker_urls`. The
    /// reference calls it `rhmsg`, after the library it uses.
    #[serde(alias = "rhmsg")]
    Amqp1,
    /// STOMP 1.2 (UMB, ActiveMQ, RabbitMQ's plugin) on `messaging_broker_urls`.
    Stomp,
}

impl MessagingBackend {
    /// The URL schemes its brokers are named with.
    pub fn schemes(self) -> &'static [&'static str] {
        match self {
            MessagingBackend::Amqp => &["amqp", "amqps"],
            MessagingBackend::Amqp1 => &["amqp", "amqps"],
            MessagingBackend::Stomp => &["stomp", "stomp+ssl", "stomps"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            MessagingBackend::Amqp => "amqp",
            MessagingBackend::Amqp1 => "amqp1",
            MessagingBackend::Stomp => "stomp",
        }
    }
}

impl Default for MessagingConfig {
    fn default() -> Self {
        MessagingConfig {
            amqp_url: String::new(),
            exchange: "amq.topic".into(),
            topic_prefix: String::new(),
            topic: "odcs.state.change".into(),
            queue_routes: BTreeMap::from([(
                "pulp_composes".to_owned(),
                BTreeMap::from([("source_type".to_owned(), serde_json::json!([4]))]),
            )]),
            default_queue: "pungi_composes".into(),
            backend: MessagingBackend::Amqp,
            broker_urls: Vec::new(),
            address: String::new(),
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            ca_cert: PathBuf::new(),
        }
    }
}

impl MessagingConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let amqp_ok = self.amqp_url.is_empty()
            || self.amqp_url.starts_with("amqp://")
            || self.amqp_url.starts_with("amqps://");
        if !amqp_ok {
            return Err(invalid("amqp_url", "must start with amqp:// or amqps://"));
        }
        if self.backend != MessagingBackend::Amqp {
            let backend = self.backend.name();
            if self.broker_urls.is_empty() {
                return Err(invalid(
                    "messaging_broker_urls",
                    format!("must name at least one broker for messaging_backend {backend}"),
                ));
            }
            let schemes = self.backend.schemes();
            let wrong = self.broker_urls.iter().find(|u| {
                url::Url::parse(u).map_or(true, |parsed| !schemes.contains(&parsed.scheme()))
            });
            if let Some(url) = wrong {
                return Err(invalid(
                    "messaging_broker_urls",
                    format!(
                        "{} is not a {} URL for messaging_backend {backend}",
                        crate::redact::redact(url),
                        schemes.join("://, ") + "://"
                    ),
                ));
            }
            if !self.address.is_empty() && !self.address.contains("{topic}") {
                return Err(invalid("messaging_address", "must contain {topic}"));
            }
        }
        if self.cert_file.as_os_str().is_empty() != self.key_file.as_os_str().is_empty() {
            return Err(invalid(
                "messaging_cert_file",
                "messaging_cert_file and messaging_key_file go together",
            ));
        }
        for (queue, rules) in &self.queue_routes {
            for (property, rule) in rules {
                let key = format!("queue_routes.{queue}.{property}");
                match rule {
                    serde_json::Value::Array(_) => {}
                    serde_json::Value::String(pattern) => {
                        regex::Regex::new(pattern).map_err(|e| invalid(&key, e.to_string()))?;
                    }
                    _ => return Err(invalid(&key, "must be a list of values or a regex")),
                }
            }
        }
        Ok(())
    }

    /// Whether this deployment runs standalone: no broker, the in-process queue.
    pub fn is_standalone(&self) -> bool {
        self.amqp_url.is_empty()
    }

    /// The client certificate and key files, when set.
    pub fn client_certificate(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        let set = |p: &PathBuf| !p.as_os_str().is_empty();
        (set(&self.cert_file) && set(&self.key_file))
            .then_some((self.cert_file.as_path(), self.key_file.as_path()))
    }

    /// The CA bundle file, when set.
    pub fn ca_bundle(&self) -> Option<&std::path::Path> {
        (!self.ca_cert.as_os_str().is_empty()).then_some(self.ca_cert.as_path())
    }

    /// Whether state-change messages go to a bus; if not, they are only kept as the composes'
    /// state history (and served as events).
    pub fn publishes(&self) -> bool {
        match self.backend {
            MessagingBackend::Amqp => !self.amqp_url.is_empty(),
            MessagingBackend::Amqp1 | MessagingBackend::Stomp => !self.broker_urls.is_empty(),
        }
    }

    /// The address (AMQP 1.0) or destination (STOMP) of messages on `topic`.
    pub fn address_of(&self, topic: &str) -> String {
        let template = match (self.address.as_str(), self.backend) {
            ("", MessagingBackend::Amqp1) => "topic://{topic}",
            ("", _) => "/topic/{topic}",
            (configured, _) => configured,
        };
        template.replace("{topic}", topic)
    }
}
