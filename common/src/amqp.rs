//! AMQP (RabbitMQ) plumbing shared by the frontend (publishing jobs), the workers (consuming
//! them) and the relay (publishing state-change messages): one way to connect, to declare the
//! durable queues and to publish with publisher confirms.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use thiserror::Error;

use crate::messaging::{ComposeJob, HeaderValue, OutgoingMessage};

/// Why talking to the broker failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AmqpError {
    /// The broker could not be reached or closed the connection.
    #[error("AMQP broker {url}: {source}")]
    Broker {
        /// The broker URL, password redacted.
        url: String,
        /// What lapin said.
        #[source]
        source: lapin::Error,
    },
    /// A channel operation failed.
    #[error("AMQP: {0}")]
    Channel(#[from] lapin::Error),
    /// The broker refused (nacked) a published message.
    #[error("AMQP broker did not accept the message")]
    Nacked,
    /// The broker returned a message no queue took (the queue was deleted).
    #[error("AMQP broker has no queue {0} for the message")]
    Unroutable(String),
}

pub use crate::redact::redact;

/// Opens a connection to the broker at `url`.
pub async fn connect(url: &str) -> Result<Connection, AmqpError> {
    Connection::connect(url, ConnectionProperties::default())
        .await
        .map_err(|source| AmqpError::Broker {
            url: redact(url),
            source,
        })
}

/// A channel in publisher-confirm mode.
pub async fn confirm_channel(conn: &Connection) -> Result<Channel, AmqpError> {
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// Declares `queue` durable (idempotent).
pub async fn declare_queue(channel: &Channel, queue: &str) -> Result<(), AmqpError> {
    channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// How many messages wait in `queue` (which must exist: a passive declaration).
pub async fn queue_length(channel: &Channel, queue: &str) -> Result<u32, AmqpError> {
    let declared = channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(declared.message_count())
}

/// Persistent delivery mode.
const PERSISTENT: u8 = 2;

/// Publishes `job` to `queue`, which must have been declared ([`declare_queue`]), persistent
/// and mandatory, and waits for the broker to confirm it; a message no queue took (the queue
/// was deleted since) is an error, not a silent loss. Several publishes may wait on one channel
/// at once.
pub async fn publish_job(channel: &Channel, queue: &str, job: ComposeJob) -> Result<(), AmqpError> {
    let body = serde_json::to_vec(&job).unwrap_or_default();
    let confirm = channel
        .basic_publish(
            "",
            queue,
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &body,
            BasicProperties::default()
                .with_delivery_mode(PERSISTENT)
                .with_content_type(ShortString::from("application/json")),
        )
        .await?
        .await?;
    if confirm.is_nack() {
        return Err(AmqpError::Nacked);
    }
    if confirm.take_message().is_some() {
        return Err(AmqpError::Unroutable(queue.to_owned()));
    }
    Ok(())
}

/// Publishes a state-change message to `exchange` and waits for the broker's confirmation.
/// Properties and headers are those fedora-messaging consumers expect.
pub async fn publish_message(
    channel: &Channel,
    exchange: &str,
    message: &OutgoingMessage<'_>,
) -> Result<(), AmqpError> {
    let mut headers = FieldTable::default();
    // A field table key is an AMQP short string: at most 255 bytes.
    for (name, value) in message
        .headers()
        .into_iter()
        .filter(|(n, _)| n.len() <= 255)
    {
        let value = match value {
            HeaderValue::Text(text) => AMQPValue::LongString(LongString::from(text)),
            HeaderValue::Int(n) => AMQPValue::LongLongInt(n),
            HeaderValue::Bool(b) => AMQPValue::Boolean(b),
        };
        headers.insert(name.into(), value);
    }
    let confirm = channel
        .basic_publish(
            exchange,
            message.topic,
            BasicPublishOptions::default(),
            message.body.as_bytes(),
            BasicProperties::default()
                .with_delivery_mode(PERSISTENT)
                .with_content_type(ShortString::from("application/json"))
                .with_content_encoding(ShortString::from("utf-8"))
                .with_message_id(ShortString::from(message.message_id))
                .with_headers(headers),
        )
        .await?
        .await?;
    if confirm.is_nack() {
        return Err(AmqpError::Nacked);
    }
    Ok(())
}
