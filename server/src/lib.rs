//! The ODCS REST frontend: API v1, wire-compatible with the reference ODCS.
//!
//! It validates and stores compose requests, answers queries, renews and cancels composes.
//! It builds nothing itself: workers (`odcs-worker`) do. Everything the handlers share is in
//! [`state::AppState`]; the route table is [`routes::configure`].

pub mod auth;
pub mod body;
pub mod db;
pub mod error;
pub mod listing;
pub mod metrics;
pub mod permissions;
pub mod routes;
pub mod state;
pub mod totals;

use std::sync::Arc;

use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use odcs_common::config::Config;
use odcs_common::db::{migrations, pool, DbPool};

use crate::metrics::Metrics;
use crate::state::AppState;
use crate::totals::TotalsCache;

/// Opens the database pool for `config` and applies pending migrations.
pub fn open_store(config: &Config) -> anyhow::Result<DbPool> {
    let pool = pool::build(&config.database_url, config.database_pool_size)
        .with_context(|| format!("opening {}", pool::redact(&config.database_url)))?;
    let mut conn = pool.get().context("connecting to the database")?;
    let applied = migrations::run_pending(&mut conn).context("migrating the database")?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "database migrated");
    }
    Ok(pool)
}

/// The shared state for `config` over `pool`.
pub fn app_state(config: Config, pool: DbPool) -> anyhow::Result<AppState> {
    Ok(AppState {
        pool,
        metrics: Arc::new(Metrics::new().context("registering metrics")?),
        totals: Arc::new(TotalsCache::new(std::time::Duration::from_millis(
            config.list_total_cache_ms,
        ))),
        config: Arc::new(config),
    })
}

/// Everything one actix `App` needs: state, CORS header, metrics middleware and routes.
pub fn configure_app(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state)).service(
            web::scope("")
                .wrap(from_fn(metrics::track))
                .wrap(DefaultHeaders::new().add(("Access-Control-Allow-Origin", "*")))
                .configure(routes::configure),
        );
    }
}

/// Serves the API until the process is stopped.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let listen = state.config.listen.clone();
    let workers = match state.config.http_workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    tracing::info!(%listen, workers, "serving the ODCS API");
    HttpServer::new(move || App::new().configure(configure_app(state.clone())))
        .workers(workers)
        .bind(&listen)
        .with_context(|| format!("binding {listen}"))?
        .run()
        .await
        .context("running the HTTP server")
}
