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

/// Consumes `queues` on the broker at `url` with `concurrency` jobs at once, until `stop` is
/// set; then stops taking jobs and lets the ones in progress finish.
pub async fn consume_amqp(
    url: &str,
    queues: &[String],
    concurrency: u16,
    factory: WorkerFactory,
    mut stop: watch::Receiver<bool>,
) -> Result<(), amqp::AmqpError> {
    let conn = amqp::connect(url).await?;
    let channel = conn.create_channel().await?;
    channel
        .basic_qos(concurrency, BasicQosOptions::default())
        .await?;
    let mut streams = Vec::new();
    for queue in queues {
        amqp::declare_queue(&channel, queue).await?;
        let consumer = channel
            .basic_consume(
                queue,
                &format!("odcs-worker-{}-{queue}", std::process::id()),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        streams.push(consumer);
    }
    let mut deliveries = futures_util::stream::select_all(streams);
    let slots = Arc::new(tokio::sync::Semaphore::new(usize::from(concurrency)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut slot = 0usize;
    loop {
        let delivery = tokio::select! {
            _ = stop.changed() => break,
            next = deliveries.next() => next,
        };
        let Some(delivery) = delivery else { break };
        let delivery = match delivery {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "consumer stream failed");
                break;
            }
        };
        let Ok(job) = serde_json::from_slice::<ComposeJob>(&delivery.data) else {
            tracing::error!(body = %String::from_utf8_lossy(&delivery.data), "undecodable job rejected");
            let _ = delivery
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await;
            continue;
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        slot = slot.wrapping_add(1);
        let worker = factory(slot % usize::from(concurrency));
        tasks.spawn(async move {
            let outcome = tokio::task::spawn_blocking(move || worker.process(job.compose_id)).await;
            // An ack on a connection the broker dropped may never complete: bound it. The
            // outcome is already committed; the broker redelivers the job, which is skipped.
            match outcome {
                Ok(Ok(outcome)) => {
                    log_outcome(job.compose_id, &outcome);
                    let _ = tokio::time::timeout(SETTLE, delivery.acker.ack(BasicAckOptions::default())).await;
                }
                Ok(Err(e)) => {
                    tracing::warn!(compose.id = %job.compose_id, error = %e, "transient failure; job handed back");
                    tokio::time::sleep(RETRY_DELAY).await;
                    let _ = tokio::time::timeout(SETTLE, delivery.acker.nack(BasicNackOptions { requeue: true, ..Default::default() })).await;
                }
                Err(e) => {
                    tracing::error!(compose.id = %job.compose_id, error = %e, "job panicked; handed back");
                    let _ = tokio::time::timeout(SETTLE, delivery.acker.nack(BasicNackOptions { requeue: true, ..Default::default() })).await;
                }
            }
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    // Graceful stop: no new deliveries; unacked ones return to the queue when the channel
    // closes; jobs in progress finish and acknowledge first.
    while tasks.join_next().await.is_some() {}
    if conn.status().connected() {
        // Closing a connection the broker already dropped can wait forever: bound it.
        let close = async {
            let _ = channel.close(200, "worker stopping").await;
            let _ = conn.close(200, "worker stopping").await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), close).await;
    }
    Ok(())
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
                    match worker.process(job.compose_id) {
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
