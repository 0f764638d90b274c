//! The ODCS REST frontend: API v1, wire-compatible with the reference ODCS.
//!
//! It validates and stores compose requests, answers queries, renews and cancels composes.
//! It builds nothing itself: workers (`odcs-worker`) do. Everything the handlers share is in
//! [`state::AppState`]; the route table is [`routes::configure`].

pub mod auth;
pub mod body;
pub mod change_feed;
pub mod compose_cache;
pub mod create_batch;
pub mod dashboard;
pub mod db;
pub mod dispatch_log;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod kerberos;
pub mod ldap;
pub mod listing;
pub mod metrics;
pub mod noticed_cache;
pub mod oidc;
pub mod page_cache;
pub mod permissions;
pub mod proxy;
pub mod routes;
pub mod state;
pub mod tls;
pub mod totals;

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use odcs_common::config::Config;
use odcs_common::db::{migrations, pool, Backend, DbPool};

use odcs_common::dispatch::Dispatcher;

use crate::change_feed::{ChangeFeed, Listeners};
use crate::compose_cache::compose_cache;
use crate::events::EventHub;
use crate::metrics::Metrics;
use crate::page_cache::page_cache;
use crate::state::AppState;
use crate::totals::TotalsCache;

/// Opens the database pool for `config` and applies pending migrations.
pub fn open_store(config: &Config) -> anyhow::Result<DbPool> {
    let pool = open_pool(config)?;
    let mut conn = pool.get().context("connecting to the database")?;
    let applied = migrations::run_pending(&mut conn).context("migrating the database")?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "database migrated");
    }
    Ok(pool)
}

/// `odcs-server migrate`: applies pending migrations, adopting a reference ODCS database in
/// place first when that is what `database_url` names.
pub fn migrate_store(config: &Config) -> anyhow::Result<migrations::Migrated> {
    let pool = open_pool(config)?;
    let mut conn = pool.get().context("connecting to the database")?;
    migrations::migrate(&mut conn).context("migrating the database")
}

fn open_pool(config: &Config) -> anyhow::Result<DbPool> {
    let storage = &config.storage;
    pool::build(&storage.database_url, storage.database_pool_size)
        .with_context(|| format!("opening {}", pool::redact(&storage.database_url)))
}

/// Listens to the database's change notices for the compose cache and the event streams, when
/// the database sends notices (PostgreSQL); otherwise the cache stays off and the event hub
/// hears of this process's commits alone (all there are on SQLite).
fn start_change_feed(config: &Config, listeners: Listeners) -> Option<ChangeFeed> {
    let url = &config.storage.database_url;
    if Backend::of_url(url) != Some(Backend::Postgres) {
        return None;
    }
    ChangeFeed::start(url, listeners)
        .inspect_err(
            |e| tracing::warn!(error = %e, "compose cache off, events of other processes unheard"),
        )
        .ok()
}

/// The shared state for `config` over `pool`.
pub fn app_state(config: Config, pool: DbPool) -> anyhow::Result<AppState> {
    let config = Arc::new(config);
    let composes = Arc::new(compose_cache(config.server.compose_cache_entries));
    let pages = Arc::new(page_cache(config.server.list_cache_pages));
    let totals = Arc::new(TotalsCache::new(std::time::Duration::from_millis(
        config.server.list_total_cache_ms,
    )));
    let sqlite = Backend::of_url(&config.storage.database_url) == Some(Backend::Sqlite);
    let recheck = sqlite.then_some(events::hub::SQLITE_RECHECK);
    let events =
        Arc::new(EventHub::start(pool.clone(), recheck).context("starting the event hub")?);
    let listeners = Listeners {
        cache: composes.clone(),
        pages: pages.clone(),
        totals: totals.clone(),
        events: events.waker(),
    };
    let change_feed = start_change_feed(&config, listeners).map(Arc::new);
    Ok(AppState {
        creates: create_batch::CreateBatcher::start(pool.clone(), config.clone())
            .context("starting the create writers")?,
        dispatch_log: dispatch_log::DispatchLog::start(pool.clone())
            .context("starting the dispatch log")?,
        pool,
        metrics: Arc::new(Metrics::new().context("registering metrics")?),
        totals,
        composes,
        pages,
        events,
        change_feed,
        dispatcher: Arc::new(Dispatcher::from_config(&config)),
        ldap: ldap::LdapGroups::from_config(&config.auth)
            .context("LDAP over TLS")?
            .map(Arc::new),
        oidc: oidc::OidcVerifier::from_config(&config.auth).map(Arc::new),
        kerberos: if config.auth.backend.uses_kerberos() {
            Some(Arc::new(
                kerberos::KerberosAcceptor::from_config(&config.auth)
                    .context("auth_backend needs Kerberos")?,
            ))
        } else {
            None
        },
        config,
    })
}

/// Everything one actix `App` needs: state, CORS header, metrics middleware and routes; in
/// standalone mode also the compose directory, served at the path of `target_dir_url`.
pub fn configure_app(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let storage = &state.config.storage;
        if state.config.messaging.is_standalone() {
            let path = url::Url::parse(&storage.target_dir_url)
                .map(|u| u.path().trim_end_matches('/').to_owned())
                .unwrap_or_default();
            if !path.is_empty() && !path.starts_with("/api/") {
                let _ = std::fs::create_dir_all(&storage.target_dir);
                cfg.service(
                    actix_files::Files::new(&path, &storage.target_dir)
                        .show_files_listing()
                        .use_last_modified(true),
                );
            }
        }
        cfg.app_data(web::Data::new(state)).service(
            web::scope("")
                .wrap(from_fn(auth::return_negotiate_reply))
                .wrap(from_fn(proxy::strip_script_name))
                .wrap(from_fn(metrics::track))
                .wrap(from_fn(proxy::cors_on_reads))
                .configure(routes::configure),
        );
    }
}

/// Starts the in-process workers, beat and relay of standalone mode (no broker configured):
/// the same code the distributed deployment runs, with the in-process queue. Returns a handle
/// that stops them.
#[cfg(feature = "standalone")]
pub fn start_standalone_services(state: &AppState) -> anyhow::Result<StandaloneServices> {
    use odcs_worker::{consumer, heartbeat, relay, services};
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    // Registered now, so the metrics show the workers' families before their first compose.
    let _ = odcs_worker::metrics::metrics();
    let cache = services::open_cache(&state.config)?;
    let factory = services::worker_factory(state.config.clone(), state.pool.clone(), cache)?;
    let mut threads = Vec::new();
    if let Dispatcher::Local(queue) = state.dispatcher.as_ref() {
        threads.extend(consumer::run_local(
            queue.clone(),
            state.config.workers.worker_concurrency,
            factory,
            stop.clone(),
        ));
    }
    let (config, pool, dispatcher) = (
        state.config.clone(),
        state.pool.clone(),
        state.dispatcher.clone(),
    );
    threads.push(std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
        else {
            tracing::error!("cannot start the beat and relay runtime");
            return;
        };
        runtime.block_on(async move {
            let beat = tokio::spawn(services::run_beat(
                config.clone(),
                pool.clone(),
                dispatcher.clone(),
                stop.clone(),
            ));
            let beating = tokio::spawn(heartbeat::run(
                pool.clone(),
                vec![odcs_common::dispatch::IN_PROCESS_QUEUE.to_owned()],
                config.workers.worker_concurrency,
                stop.clone(),
            ));
            relay::run(&config, pool, &dispatcher, stop).await;
            let _ = beat.await;
            let _ = beating.await;
        });
    }));
    Ok(StandaloneServices {
        stop: stop_tx,
        threads,
    })
}

/// Standalone mode needs the compose engine, which this build leaves out.
#[cfg(not(feature = "standalone"))]
pub fn start_standalone_services(_state: &AppState) -> anyhow::Result<StandaloneServices> {
    anyhow::bail!(
        "this odcs-server was built without the standalone feature: set amqp_url \
         (ODCS_AMQP_URL) and run odcs-worker consume, beat and relay beside it"
    )
}

/// The background services of standalone mode.
pub struct StandaloneServices {
    stop: tokio::sync::watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl StandaloneServices {
    /// Stops taking jobs, lets the ones in progress finish, and waits for everything.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Serves the API until the process is stopped.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let listen = state.config.server.listen.clone();
    let workers = match state.config.server.http_workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let server_config = state.config.server.clone();
    let events = state.events.clone();
    let server = HttpServer::new(move || App::new().configure(configure_app(state.clone())))
        .workers(workers)
        .disable_signals()
        .on_connect(tls::remember_client);
    let server = if server_config.serves_tls() {
        let tls = tls::server_config(&server_config).context("setting up HTTPS")?;
        tracing::info!(%listen, workers, client_certificates = server_config.verifies_clients(), "serving the ODCS API over HTTPS");
        server.bind_rustls_0_23(&listen, tls)
    } else {
        tracing::info!(%listen, workers, "serving the ODCS API");
        server.bind(&listen)
    };
    let server = server.with_context(|| format!("binding {listen}"))?.run();
    actix_web::rt::spawn(stop_on_signal(server.handle(), events));
    server.await.context("running the HTTP server")
}

/// Stops the server on SIGTERM or SIGINT (finishing the requests in progress, after ending the
/// event streams, which would otherwise hold it up until their clients leave), or at once on
/// SIGQUIT.
async fn stop_on_signal(server: actix_web::dev::ServerHandle, events: Arc<EventHub>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::quit()),
    ) else {
        tracing::error!("cannot listen for signals; stop the server with SIGKILL");
        return;
    };
    let graceful = tokio::select! {
        _ = term.recv() => true,
        _ = int.recv() => true,
        _ = quit.recv() => false,
    };
    tracing::info!(graceful, "stopping");
    events.close_streams();
    server.stop(graceful).await;
}
