//! `odcs-worker`: compose generation tools and (later) the queue consumer and beat job.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use odcs_worker::repodata::{
    write_repodata, Compression, ExtraMetadata, PackageCache, RepodataOptions,
};
use odcs_worker::scan::find_packages;

#[derive(Debug, Parser)]
#[command(name = "odcs-worker", version, about = "ODCS compose worker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write repodata/ for the RPM packages under DIR (like createrepo_c).
    Createrepo {
        /// The repository directory.
        dir: PathBuf,
        /// Compression of the metadata: gz or zst.
        #[arg(long, default_value = "gz")]
        compression: Compression,
        /// repomd revision (default: now); fixed revisions give byte-identical metadata.
        #[arg(long)]
        revision: Option<u64>,
        /// Package-metadata cache directory.
        #[arg(long, env = "ODCS_PACKAGE_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
        /// Read every package, using no cache.
        #[arg(long, conflicts_with = "cache_dir")]
        no_cache: bool,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(err) = run(Cli::parse()) {
        eprintln!("odcs-worker: {err:#}");
        std::process::exit(1);
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/odcs/packages"))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Createrepo {
            dir,
            compression,
            revision,
            cache_dir,
            no_cache,
        } => {
            let start = Instant::now();
            let cache = match (no_cache, cache_dir.or_else(default_cache_dir)) {
                (false, Some(dir)) => Some(PackageCache::open(&dir)?),
                _ => None,
            };
            let inputs = find_packages(&dir)?;
            let extra = ExtraMetadata::from_repository(&dir)?;
            let revision = revision.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            });
            let result = write_repodata(
                &dir,
                &inputs,
                &extra,
                RepodataOptions {
                    compression,
                    revision,
                    cache: cache.as_ref(),
                },
            )
            .with_context(|| format!("writing repodata for {}", dir.display()))?;
            println!(
                "{} packages ({} read, {} from cache) in {:.3} s",
                result.packages.len(),
                result.read,
                result.packages.len() - result.read,
                start.elapsed().as_secs_f64()
            );
            Ok(())
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
