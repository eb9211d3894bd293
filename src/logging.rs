//! Logging: under systemd, events go to the journal in its native
//! protocol with their fields as journal fields (`DRIVE`, `VID`, `SESSION`,
//! `PID`, `FSEQ`, `FILE_ID`...: `journalctl -u tapeserverd DRIVE=drive0`);
//! otherwise one event per line with key=value fields on stderr.
//! `RUST_LOG` overrides the configured level.

use std::os::unix::fs::MetadataExt;

use tracing_subscriber::prelude::*;

pub fn init(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journal = stderr_is_the_journal()
        .then(|| tracing_journald::layer().ok())
        .flatten()
        .map(|layer| {
            use tracing_journald::{Priority, PriorityMappings};
            // Field names as they are (DRIVE, not F_DRIVE): the fields are
            // what operators filter on. Routine events at info (6), not
            // notice; errors at err (3).
            layer
                .with_field_prefix(None)
                .with_priority_mappings(PriorityMappings {
                    info: Priority::Informational,
                    debug: Priority::Debug,
                    ..PriorityMappings::new()
                })
        });
    if let Some(journal) = journal {
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(journal)
            .try_init();
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_thread_names(true)
        .with_writer(std::io::stderr)
        .try_init();
}

/// systemd says so in `JOURNAL_STREAM` ("DEVICE:INODE" of the stream it
/// connected): true only if that is still our stderr (a child whose stderr
/// was redirected keeps the variable but not the stream).
fn stderr_is_the_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}
