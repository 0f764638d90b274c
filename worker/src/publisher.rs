//! Where the relay sends state-change messages: one connection to the bus, over the backend
//! `messaging_backend` chooses (AMQP 0.9.1, AMQP 1.0 or STOMP). Each publish returns only once
//! the broker has taken the message (a publisher confirm, an AMQP 1.0 `accepted` outcome, a
//! STOMP `RECEIPT`), so the relay marks a message published only when it cannot be lost.

mod amqp1;
mod stomp;
mod tls;

use odcs_common::amqp::{self, AmqpError};
use odcs_common::config::{MessagingBackend, MessagingConfig};
use odcs_common::messaging::OutgoingMessage;
use odcs_common::redact::redact;
use std::future::Future;
use std::time::Duration;
use thiserror::Error;

/// How long one broker may take to accept a connection before the next one is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a message could not be published; the relay keeps it and tries again.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The AMQP 0.9.1 broker failed.
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// The AMQP 1.0 broker failed.
    #[error(transparent)]
    Amqp1(#[from] amqp1::Amqp1Error),
    /// The STOMP broker failed.
    #[error(transparent)]
    Stomp(#[from] stomp::StompError),
}

/// An open connection to the bus.
pub enum Publisher {
    /// AMQP 0.9.1: a connection and a channel in confirm mode.
    Amqp(lapin::Connection, lapin::Channel),
    /// AMQP 1.0: a connection, a session and a sender per address.
    Amqp1(amqp1::Link),
    /// STOMP: a connection.
    Stomp(stomp::Link),
}

impl Publisher {
    /// Connects to the configured bus.
    pub async fn connect(config: &MessagingConfig) -> Result<Publisher, PublishError> {
        match config.backend {
            MessagingBackend::Amqp => {
                let conn = amqp::connect(&config.amqp_url).await?;
                let channel = amqp::confirm_channel(&conn).await?;
                Ok(Publisher::Amqp(conn, channel))
            }
            MessagingBackend::Amqp1 => Ok(Publisher::Amqp1(amqp1::Link::connect(config).await?)),
            MessagingBackend::Stomp => Ok(Publisher::Stomp(stomp::Link::connect(config).await?)),
        }
    }

    /// Whether the connection may still carry messages.
    pub fn is_open(&self) -> bool {
        match self {
            Publisher::Amqp(conn, _) => conn.status().connected(),
            Publisher::Amqp1(link) => link.is_open(),
            Publisher::Stomp(link) => link.is_open(),
        }
    }

    /// Publishes `message` and waits until the broker has it.
    pub async fn publish(
        &mut self,
        config: &MessagingConfig,
        message: &OutgoingMessage<'_>,
    ) -> Result<(), PublishError> {
        match self {
            Publisher::Amqp(_, channel) => {
                Ok(amqp::publish_message(channel, &config.exchange, message).await?)
            }
            Publisher::Amqp1(link) => Ok(link.publish(config, message).await?),
            Publisher::Stomp(link) => Ok(link.publish(config, message).await?),
        }
    }

    /// Closes the connection politely (the broker would notice a dropped one anyway).
    pub async fn close(self) {
        match self {
            Publisher::Amqp(conn, _) => {
                let _ = conn.close(200, "relay stopping").await;
            }
            Publisher::Amqp1(link) => link.close().await,
            Publisher::Stomp(link) => link.close().await,
        }
    }
}

/// What the failover over `messaging_broker_urls` needs to know of a backend's errors.
trait BrokerError: std::fmt::Display {
    /// The broker at `url` (password redacted) could not be reached.
    fn unreachable(url: String, message: String) -> Self;
    /// Whether the error is in our own settings (TLS files), so every broker would fail alike.
    fn is_settings(&self) -> bool;
}

/// Opens a link to the first broker of `urls` that answers within [`CONNECT_TIMEOUT`].
async fn first_answering<'a, L, E, F, Fut>(
    urls: &'a [String],
    protocol: &str,
    mut open: F,
) -> Result<L, E>
where
    E: BrokerError,
    F: FnMut(&'a str) -> Fut,
    Fut: Future<Output = Result<L, E>>,
{
    let mut last = E::unreachable(String::new(), "messaging_broker_urls is empty".into());
    for url in urls {
        match tokio::time::timeout(CONNECT_TIMEOUT, open(url)).await {
            Ok(Ok(link)) => return Ok(link),
            Ok(Err(e)) if e.is_settings() => return Err(e),
            Ok(Err(e)) => last = e,
            Err(_) => last = E::unreachable(redact(url), "no answer in time".into()),
        }
        tracing::debug!(broker = %redact(url), error = %last, "{protocol} broker unreachable");
    }
    Err(last)
}
