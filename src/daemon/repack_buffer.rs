//! The repack buffer on this host: repacks are moved on (reads done go to
//! the archive queues, new files are admitted while the buffer has room)
//! and the files of repacked copies are removed once every new copy is
//! recorded.

use std::path::Path;

use crate::config::Config;
use crate::scheduler::{MountSelection, RepackSettings};

pub fn settings(config: &Config) -> RepackSettings {
    RepackSettings {
        buffer_dir: config
            .repack
            .buffer_dir(&config.daemon.state_dir)
            .display()
            .to_string(),
        buffer_bytes: config.repack.buffer_bytes.0,
    }
}

/// Creates the buffer directory if missing: only the service user reads
/// it (it holds copies of every owner's files).
pub fn prepare(settings: &RepackSettings) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&settings.buffer_dir)
}

/// One pass: moves the repacks on and removes the buffer files they are
/// done with. A path outside the buffer directory is never removed (the
/// catalogue is shared; it is not trusted with this host's files).
pub fn advance(db: &mut dyn MountSelection, settings: &RepackSettings) {
    let paths = match db.advance_repacks(settings) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot move the repacks on");
            return;
        }
    };
    let dir = Path::new(&settings.buffer_dir);
    let mut removed = Vec::new();
    for p in paths {
        let path = Path::new(&p);
        let inside = path.parent() == Some(dir)
            && path
                .file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'));
        if !inside {
            tracing::error!(path = %p, buffer = %settings.buffer_dir, "a repack buffer file outside the buffer directory: left alone");
            continue;
        }
        match std::fs::remove_file(path) {
            Ok(()) => removed.push(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => removed.push(p),
            Err(e) => tracing::error!(path = %p, error = %e, "cannot remove a repack buffer file"),
        }
    }
    if !removed.is_empty()
        && let Err(e) = db.buffers_removed(&removed)
    {
        tracing::error!(error = %e, "cannot record the removed repack buffer files");
    }
}
