//! Prometheus metrics: HTTP request counts and latencies, composes by source type and state,
//! raw_config composes by configuration, and the workers and queues (from the workers'
//! heartbeats and the broker), named as the reference names them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use chrono::NaiveDateTime;
use odcs_common::compose::{ComposeState, SourceType};
use odcs_common::db::models::{RawConfigCount, StateCount, WorkerHeartbeat};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::state::AppState;

/// What one scrape reports besides the request counts, read from the database and the broker.
pub struct Snapshot {
    /// Composes by source type and state.
    pub counts: Vec<StateCount>,
    /// raw_config composes by source and state.
    pub raw_config: Vec<RawConfigCount>,
    /// The worker processes known.
    pub workers: Vec<WorkerHeartbeat>,
    /// Jobs waiting per queue (`None`: the broker did not say).
    pub queues: Vec<(String, Option<u64>)>,
    /// Worker processes that should be alive.
    pub expected_workers: u32,
    /// The time of the scrape, which decides which workers are alive.
    pub now: NaiveDateTime,
}

/// The metrics of one server process.
pub struct Metrics {
    registry: Registry,
    workers_expected: IntGauge,
    workers_alive: IntGauge,
    workers: IntGaugeVec,
    queue_length: IntGaugeVec,
    queue_workers: IntGaugeVec,
    requests: IntCounterVec,
    latency: HistogramVec,
    composes: IntGaugeVec,
    raw_config_total: IntCounterVec,
    raw_config_counted: Mutex<BTreeMap<String, i64>>,
    raw_config: IntGaugeVec,
}

/// Sources composed fewer times than this are counted together per configuration, so one-off
/// commits do not each get a series (as the reference groups them).
const FEW_COMPOSES: i64 = 5;

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("odcs_http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "odcs_http_request_duration_seconds",
                "Time to answer HTTP requests",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route"],
        )?;
        // Named as the reference names it, so existing dashboards keep working.
        let composes = IntGaugeVec::new(
            Opts::new("composes_total", "Composes by source type and state"),
            &["source_type", "state"],
        )?;
        let raw_config_total = IntCounterVec::new(
            Opts::new(
                "raw_config_composes_count_total",
                "Total number of raw_config composes per source",
            ),
            &["source"],
        )?;
        let raw_config = IntGaugeVec::new(
            Opts::new(
                "raw_config_composes",
                "Count of raw config composes broken down by state. Removed composes are not \
                 counted.",
            ),
            &["source", "state"],
        )?;
        // The reference's Celery families, so its alerts keep working.
        let workers_expected =
            IntGauge::new("celery_workers_expected", "Number of expected workers")?;
        let workers_alive = IntGauge::new("celery_workers_totals", "Number of alive workers")?;
        let workers = IntGaugeVec::new(
            Opts::new(
                "celery_workers",
                "1 for a worker process alive, 0 for one gone quiet",
            ),
            &["worker_name"],
        )?;
        let queue_length = IntGaugeVec::new(
            Opts::new("celery_queue_length", "Number of tasks in the queue."),
            &["queue_name"],
        )?;
        let queue_workers = IntGaugeVec::new(
            Opts::new(
                "celery_queue_worker",
                "Number of workers consume tasks from the queue.",
            ),
            &["queue_name"],
        )?;
        registry.register(Box::new(workers_expected.clone()))?;
        registry.register(Box::new(workers_alive.clone()))?;
        registry.register(Box::new(workers.clone()))?;
        registry.register(Box::new(queue_length.clone()))?;
        registry.register(Box::new(queue_workers.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(composes.clone()))?;
        registry.register(Box::new(raw_config_total.clone()))?;
        registry.register(Box::new(raw_config.clone()))?;
        Ok(Metrics {
            registry,
            workers_expected,
            workers_alive,
            workers,
            queue_length,
            queue_workers,
            requests,
            latency,
            composes,
            raw_config_total,
            raw_config_counted: Mutex::new(BTreeMap::new()),
            raw_config,
        })
    }

    /// Records one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Brings the raw_config metrics to `counts`: the total per source (sources with fewer
    /// than [`FEW_COMPOSES`] composes counted as `key#other_commits_or_branches`), and the
    /// composes per source and state, removed ones left out.
    fn record_raw_config(&self, counts: &[RawConfigCount]) {
        let mut totals: BTreeMap<String, i64> = BTreeMap::new();
        for count in counts {
            *totals.entry(count.source.clone()).or_default() += count.count;
        }
        let mut grouped: BTreeMap<String, i64> = BTreeMap::new();
        for (source, total) in totals {
            let key = if total < FEW_COMPOSES {
                let name = source.split('#').next().unwrap_or_default();
                format!("{name}#other_commits_or_branches")
            } else {
                source
            };
            *grouped.entry(key).or_default() += total;
        }
        if let Ok(mut counted) = self.raw_config_counted.lock() {
            for (source, total) in grouped {
                let before = counted.entry(source.clone()).or_default();
                // Composes are never deleted, so the count only grows; a source moving out of
                // its group starts its own series at its full count.
                if total > *before {
                    self.raw_config_total
                        .with_label_values(&[&source])
                        .inc_by(u64::try_from(total - *before).unwrap_or_default());
                    *before = total;
                }
            }
        }
        let sources: std::collections::BTreeSet<&str> =
            counts.iter().map(|c| c.source.as_str()).collect();
        for source in sources {
            for state in ComposeState::ALL
                .iter()
                .filter(|s| **s != ComposeState::Removed)
            {
                let count = counts
                    .iter()
                    .find(|c| c.source == source && c.state == *state)
                    .map_or(0, |c| c.count);
                self.raw_config
                    .with_label_values(&[source, state.name()])
                    .set(count);
            }
        }
    }

    /// Brings the worker and queue families to `snapshot`: a worker is alive when it beat
    /// within `ALIVE_FOR`; a queue's workers are the live ones consuming it.
    fn record_workers(&self, snapshot: &Snapshot) {
        self.workers_expected
            .set(i64::from(snapshot.expected_workers));
        self.workers.reset();
        let mut alive = 0;
        let mut per_queue: BTreeMap<&str, i64> = snapshot
            .queues
            .iter()
            .map(|(queue, _)| (queue.as_str(), 0))
            .collect();
        for worker in &snapshot.workers {
            let is_alive = worker.is_alive(snapshot.now);
            self.workers
                .with_label_values(&[&worker.name])
                .set(i64::from(is_alive));
            if is_alive {
                alive += 1;
                for queue in worker.queue_names() {
                    *per_queue.entry(queue).or_default() += 1;
                }
            }
        }
        self.workers_alive.set(alive);
        self.queue_workers.reset();
        for (queue, count) in per_queue {
            self.queue_workers.with_label_values(&[queue]).set(count);
        }
        self.queue_length.reset();
        for (queue, length) in &snapshot.queues {
            if let Some(length) = length {
                self.queue_length
                    .with_label_values(&[queue])
                    .set(i64::try_from(*length).unwrap_or(i64::MAX));
            }
        }
    }

    /// The text exposition, with everything else as of `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        self.record_raw_config(&snapshot.raw_config);
        self.record_workers(snapshot);
        let counts = &snapshot.counts;
        for source_type in SourceType::ALL {
            for state in ComposeState::ALL {
                let count = counts
                    .iter()
                    .find(|c| c.source_type == *source_type && c.state == *state)
                    .map_or(0, |c| c.count);
                self.composes
                    .with_label_values(&[source_type.name(), state.name()])
                    .set(count);
            }
        }
        let mut families = self.registry.gather();
        // The in-process workers' own metrics (standalone mode; none otherwise).
        families.extend(prometheus::gather());
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&families, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Middleware recording every request; routes are labelled by pattern so ids do not explode
/// the label set.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let result = next.call(req).await;
    if let (Some(metrics), Ok(response)) = (metrics, &result) {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        metrics.observe(
            &method,
            &route,
            response.status().as_u16(),
            start.elapsed().as_secs_f64(),
        );
    }
    result
}
