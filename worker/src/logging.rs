//! Logging set-up shared by the worker's binaries.

/// Sends `tracing` events to stderr, filtered by `RUST_LOG` (default `warn`), so that a
/// command's standard output carries only what it prints.
pub fn init_stderr() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}
