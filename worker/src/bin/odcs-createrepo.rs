//! `odcs-createrepo`: writes `repodata/` for a directory of RPMs, as createrepo_c does, with
//! the engine the workers use.
//!
//! A binary of its own rather than a subcommand of `odcs-worker`: it uses neither the
//! database nor the broker, so it does not link libpq, whose dependencies (Kerberos, LDAP,
//! GnuTLS) cost about 6 ms of dynamic loading at every start, a tenth of an incremental run.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use odcs_worker::repodata::{
    write_repodata, Compression, ExtraMetadata, FileHashing, PackageCache, RepodataOptions,
};
use odcs_worker::scan::find_packages;

/// Write repodata/ for the RPM packages under DIR (like createrepo_c).
#[derive(Debug, Parser)]
#[command(name = "odcs-createrepo", version)]
struct Cli {
    /// The repository directory.
    dir: PathBuf,
    /// Compression of the metadata: gz or zst.
    #[arg(long, default_value = "gz")]
    compression: Compression,
    /// repomd revision (default: now); fixed revisions give byte-identical metadata.
    #[arg(long)]
    revision: Option<u64>,
    /// Package-metadata cache directory (default: ~/.cache/odcs/packages).
    #[arg(long, env = "ODCS_PACKAGE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Read every package, using no cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
}

fn main() {
    odcs_worker::logging::init_stderr();
    if let Err(err) = run(Cli::parse()) {
        eprintln!("odcs-createrepo: {err:#}");
        std::process::exit(1);
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/odcs/packages"))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let start = Instant::now();
    let cache_dir = match cli.no_cache {
        false => cli.cache_dir.or_else(default_cache_dir),
        true => None,
    };
    let dir = cli.dir;
    // The cache opens while the tree is scanned.
    let (cache, inputs) = rayon::join(
        || cache_dir.map(|dir| PackageCache::open(&dir)).transpose(),
        || find_packages(&dir),
    );
    let (cache, inputs) = (cache?, inputs?);
    let extra = ExtraMetadata::from_repository(&dir)?;
    let revision = cli.revision.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let result = write_repodata(
        &dir,
        &inputs,
        &extra,
        RepodataOptions {
            compression: cli.compression,
            revision,
            cache: cache.as_ref(),
            hashing: FileHashing::Fastest,
        },
    )
    .with_context(|| format!("writing repodata for {}", dir.display()))?;
    println!(
        "{} packages ({} read, {} from cache; {} of {} blocks from cache) in {:.3} s",
        result.listed,
        result.read,
        result.listed - result.read,
        result.blocks_cached,
        result.blocks,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
