//! Running workers: consuming jobs from RabbitMQ, or from the in-process queue in standalone
//! mode. Either way a job is acknowledged only after its outcome is committed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use odcs_common::amqp;
use odcs_common::compose::ComposeId;
use odcs_common::messaging::ComposeJob;
use tokio::sync::watch;

use odcs_common::dispatch::LocalQueue;

use crate::pipeline::{JobOutcome, Worker};

/// Longest wait for the broker to take an ack or nack.
const SETTLE: Duration = Duration::from_secs(5);

/// Pause before a job that hit a transient error is handed back.
const RETRY_DELAY: Duration = Duration::from_secs(2);

/// Builds the worker for one job slot.
pub type WorkerFactory = Arc<dyn Fn(usize) -> Worker + Send + Sync>;

/// Consumes `queues` on the broker at `url` with `concurrency` slots until `stop` is set, then
/// lets the jobs in progress finish.
///
/// Each slot has its own channel with a prefetch of one: the broker hands a slot a job only
/// when it is free, so no delivery waits in this process behind a running compose, and other
/// workers get it instead. A slot whose connection dropped finishes its compose, then
/// reconnects; free slots reconnect at once, without waiting for the busy ones.
pub async fn consume_amqp(
    url: &str,
    queues: &[String],
    concurrency: u16,
    factory: WorkerFactory,
    stop: watch::Receiver<bool>,
) {
    let connection = Arc::new(tokio::sync::Mutex::new(None::<lapin::Connection>));
    let mut slots = tokio::task::JoinSet::new();
    for slot in 0..usize::from(concurrency) {
        let (url, queues, factory, stop, connection) = (
            url.to_owned(),
            queues.to_vec(),
            factory.clone(),
            stop.clone(),
            connection.clone(),
        );
        slots.spawn(async move {
            run_slot(&url, &queues, slot, &factory, stop, &connection).await;
        });
    }
    while slots.join_next().await.is_some() {}
    let connection = connection.lock().await.take();
    if let Some(conn) = connection.filter(|c| c.status().connected()) {
        // Closing a connection the broker already dropped can wait forever: bound it.
        let _ = tokio::time::timeout(SETTLE, conn.close(200, "worker stopping")).await;
    }
}

/// The shared connection, connected again when it dropped.
async fn connected(
    url: &str,
    connection: &tokio::sync::Mutex<Option<lapin::Connection>>,
) -> Result<lapin::Channel, amqp::AmqpError> {
    let mut shared = connection.lock().await;
    if shared.as_ref().is_none_or(|c| !c.status().connected()) {
        *shared = Some(amqp::connect(url).await?);
    }
    let Some(conn) = shared.as_ref() else {
        return Err(amqp::AmqpError::Nacked);
    };
    Ok(conn.create_channel().await?)
}

/// One slot: a channel taking one job at a time, until `stop` is set.
async fn run_slot(
    url: &str,
    queues: &[String],
    slot: usize,
    factory: &WorkerFactory,
    mut stop: watch::Receiver<bool>,
    connection: &tokio::sync::Mutex<Option<lapin::Connection>>,
) {
    while !*stop.borrow() {
        let deliveries = async {
            let channel = connected(url, connection).await?;
            channel
                .basic_qos(1, BasicQosOptions { global: true })
                .await?;
            let mut streams = Vec::new();
            for queue in queues {
                amqp::declare_queue(&channel, queue).await?;
                streams.push(
                    channel
                        .basic_consume(
                            queue,
                            &format!("odcs-worker-{}-{slot}-{queue}", std::process::id()),
                            BasicConsumeOptions::default(),
                            FieldTable::default(),
                        )
                        .await?,
                );
            }
            Ok::<_, amqp::AmqpError>((channel, futures_util::stream::select_all(streams)))
        }
        .await;
        let (channel, mut deliveries) = match deliveries {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(slot, error = %e, "broker unreachable; retrying");
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(RETRY_DELAY) => continue,
                }
            }
        };
        loop {
            let delivery = tokio::select! {
                _ = stop.changed() => break,
                next = deliveries.next() => next,
            };
            let delivery = match delivery {
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    tracing::warn!(slot, error = %e, "broker connection lost; reconnecting");
                    break;
                }
                None => {
                    tracing::warn!(slot, "consumer cancelled by the broker; reconnecting");
                    break;
                }
            };
            handle(delivery, factory(slot)).await;
        }
        if channel.status().connected() {
            let _ = tokio::time::timeout(SETTLE, channel.close(200, "slot stopping")).await;
        }
    }
}

/// Generates the compose of one delivery and settles it: acknowledged once its outcome is
/// committed (or it cannot be processed again), handed back when the database was away.
async fn handle(delivery: lapin::message::Delivery, worker: Worker) {
    let Ok(job) = serde_json::from_slice::<ComposeJob>(&delivery.data) else {
        tracing::error!(body = %String::from_utf8_lossy(&delivery.data), "undecodable job rejected");
        let _ = delivery
            .acker
            .reject(BasicRejectOptions { requeue: false })
            .await;
        return;
    };
    let outcome = tokio::task::spawn_blocking(move || worker.process(job.compose_id)).await;
    // An ack on a connection the broker dropped may never complete: bound it. The outcome is
    // already committed; the broker redelivers the job, which is skipped.
    match outcome {
        Ok(Ok(outcome)) => {
            log_outcome(job.compose_id, &outcome);
            let _ =
                tokio::time::timeout(SETTLE, delivery.acker.ack(BasicAckOptions::default())).await;
        }
        Ok(Err(e)) => {
            tracing::warn!(compose.id = %job.compose_id, error = %e, "transient failure; job handed back");
            tokio::time::sleep(RETRY_DELAY).await;
            let requeue = BasicNackOptions {
                requeue: true,
                ..Default::default()
            };
            let _ = tokio::time::timeout(SETTLE, delivery.acker.nack(requeue)).await;
        }
        Err(e) => {
            // The compose stays generating under a lease nobody renews: the beat recovers it,
            // a bounded number of times. Handing the job back would only repeat the panic.
            tracing::error!(compose.id = %job.compose_id, error = %e, "job panicked; left to the beat");
            let _ =
                tokio::time::timeout(SETTLE, delivery.acker.ack(BasicAckOptions::default())).await;
        }
    }
}

fn log_outcome(id: ComposeId, outcome: &JobOutcome) {
    match outcome {
        JobOutcome::Done => tracing::info!(compose.id = %id, "job done"),
        JobOutcome::Failed(reason) => tracing::info!(compose.id = %id, %reason, "job failed"),
        JobOutcome::Requeued(reason) => {
            tracing::warn!(compose.id = %id, %reason, "job failed transiently; compose back in the queue")
        }
        JobOutcome::Skipped => tracing::info!(compose.id = %id, "job skipped: compose not waiting"),
        JobOutcome::Reused(old) => {
            tracing::info!(compose.id = %id, reused.id = %old, "job done by reuse")
        }
    }
}

/// Runs `concurrency` worker threads on the in-process queue until `stop` is set.
pub fn run_local(
    queue: LocalQueue,
    concurrency: u16,
    factory: WorkerFactory,
    stop: watch::Receiver<bool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..usize::from(concurrency))
        .map(|slot| {
            let queue = queue.clone();
            let factory = factory.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let worker = factory(slot);
                while !*stop.borrow() {
                    let Some(job) = queue.next(Duration::from_millis(200)) else {
                        continue;
                    };
                    // A panic outside generation (which catches its own) must not end the
                    // slot: the compose is recovered by the beat, the slot goes on.
                    let processed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        worker.process(job.compose_id)
                    }));
                    let Ok(processed) = processed else {
                        tracing::error!(compose.id = %job.compose_id, "job panicked; left to the beat");
                        continue;
                    };
                    match processed {
                        Ok(outcome) => log_outcome(job.compose_id, &outcome),
                        Err(e) => {
                            tracing::warn!(compose.id = %job.compose_id, error = %e, "transient failure; job handed back");
                            std::thread::sleep(RETRY_DELAY);
                            // If even this fails the compose stays in wait for the beat.
                            let _ = queue.push(job);
                        }
                    }
                }
            })
        })
        .collect()
}
