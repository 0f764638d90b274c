//! Waiting on the server's state-change messages (`odcs.state.change` on a topic exchange)
//! instead of polling.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, Consumer};

use odcs_common::compose::ComposeId;

use crate::error::ClientError;
use crate::wait::BrokerSettings;

/// A private queue bound to the state-change topic, filtered to one compose.
pub struct StateListener {
    _connection: Connection,
    consumer: Consumer,
    id: ComposeId,
    broker: String,
}

impl StateListener {
    /// Connects and binds a private, auto-deleted queue before the first poll, so no change
    /// after it is missed.
    pub async fn connect(
        settings: &BrokerSettings,
        id: ComposeId,
    ) -> Result<StateListener, ClientError> {
        let broker = settings.redacted_url();
        let failed = |e: lapin::Error| ClientError::Broker {
            url: broker.clone(),
            reason: e.to_string(),
        };
        let connection = Connection::connect(&settings.url, ConnectionProperties::default())
            .await
            .map_err(failed)?;
        let channel = connection.create_channel().await.map_err(failed)?;
        let queue = channel
            .queue_declare(
                "",
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(failed)?;
        channel
            .queue_bind(
                queue.name().as_str(),
                &settings.exchange,
                &settings.topic,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(failed)?;
        let consumer = channel
            .basic_consume(
                queue.name().as_str(),
                "odcs-client",
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(failed)?;
        Ok(StateListener {
            _connection: connection,
            consumer,
            id,
            broker,
        })
    }

    /// Waits up to `limit` for a message about this compose; returns its new state name, or
    /// `None` when the time passed without one.
    pub async fn next_change(&mut self, limit: Duration) -> Result<Option<String>, ClientError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.consumer.next()).await;
            let delivery = match next {
                Err(_) => return Ok(None),
                Ok(None) => {
                    return Err(ClientError::Broker {
                        url: self.broker.clone(),
                        reason: "the subscription ended".into(),
                    })
                }
                Ok(Some(Err(e))) => {
                    return Err(ClientError::Broker {
                        url: self.broker.clone(),
                        reason: e.to_string(),
                    })
                }
                Ok(Some(Ok(delivery))) => delivery,
            };
            let Ok(body) = serde_json::from_slice::<serde_json::Value>(&delivery.data) else {
                continue;
            };
            let compose = &body["compose"];
            if compose["id"].as_i64() == Some(i64::from(self.id.get())) {
                return Ok(compose["state_name"].as_str().map(str::to_owned));
            }
        }
    }
}
