//! `odcs-server`: runs the REST frontend, or applies database migrations.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use odcs_common::config::Config;

// Request handling allocates many small strings; mimalloc serves them faster than glibc's
// allocator under concurrency (measured in docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "odcs-server", version, about = "ODCS REST frontend")]
struct Cli {
    /// Configuration file (TOML); ODCS_* environment variables override its keys.
    #[arg(long, short, env = "ODCS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit; a reference ODCS database (Alembic-managed,
    /// ODCS 0.9.2's schema) is adopted in place first, keeping every compose.
    Migrate,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(err) = run(Cli::parse()) {
        eprintln!("odcs-server: {err:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            let migrated = odcs_server::migrate_store(&config)?;
            if let Some(adopted) = &migrated.adopted {
                println!(
                    "adopted the reference ODCS database (Alembic revision {}): {} composes{}",
                    adopted.revision,
                    adopted.composes,
                    adopted.last_id.map_or_else(String::new, |last| format!(
                        ", the highest id {last}; new ids continue the reference's sequence"
                    )),
                );
            }
            println!(
                "database is up to date ({} migrations applied)",
                migrated.applied.len()
            );
            Ok(())
        }
        Command::Serve => {
            odcs_server::kerberos::use_configured_keytab(&config.auth);
            let pool = odcs_server::open_store(&config)?;
            let state = odcs_server::app_state(config, pool)?;
            let standalone = if state.config.messaging.is_standalone() {
                tracing::info!("standalone mode: workers, beat and relay run in this process");
                Some(odcs_server::start_standalone_services(&state)?)
            } else {
                None
            };
            let served = actix_web::rt::System::new()
                .block_on(odcs_server::serve(state))
                .context("serving");
            if let Some(services) = standalone {
                services.stop();
            }
            served
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
