//! Logging: one event per line with key=value fields, to stderr (journald
//! under systemd). `RUST_LOG` overrides the configured level.

pub fn init(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_thread_names(true)
        .with_writer(std::io::stderr)
        .try_init();
}
