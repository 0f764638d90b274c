//! `odcs-worker`: the queue consumer, the beat job, the message relay, and `depsolve`.

use std::path::PathBuf;
use std::time::Instant;

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use odcs_common::config::Config;
use odcs_common::db::{migrations, pool, DbPool};
use odcs_common::dispatch::Dispatcher;
use odcs_common::messaging::all_queues;
use odcs_worker::gather::lookaside;
use odcs_worker::gather::metadata::{read_filelists, read_primary};
use odcs_worker::gather::pool::{Origin, Pool as GatherPool, PoolBuilder};
use odcs_worker::gather::{chosen_packages, GatherRequest};
use odcs_worker::{consumer, heartbeat, metrics, relay, services};

#[derive(Debug, Parser)]
#[command(name = "odcs-worker", version, about = "ODCS compose worker")]
struct Cli {
    /// Configuration file (TOML); ODCS_* environment variables override its keys.
    #[arg(long, short, env = "ODCS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate composes: consume jobs from RabbitMQ (`amqp_url`) until SIGTERM.
    Consume {
        /// Queues to consume (default: every routed queue and the default queue).
        #[arg(long = "queue")]
        queues: Vec<String>,
    },
    /// Run the beat job: expiry, recovery, re-dispatch; every `beat_interval_seconds`.
    Beat {
        /// Sweep once and exit.
        #[arg(long)]
        once: bool,
    },
    /// Publish state-change messages from the outbox to the broker until SIGTERM.
    Relay,
    /// Resolve packages against a repository's metadata, as a compose's gather would: prints
    /// what would be chosen, with load and solve times.
    Depsolve {
        /// The repository: a directory with repodata/, or an http(s)/file URL.
        repo: String,
        /// Package names to install.
        packages: Vec<String>,
        /// Also read package names from this file (one per line).
        #[arg(long)]
        names_from: Option<PathBuf>,
        /// The arch to resolve for.
        #[arg(long, default_value = "x86_64")]
        arch: String,
        /// Print the chosen packages, one per line.
        #[arg(long)]
        list: bool,
    },
}

fn main() {
    odcs_worker::logging::init_stderr();
    if let Err(err) = run(Cli::parse()) {
        eprintln!("odcs-worker: {err:#}");
        std::process::exit(1);
    }
}

fn load(cli_config: Option<&std::path::Path>) -> anyhow::Result<(Arc<Config>, DbPool)> {
    let config = Config::load(cli_config, std::env::vars())?;
    let pool = pool::build(
        &config.storage.database_url,
        config.storage.database_pool_size,
    )
    .with_context(|| format!("opening {}", pool::redact(&config.storage.database_url)))?;
    let mut conn = pool.get().context("connecting to the database")?;
    migrations::run_pending(&mut conn).context("migrating the database")?;
    Ok((Arc::new(config), pool))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Consume { queues } => {
            let (config, pool) = load(cli.config.as_deref())?;
            anyhow::ensure!(
                !config.messaging.is_standalone(),
                "consume needs amqp_url (ODCS_AMQP_URL); standalone mode runs workers inside odcs-server"
            );
            let queues = if queues.is_empty() {
                all_queues(&config)
            } else {
                queues
            };
            let cache = services::open_cache(&config)?;
            let factory = services::worker_factory(config.clone(), pool.clone(), cache)?;
            runtime()?.block_on(async {
                let stop = services::shutdown_signal();
                let concurrency = config.workers.worker_concurrency;
                let beating = tokio::spawn(heartbeat::run(
                    pool,
                    queues.clone(),
                    concurrency,
                    stop.clone(),
                ));
                let listen = &config.workers.worker_metrics_listen;
                if !listen.is_empty() {
                    let listen: std::net::SocketAddr = listen
                        .parse()
                        .with_context(|| format!("worker_metrics_listen {listen:?}"))?;
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        if let Err(e) = metrics::serve(listen, stop).await {
                            tracing::error!(%listen, error = %e, "worker metrics not served");
                        }
                    });
                }
                // Slots reconnect by themselves when the broker goes away.
                consumer::consume_amqp(
                    &config.messaging.amqp_url,
                    &queues,
                    concurrency,
                    factory,
                    stop,
                )
                .await;
                let _ = beating.await;
                Ok(())
            })
        }
        Command::Beat { once } => {
            let (config, pool) = load(cli.config.as_deref())?;
            let dispatcher = Arc::new(Dispatcher::from_config(&config));
            runtime()?.block_on(async {
                if once {
                    let sweep = services::beat_once(&config, &pool, &dispatcher).await?;
                    println!(
                        "removed {}, requeued {}, timed out {}, dispatched {}, deleted {} directories{}",
                        sweep.removed.len(),
                        sweep.requeued.len(),
                        sweep.timed_out.len(),
                        sweep.to_dispatch.len(),
                        sweep.deleted_dirs.len(),
                        if sweep.skipped { " (another beat was running)" } else { "" }
                    );
                    return Ok(());
                }
                services::run_beat(config.clone(), pool, dispatcher, services::shutdown_signal()).await;
                Ok(())
            })
        }
        Command::Relay => {
            let (config, pool) = load(cli.config.as_deref())?;
            runtime()?.block_on(async {
                let dispatcher = Dispatcher::from_config(&config);
                relay::run(&config, pool, &dispatcher, services::shutdown_signal()).await;
                Ok(())
            })
        }
        Command::Depsolve {
            repo,
            mut packages,
            names_from,
            arch,
            list,
        } => {
            if let Some(file) = names_from {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                packages.extend(text.split_whitespace().map(str::to_owned));
            }
            let start = Instant::now();
            let fetcher = services::trusted_fetcher()?;
            let metadata = lookaside::fetch(&fetcher, &repo)?;
            let pool = load_pool(&metadata)?;
            let loaded = start.elapsed();
            let request = GatherRequest {
                arches: vec![arch.clone()],
                packages: Some(packages),
                ..GatherRequest::default()
            };
            let chosen = chosen_packages(&pool, &request, &arch);
            let solved = start.elapsed() - loaded;
            if list {
                for id in &chosen.packages {
                    println!("{}", pool.get(*id).nevra());
                }
            }
            for line in &chosen.broken {
                eprintln!("broken: {line}");
            }
            for name in &chosen.missing {
                eprintln!("not found: {name}");
            }
            println!(
                "{} packages chosen from {} (load {:.1} ms, solve {:.1} ms)",
                chosen.packages.len(),
                pool.packages().len(),
                loaded.as_secs_f64() * 1000.0,
                solved.as_secs_f64() * 1000.0
            );
            Ok(())
        }
    }
}

/// The gather pool of one repository's metadata.
fn load_pool(metadata: &lookaside::RepositoryMetadata) -> anyhow::Result<GatherPool> {
    let mut builder = PoolBuilder::default();
    read_primary(&metadata.primary, |record| {
        builder.add(record, Origin::PackageSet(0));
    })?;
    let wanted = builder.wanted_files();
    read_filelists(
        &metadata.filelists,
        |path| wanted.contains(path),
        |pkgid, path| builder.add_file(Origin::PackageSet(0), pkgid, path),
    )?;
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
