//! Handing compose jobs to workers: through RabbitMQ (durable queues chosen by the routing
//! rules, persistent messages, publisher confirms), or through an in-process queue in
//! standalone mode. A failed dispatch loses nothing: the compose stays in `wait` and the beat
//! job dispatches it again.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use lapin::{Channel, Connection};
use odcs_common::amqp::{self, AmqpError};
use odcs_common::config::Config;
use odcs_common::messaging::{queue_for, ComposeJob};
use thiserror::Error;

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
}

/// The in-process queue of standalone mode.
#[derive(Clone)]
pub struct LocalQueue {
    tx: Sender<ComposeJob>,
    rx: Arc<Mutex<Receiver<ComposeJob>>>,
}

impl LocalQueue {
    /// An empty queue.
    pub fn new() -> LocalQueue {
        let (tx, rx) = std::sync::mpsc::channel();
        LocalQueue {
            tx,
            rx: Arc::new(Mutex::new(rx)),
        }
    }

    /// Puts a job (back) on the queue.
    pub fn push(&self, job: ComposeJob) -> Result<(), DispatchError> {
        self.tx.send(job).map_err(|_| DispatchError::Closed)
    }

    /// Waits up to `timeout` for the next job.
    pub fn next(&self, timeout: std::time::Duration) -> Option<ComposeJob> {
        self.rx.lock().ok()?.recv_timeout(timeout).ok()
    }
}

impl Default for LocalQueue {
    fn default() -> Self {
        LocalQueue::new()
    }
}

/// A lazily (re)connected publisher of compose jobs.
pub struct AmqpPublisher {
    url: String,
    link: tokio::sync::Mutex<Option<(Connection, Channel)>>,
}

impl AmqpPublisher {
    /// A publisher for the broker at `url`; it connects on first use.
    pub fn new(url: &str) -> AmqpPublisher {
        AmqpPublisher {
            url: url.to_owned(),
            link: tokio::sync::Mutex::new(None),
        }
    }

    async fn publish(&self, queue: &str, job: ComposeJob) -> Result<(), AmqpError> {
        let mut link = self.link.lock().await;
        if link
            .as_ref()
            .is_none_or(|(conn, _)| !conn.status().connected())
        {
            let conn = amqp::connect(&self.url).await?;
            let channel = amqp::confirm_channel(&conn).await?;
            *link = Some((conn, channel));
        }
        let Some((_, channel)) = link.as_ref() else {
            return Err(AmqpError::Nacked);
        };
        let result = amqp::publish_job(channel, queue, job).await;
        if result.is_err() {
            // Start over with a fresh connection next time.
            *link = None;
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
        if config.amqp_url.is_empty() {
            Dispatcher::Local(LocalQueue::new())
        } else {
            Dispatcher::Amqp(Box::new(AmqpPublisher::new(&config.amqp_url)))
        }
    }

    /// Hands the job of the compose shown as `compose` (its API JSON) to its queue.
    pub async fn dispatch(
        &self,
        config: &Config,
        compose: &serde_json::Value,
    ) -> Result<(), DispatchError> {
        let id = compose["id"].as_i64().unwrap_or_default() as i32;
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
