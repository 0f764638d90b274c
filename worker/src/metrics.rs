//! The workers' own Prometheus metrics: how long composes take and how they end, why they
//! fail, how long they waited in the queue, how often their caches answer, and how many
//! bytes were downloaded. Every label has a handful of values (source types, outcomes, error
//! classes), so the series stay few.
//!
//! They live in the process's default registry: `odcs-worker consume` serves them on
//! `worker_metrics_listen`, and a standalone `odcs-server` adds them to its `/api/1/metrics/`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::LazyLock;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use prometheus::{
    register_histogram_vec, register_int_counter_vec, Encoder, HistogramVec, IntCounterVec,
    TextEncoder,
};
use tokio::sync::watch;

/// The caches whose hit ratios are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Package headers and repodata entries (`package_cache_dir`).
    PackageMetadata,
    /// RPMs downloaded from Koji.
    KojiRpms,
}

impl Cache {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Cache::PackageMetadata => "package_metadata",
            Cache::KojiRpms => "koji_rpms",
        }
    }
}

/// The metrics, registered on first use.
pub struct WorkerMetrics {
    compose_seconds: HistogramVec,
    failures: IntCounterVec,
    queue_wait_seconds: HistogramVec,
    cache_lookups: IntCounterVec,
    downloaded_bytes: IntCounterVec,
}

static METRICS: LazyLock<Option<WorkerMetrics>> = LazyLock::new(|| {
    let registered = || -> Result<WorkerMetrics, prometheus::Error> {
        Ok(WorkerMetrics {
            compose_seconds: register_histogram_vec!(
                "odcs_worker_compose_duration_seconds",
                "Time from claiming a compose to its outcome",
                &["source_type", "outcome"],
                vec![1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0]
            )?,
            failures: register_int_counter_vec!(
                "odcs_worker_compose_failures_total",
                "Composes that failed or went back to the queue, by the stage that failed",
                &["source_type", "reason"]
            )?,
            queue_wait_seconds: register_histogram_vec!(
                "odcs_worker_queue_wait_seconds",
                "Time from a compose's request to its first claim",
                &["source_type"],
                vec![0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0]
            )?,
            cache_lookups: register_int_counter_vec!(
                "odcs_worker_cache_lookups_total",
                "Lookups in the workers' caches (package_metadata, koji_rpms), by result (hit, miss)",
                &["cache", "result"]
            )?,
            downloaded_bytes: register_int_counter_vec!(
                "odcs_worker_downloaded_bytes_total",
                "Bytes downloaded, by kind (package, metadata)",
                &["kind"]
            )?,
        })
    };
    registered()
        .inspect_err(|e| tracing::error!(error = %e, "worker metrics not registered"))
        .ok()
});

/// The worker metrics (`None` only if registering them failed, which is logged).
pub fn metrics() -> Option<&'static WorkerMetrics> {
    METRICS.as_ref()
}

impl WorkerMetrics {
    /// A compose of `source_type` ended with `outcome` after `seconds`.
    pub fn finished(&self, source_type: &str, outcome: &str, seconds: f64) {
        self.compose_seconds
            .with_label_values(&[source_type, outcome])
            .observe(seconds);
    }

    /// A compose of `source_type` failed in the stage `reason` names.
    pub fn failed(&self, source_type: &str, reason: &str) {
        self.failures
            .with_label_values(&[source_type, reason])
            .inc();
    }

    /// A compose of `source_type` was first claimed `seconds` after it was requested.
    pub fn waited(&self, source_type: &str, seconds: f64) {
        self.queue_wait_seconds
            .with_label_values(&[source_type])
            .observe(seconds);
    }

    /// `cache` had `hits` of the entries looked up and not `misses`.
    pub fn looked_up(&self, cache: Cache, hits: usize, misses: usize) {
        let name = cache.label();
        self.cache_lookups
            .with_label_values(&[name, "hit"])
            .inc_by(hits as u64);
        self.cache_lookups
            .with_label_values(&[name, "miss"])
            .inc_by(misses as u64);
    }

    /// `bytes` of `kind` (`package`, `metadata`) were downloaded.
    pub fn downloaded(&self, kind: &str, bytes: u64) {
        self.downloaded_bytes
            .with_label_values(&[kind])
            .inc_by(bytes);
    }
}

/// The text exposition of the default registry (the worker metrics).
pub fn render() -> String {
    let _ = metrics();
    let mut out = Vec::new();
    // Encoding into a Vec cannot fail for the text format.
    let _ = TextEncoder::new().encode(&prometheus::gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Serves the worker metrics at `GET /metrics` on `listen` until `stop` is set.
pub async fn serve(listen: SocketAddr, mut stop: watch::Receiver<bool>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "serving worker metrics at /metrics");
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
        };
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper::service::service_fn(answer);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(error = %e, "metrics connection ended");
            }
        });
    }
}

/// The answer to one request: the metrics at `/metrics`, 404 elsewhere.
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = if request.uri().path() == "/metrics" {
        Response::builder()
            .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            .body(Full::new(Bytes::from(render())))
    } else {
        Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"not found: try /metrics\n")))
    };
    Ok(response.unwrap_or_default())
}
