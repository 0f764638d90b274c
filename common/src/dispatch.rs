//! Handing compose jobs to workers: through RabbitMQ (durable queues chosen by the routing
//! rules, persistent messages, publisher confirms), or through an in-process queue in
//! standalone mode. A failed dispatch loses nothing: the compose stays in `wait` and the beat
//! job dispatches it again.
//!
//! The frontend and the beat publish through here; neither needs the workers' code to do so.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use lapin::{Channel, Connection};
use thiserror::Error;

use crate::amqp::{self, AmqpError};
use crate::compose::ComposeId;
use crate::config::Config;
use crate::messaging::{queue_for, ComposeJob};

/// Why a job could not be handed over.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The broker is unreachable or refused the job.
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// The in-process queue has no workers left.
    #[error("the in-process queue is closed")]
    Closed,
    /// The broker did not take the job in time (unreachable, or blocking publishers).
    #[error("the broker did not take the job within {0} seconds")]
    TimedOut(u64),
}

/// The longest a dispatch waits for the broker (connecting, publishing, confirming); the job
/// is dispatched again later (by the relay, then the beat) when it does not make it.
pub const DISPATCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the in-process queue is called where queues are named (metrics, worker heartbeats).
pub const IN_PROCESS_QUEUE: &str = "in-process";

/// How long the metrics wait for the broker to say how long a queue is.
const QUEUE_LENGTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The in-process queue of standalone mode.
#[derive(Clone)]
pub struct LocalQueue {
    tx: Sender<ComposeJob>,
    rx: Arc<Mutex<Receiver<ComposeJob>>>,
    waiting: Arc<AtomicUsize>,
}

impl LocalQueue {
    /// An empty queue.
    pub fn new() -> LocalQueue {
        let (tx, rx) = std::sync::mpsc::channel();
        LocalQueue {
            tx,
            rx: Arc::new(Mutex::new(rx)),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Puts a job (back) on the queue.
    pub fn push(&self, job: ComposeJob) -> Result<(), DispatchError> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        self.tx.send(job).map_err(|_| {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            DispatchError::Closed
        })
    }

    /// Waits up to `timeout` for the next job.
    pub fn next(&self, timeout: std::time::Duration) -> Option<ComposeJob> {
        let job = self.rx.lock().ok()?.recv_timeout(timeout).ok()?;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        Some(job)
    }

    /// How many jobs wait.
    pub fn len(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Whether no job waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for LocalQueue {
    fn default() -> Self {
        LocalQueue::new()
    }
}

/// The broker connection the publisher shares, with the queues it has declared on it.
struct Link {
    conn: Connection,
    channel: Channel,
    declared: HashSet<String>,
}

/// A lazily (re)connected publisher of compose jobs. Requests share one confirm channel: the
/// lock covers only (re)connecting and declaring a queue the first time, so publishes and
/// their confirms from concurrent requests overlap instead of queueing behind each other.
pub struct AmqpPublisher {
    url: String,
    link: tokio::sync::Mutex<Option<Link>>,
}

impl AmqpPublisher {
    /// A publisher for the broker at `url`; it connects on first use.
    pub fn new(url: &str) -> AmqpPublisher {
        AmqpPublisher {
            url: url.to_owned(),
            link: tokio::sync::Mutex::new(None),
        }
    }

    async fn publish(&self, queue: &str, job: ComposeJob) -> Result<(), DispatchError> {
        match tokio::time::timeout(DISPATCH_TIMEOUT, self.publish_now(queue, job)).await {
            Ok(result) => Ok(result?),
            Err(_) => {
                // Start over with a fresh connection next time.
                if let Ok(mut link) = self.link.try_lock() {
                    *link = None;
                }
                Err(DispatchError::TimedOut(DISPATCH_TIMEOUT.as_secs()))
            }
        }
    }

    /// The shared channel, connected and with `queue` declared on it.
    async fn channel_for(&self, queue: &str) -> Result<Channel, AmqpError> {
        let mut link = self.link.lock().await;
        let usable = link
            .as_ref()
            .is_some_and(|l| l.conn.status().connected() && l.channel.status().connected());
        if !usable {
            let conn = amqp::connect(&self.url).await?;
            let channel = amqp::confirm_channel(&conn).await?;
            *link = Some(Link {
                conn,
                channel,
                declared: HashSet::new(),
            });
        }
        let Some(link) = link.as_mut() else {
            return Err(AmqpError::Nacked);
        };
        if !link.declared.contains(queue) {
            amqp::declare_queue(&link.channel, queue).await?;
            link.declared.insert(queue.to_owned());
        }
        Ok(link.channel.clone())
    }

    /// How many jobs wait in `queue` (declaring it if it is not yet).
    async fn queue_length(&self, queue: &str) -> Result<u32, AmqpError> {
        let channel = self.channel_for(queue).await?;
        let length = amqp::queue_length(&channel, queue).await;
        if length.is_err() {
            *self.link.lock().await = None;
        }
        length
    }

    async fn publish_now(&self, queue: &str, job: ComposeJob) -> Result<(), AmqpError> {
        let channel = self.channel_for(queue).await?;
        let result = amqp::publish_job(&channel, queue, job).await;
        if result.is_err() {
            // Start over with a fresh connection (and declare the queue again) next time.
            *self.link.lock().await = None;
        }
        result
    }
}

/// Where jobs go.
pub enum Dispatcher {
    /// RabbitMQ.
    Amqp(Box<AmqpPublisher>),
    /// The in-process queue.
    Local(LocalQueue),
}

impl Dispatcher {
    /// The dispatcher `config` asks for: AMQP when `amqp_url` is set, else in-process.
    pub fn from_config(config: &Config) -> Dispatcher {
        if config.messaging.is_standalone() {
            Dispatcher::Local(LocalQueue::new())
        } else {
            Dispatcher::Amqp(Box::new(AmqpPublisher::new(&config.messaging.amqp_url)))
        }
    }

    /// How many jobs wait in each queue of `config` (the in-process queue in standalone mode);
    /// `None` for a queue the broker did not answer about in time.
    pub async fn queue_lengths(&self, config: &Config) -> Vec<(String, Option<u64>)> {
        match self {
            Dispatcher::Local(queue) => {
                vec![(IN_PROCESS_QUEUE.to_owned(), Some(queue.len() as u64))]
            }
            Dispatcher::Amqp(publisher) => {
                let mut lengths = Vec::new();
                for queue in crate::messaging::all_queues(config) {
                    let length =
                        tokio::time::timeout(QUEUE_LENGTH_TIMEOUT, publisher.queue_length(&queue))
                            .await;
                    let length = match length {
                        Ok(Ok(length)) => Some(u64::from(length)),
                        Ok(Err(e)) => {
                            tracing::warn!(queue, error = %e, "queue length unknown");
                            None
                        }
                        Err(_) => None,
                    };
                    lengths.push((queue, length));
                }
                lengths
            }
        }
    }

    /// Hands the job of the compose shown as `compose` (its API JSON) to its queue.
    pub async fn dispatch(
        &self,
        config: &Config,
        compose: &serde_json::Value,
    ) -> Result<(), DispatchError> {
        let id = ComposeId(compose["id"].as_i64().unwrap_or_default() as i32);
        let job = ComposeJob::new(id);
        match self {
            Dispatcher::Amqp(publisher) => {
                publisher.publish(&queue_for(config, compose), job).await?;
            }
            Dispatcher::Local(queue) => queue.push(job)?,
        }
        Ok(())
    }
}

/// Dispatches compose `id`'s job and records when; a failure is logged and left for the beat.
#[cfg(feature = "db")]
pub async fn dispatch(
    dispatcher: &Dispatcher,
    config: &Config,
    pool: &crate::db::DbPool,
    id: ComposeId,
) {
    use crate::db::lifecycle::mark_dispatched;
    use crate::db::models::Compose;
    use crate::db::view::compose_json;
    use crate::db::with_conn;

    let cfg = config.clone();
    let json = with_conn(pool, move |c| {
        Ok(Compose::find(c, id)?.map(|row| compose_json(&row, &cfg, false)))
    })
    .await;
    let json = match json {
        Ok(Some(json)) => json,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(compose.id = %id, error = %e, "cannot load compose to dispatch");
            return;
        }
    };
    let value = serde_json::to_value(&json).unwrap_or_default();
    if hand_over(dispatcher, config, &value).await {
        let now = crate::time::now();
        if let Err(e) = with_conn(pool, move |c| Ok(mark_dispatched(c, id, now)?)).await {
            tracing::warn!(compose.id = %id, error = %e, "dispatch not recorded");
        }
    }
}

/// Hands over the job of the compose shown as `compose` (its API JSON) without recording it:
/// for a caller that has the JSON at hand and records dispatches its own way (the frontend
/// records many in one statement). A failure is logged and left for the relay and the beat.
pub async fn hand_over(
    dispatcher: &Dispatcher,
    config: &Config,
    compose: &serde_json::Value,
) -> bool {
    match dispatcher.dispatch(config, compose).await {
        Ok(()) => true,
        Err(e) => {
            let id = compose["id"].as_i64().unwrap_or_default();
            tracing::warn!(compose.id = id, error = %e, "dispatch failed; the beat will retry");
            false
        }
    }
}
