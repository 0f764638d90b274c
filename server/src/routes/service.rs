//! Instance information and metrics.

use actix_web::{web, HttpResponse};
use odcs_common::api::About;
use odcs_common::compose::ComposeResult;
use odcs_common::db::models::{Compose, WorkerHeartbeat};
use odcs_common::time::now;

use crate::db;
use crate::error::ApiError;
use crate::metrics::Snapshot;
use crate::state::AppState;

/// What this instance is and what it allows.
#[utoipa::path(get, path = "/api/1/about/", tag = "service",
    responses((status = 200, description = "About this instance", body = About)))]
pub async fn about(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let config = &state.config;
    let about = About {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        auth_backend: config.auth.backend.name().to_owned(),
        allowed_clients: serde_json::to_value(&config.policy.allowed_clients)
            .map_err(ApiError::internal)?,
        raw_config_urls: serde_json::to_value(&config.policy.raw_config_urls)
            .map_err(ApiError::internal)?,
        sigkeys: config.policy.sigkeys.clone(),
        results: ComposeResult::ALL
            .iter()
            .filter(|r| {
                r.unproducible(!config.pungi.boot_iso_command.is_empty())
                    .is_none()
            })
            .map(|r| r.name().to_owned())
            .collect(),
    };
    Ok(HttpResponse::Ok().json(about))
}

/// Prometheus metrics: request counts and latencies, composes by source type and state,
/// raw_config composes by source, workers expected and alive, jobs and workers per queue.
#[utoipa::path(get, path = "/api/1/metrics/", tag = "service",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (counts, raw_config, workers) = db::run(&state.pool, |conn| {
        Ok((
            Compose::count_by_source_type_and_state(conn)?,
            Compose::count_raw_config_by_source_and_state(conn)?,
            WorkerHeartbeat::known(conn)?,
        ))
    })
    .await?;
    let snapshot = Snapshot {
        counts,
        raw_config,
        workers,
        queues: state.dispatcher.queue_lengths(&state.config).await,
        expected_workers: state.config.workers.expected_backend_number,
        now: now(),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&snapshot)))
}
