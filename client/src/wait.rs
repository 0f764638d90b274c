//! Waiting for a compose to finish: polling with the reference client's back-off, or
//! listening to the server's state-change messages.

use std::time::{Duration, Instant};

use crate::client::Client;
use crate::error::ClientError;
use odcs_common::api::ComposeJson as Compose;
use odcs_common::compose::ComposeId;

/// What a waiting client reports while it waits.
pub trait Progress {
    /// The compose was (re)read.
    fn state(&mut self, compose: &Compose, elapsed: Duration);
    /// New compose log text.
    fn log(&mut self, text: &str);
    /// A state-change message arrived for the compose (it is read again next).
    fn message(&mut self, _state: &str) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn state(&mut self, _: &Compose, _: Duration) {}
    fn log(&mut self, _: &str) {}
}

/// The poll intervals the reference client uses: 1 s, growing ×1.5 (rounded half to even, as
/// Python rounds), never past the
/// time left.
pub fn next_interval(current: Duration, elapsed: Duration, timeout: Duration) -> Duration {
    let grown =
        Duration::from_secs((current.as_secs_f64() * 1.5).round_ties_even().max(1.0) as u64);
    let left = timeout.saturating_sub(elapsed);
    grown.min(left)
}

/// Where the server publishes state changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSettings {
    /// `amqp://user:password@host:5672/vhost`.
    pub url: String,
    /// The topic exchange (the server's `messaging_exchange`).
    pub exchange: String,
    /// The routing key (the server's prefix + `messaging_topic`).
    pub topic: String,
}

impl BrokerSettings {
    /// The URL without credentials, for messages.
    pub fn redacted_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) => {
                let _ = u.set_password(None);
                let _ = u.set_username("");
                u.to_string()
            }
            Err(_) => "the broker".into(),
        }
    }
}

/// How to wait.
#[derive(Debug, Clone, Default)]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// Also tail the compose log.
    pub watch_log: bool,
    /// Listen for state-change messages on this broker instead of polling (checking the
    /// compose again at least every 30 s in case a message is lost). Needs the `amqp`
    /// feature.
    pub broker: Option<BrokerSettings>,
}

/// Waits until compose `id` leaves `wait` and `generating`; returns it then, or
/// [`ClientError::Timeout`].
pub async fn wait_for_compose(
    client: &Client,
    id: ComposeId,
    options: &WaitOptions,
    progress: &mut dyn Progress,
) -> Result<Compose, ClientError> {
    let started = Instant::now();
    #[cfg(feature = "amqp")]
    let mut listener = match &options.broker {
        Some(settings) => Some(crate::amqp::StateListener::connect(settings, id).await?),
        None => None,
    };
    #[cfg(not(feature = "amqp"))]
    if options.broker.is_some() {
        return Err(ClientError::Config(
            "this client was built without the amqp feature: wait by polling instead".into(),
        ));
    }
    let mut interval = Duration::from_secs(1);
    let mut log_offset = 0u64;
    loop {
        let compose = client.get(id).await?;
        progress.state(&compose, started.elapsed());
        if options.watch_log {
            if let Some(text) = client.read_log(&compose, log_offset).await? {
                if !text.is_empty() {
                    log_offset += text.len() as u64;
                    progress.log(&text);
                }
            }
        }
        if !compose.is_pending() {
            return Ok(compose);
        }
        let elapsed = started.elapsed();
        if elapsed >= options.timeout {
            return Err(ClientError::Timeout {
                id,
                seconds: options.timeout.as_secs(),
                state: compose.state_name,
            });
        }
        let left = options.timeout.saturating_sub(elapsed);
        #[cfg(feature = "amqp")]
        if let Some(listener) = listener.as_mut() {
            // A message about this compose (or a quiet 30 s, or the log to tail) wakes us.
            let nap = if options.watch_log {
                Duration::from_secs(2)
            } else {
                Duration::from_secs(30)
            };
            if let Some(state) = listener.next_change(nap.min(left)).await? {
                progress.message(&state);
            }
            continue;
        }
        let sleep = if options.watch_log {
            Duration::from_secs(2).min(left)
        } else {
            interval.min(left)
        };
        tokio::time::sleep(sleep).await;
        interval = next_interval(interval, started.elapsed(), options.timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_grow_like_the_reference_and_stop_at_the_deadline() {
        let s = Duration::from_secs;
        let mut interval = s(1);
        let mut seen = vec![1];
        for elapsed in [1, 3, 6, 11] {
            interval = next_interval(interval, s(elapsed), s(300));
            seen.push(interval.as_secs());
        }
        assert_eq!(seen, [1, 2, 3, 4, 6]);
        assert_eq!(next_interval(s(9), s(295), s(300)), s(5));
        assert_eq!(next_interval(s(9), s(301), s(300)), s(0));
    }
}
