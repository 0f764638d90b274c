//! The broker: where compose jobs are queued and state-change messages are published.

use std::collections::BTreeMap;

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
}
