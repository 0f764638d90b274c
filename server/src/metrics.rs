//! Prometheus metrics: HTTP request counts and latencies, and composes by source type and state.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use odcs_common::compose::{ComposeState, SourceType};
use odcs_common::db::models::StateCount;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::state::AppState;

/// The metrics of one server process.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    composes: IntGaugeVec,
}

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
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(composes.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            composes,
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

    /// The text exposition, with compose counts as of `counts`.
    pub fn render(&self, counts: &[StateCount]) -> String {
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
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
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
