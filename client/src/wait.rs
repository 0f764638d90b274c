//! Waiting for a compose to finish: on the server's event stream when it has one, on the
//! message bus when one is configured, else polling with the reference client's back-off.

use std::time::{Duration, Instant};

use crate::client::Client;
use crate::error::ClientError;
use crate::events::Opened;
use odcs_common::api::ComposeJson as Compose;
use odcs_common::compose::ComposeId;

/// What a waiting client reports while it waits.
pub trait Progress {
    /// The compose was (re)read.
    fn state(&mut self, compose: &Compose, elapsed: Duration);
    /// New compose log text.
    fn log(&mut self, text: &str);
    /// A state-change message or event arrived for the compose.
    fn message(&mut self, _state: &str) {}
    /// The wait listens to the server's event stream, or the broker, at `url`.
    fn listening(&mut self, _url: &str) {}
}

/// How long a wait on events or messages goes without reading the compose itself, in case a
/// change goes unheard (a lost message; an SQLite store written by workers in other processes).
pub const EVENTS_CHECK: Duration = Duration::from_secs(30);

/// How often the compose log is read while it is tailed.
const LOG_INTERVAL: Duration = Duration::from_secs(2);

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

/// What wakes a waiting client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WaitVia {
    /// The server's event stream when it offers one, else the bus when a broker is
    /// configured, else polling.
    #[default]
    Auto,
    /// The server's event stream (polling a server without one).
    Events,
    /// The bus (a broker must be configured).
    Bus,
    /// Polling, as the reference client does.
    Polling,
}

/// How to wait.
#[derive(Debug, Clone, Default)]
pub struct WaitOptions {
    /// What wakes the client.
    pub via: WaitVia,
    /// Give up after this long.
    pub timeout: Duration,
    /// Also tail the compose log.
    pub watch_log: bool,
    /// The broker to listen to state-change messages on (checking the compose again at least
    /// every 30 s in case a message is lost), when [`WaitVia`] chooses the bus. Needs the
    /// `amqp` feature.
    pub broker: Option<BrokerSettings>,
}

/// Where a wait is.
struct Waited {
    started: Instant,
    log_offset: u64,
    state: String,
}

impl Waited {
    /// Reports `compose` and any new log text; the compose when it is no longer pending.
    async fn saw(
        &mut self,
        client: &Client,
        compose: Compose,
        options: &WaitOptions,
        progress: &mut dyn Progress,
    ) -> Result<Option<Compose>, ClientError> {
        progress.state(&compose, self.started.elapsed());
        self.state.clone_from(&compose.state_name);
        if options.watch_log {
            self.tail(client, &compose, progress).await?;
        }
        Ok((!compose.is_pending()).then_some(compose))
    }

    /// Reports the compose log's new text.
    async fn tail(
        &mut self,
        client: &Client,
        compose: &Compose,
        progress: &mut dyn Progress,
    ) -> Result<(), ClientError> {
        if let Some(text) = client.read_log(compose, self.log_offset).await? {
            if !text.is_empty() {
                self.log_offset += text.len() as u64;
                progress.log(&text);
            }
        }
        Ok(())
    }

    /// The time left, or [`ClientError::Timeout`] when there is none.
    fn left(&self, id: ComposeId, options: &WaitOptions) -> Result<Duration, ClientError> {
        let left = options.timeout.saturating_sub(self.started.elapsed());
        if left.is_zero() {
            return Err(ClientError::Timeout {
                id,
                seconds: options.timeout.as_secs(),
                state: self.state.clone(),
            });
        }
        Ok(left)
    }
}

/// Waits until compose `id` leaves `wait` and `generating`; returns it then, or
/// [`ClientError::Timeout`].
pub async fn wait_for_compose(
    client: &Client,
    id: ComposeId,
    options: &WaitOptions,
    progress: &mut dyn Progress,
) -> Result<Compose, ClientError> {
    let mut waited = Waited {
        started: Instant::now(),
        log_offset: 0,
        state: "unknown".into(),
    };
    if matches!(options.via, WaitVia::Auto | WaitVia::Events) {
        if let Some(compose) = wait_on_events(client, id, options, progress, &mut waited).await? {
            return Ok(compose);
        }
    }
    let broker = match (options.via, &options.broker) {
        (WaitVia::Auto | WaitVia::Bus, Some(broker)) => Some(broker),
        (WaitVia::Bus, None) => {
            return Err(ClientError::Config(
                "waiting on the bus needs a broker (amqp_url)".into(),
            ))
        }
        _ => None,
    };
    #[cfg(feature = "amqp")]
    let mut listener = match broker {
        Some(settings) => {
            progress.listening(&settings.redacted_url());
            Some(crate::amqp::StateListener::connect(settings, id).await?)
        }
        None => None,
    };
    #[cfg(not(feature = "amqp"))]
    if broker.is_some() {
        return Err(ClientError::Config(
            "this client was built without the amqp feature: wait by polling instead".into(),
        ));
    }
    let mut interval = Duration::from_secs(1);
    loop {
        let compose = client.get(id).await?;
        if let Some(done) = waited.saw(client, compose, options, progress).await? {
            return Ok(done);
        }
        let left = waited.left(id, options)?;
        let nap = if options.watch_log {
            LOG_INTERVAL
        } else {
            interval
        };
        #[cfg(feature = "amqp")]
        if let Some(listener) = listener.as_mut() {
            // A message about this compose (or a quiet 30 s, or the log to tail) wakes us.
            let nap = if options.watch_log {
                LOG_INTERVAL
            } else {
                EVENTS_CHECK
            };
            if let Some(state) = listener.next_change(nap.min(left)).await? {
                progress.message(&state);
            }
            continue;
        }
        tokio::time::sleep(nap.min(left)).await;
        interval = next_interval(interval, waited.started.elapsed(), options.timeout);
    }
}

/// Waits on compose `id`'s event stream, reconnecting after the last event when the
/// connection drops; `None` when the server offers no event streams.
async fn wait_on_events(
    client: &Client,
    id: ComposeId,
    options: &WaitOptions,
    progress: &mut dyn Progress,
    waited: &mut Waited,
) -> Result<Option<Compose>, ClientError> {
    let mut last_event_id: Option<String> = None;
    let mut listening = false;
    loop {
        let left = waited.left(id, options)?;
        let opened = client
            .compose_events(id, last_event_id.as_deref(), left + Duration::from_secs(5))
            .await;
        let mut events = match opened {
            Ok(Opened::Stream(events)) => events,
            Ok(Opened::NothingMore) => {
                let compose = client.get(id).await?;
                return waited.saw(client, compose, options, progress).await;
            }
            Ok(Opened::NotOffered) => return Ok(None),
            // The first connection fails as a request would; a reconnection is tried again.
            Err(e) if !listening => return Err(e),
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1).min(left)).await;
                continue;
            }
        };
        if !listening {
            progress.listening(&format!("{}api/1/composes/{id}/events", client.server()));
            listening = true;
        }
        let mut checked = Instant::now();
        let mut latest: Option<Compose> = None;
        loop {
            let left = waited.left(id, options)?;
            let nap = if options.watch_log {
                LOG_INTERVAL
            } else {
                EVENTS_CHECK
            };
            match tokio::time::timeout(nap.min(left), events.next()).await {
                Ok(Ok(Some(change))) => {
                    progress.message(&change.compose.state_name);
                    if !change.compose.is_pending() {
                        // The stored compose, with what the event leaves out.
                        let compose = client.get(id).await?;
                        return waited.saw(client, compose, options, progress).await;
                    }
                    progress.state(&change.compose, waited.started.elapsed());
                    waited.state.clone_from(&change.compose.state_name);
                    latest = Some(change.compose);
                }
                // The stream ended or broke: resume after the last event.
                Ok(Ok(None)) | Ok(Err(_)) => break,
                Err(_quiet) if checked.elapsed() >= EVENTS_CHECK => {
                    checked = Instant::now();
                    let compose = client.get(id).await?;
                    latest = Some(compose.clone());
                    if let Some(done) = waited.saw(client, compose, options, progress).await? {
                        return Ok(Some(done));
                    }
                }
                Err(_quiet) => {
                    if let (true, Some(compose)) = (options.watch_log, &latest) {
                        waited.tail(client, compose, progress).await?;
                    }
                }
            }
        }
        last_event_id = events.last_event_id().map(str::to_owned);
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
