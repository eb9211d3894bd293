//! Small helpers shared by several modules.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `contents` so that a crash leaves either the old or
/// the new file, never a torn one: temp file, fsync, rename, fsync directory.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Opens (creating it 0640 if absent) a file that is only ever locked or
/// rewritten through its descriptor: a lease, a lock. Never truncated on
/// open and never through a symbolic link, so a process that may write the
/// directory cannot aim this process's writes at another file.
pub fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// What the daemon's processes create is never world-readable nor
/// writable by anyone but them (the catalogue, cartridges of file drives,
/// leases, directories), whatever umask they were started under; sockets
/// and recalled files get explicit modes of their own.
pub fn restrict_umask() {
    let current = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o027));
    // Keep a stricter one an operator chose.
    nix::sys::stat::umask(current | nix::sys::stat::Mode::from_bits_truncate(0o027));
}

/// This process's peak resident memory in KiB (VmHWM), 0 if unknown.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Megabytes (10^6) per second, for logs and `tpstat`.
pub fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 / 1e6 / seconds
    } else {
        0.0
    }
}

/// Logs of bad input, at most one a second: a client flooding garbage must
/// not flood the journal too. `allow` says whether to log now and how many
/// events went unlogged since the last time.
#[derive(Debug)]
pub struct Throttle {
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl Throttle {
    pub const fn new() -> Self {
        Self {
            last: None,
            suppressed: 0,
        }
    }

    pub fn allow(&mut self) -> Option<u64> {
        let now = std::time::Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < std::time::Duration::from_secs(1) => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::Throttle;

    #[test]
    fn a_burst_logs_once_and_counts_the_rest() {
        let mut t = Throttle::new();
        assert_eq!(t.allow(), Some(0));
        for _ in 0..1000 {
            assert_eq!(t.allow(), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_file_is_never_opened_through_a_link_nor_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, b"keep me").unwrap();
        let link = dir.path().join("library.lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_lock_file(&link).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
        // An existing lock keeps its content (who held it last).
        let lock = dir.path().join("tlc.lease");
        std::fs::write(&lock, b"holder").unwrap();
        open_lock_file(&lock).unwrap();
        assert_eq!(std::fs::read(&lock).unwrap(), b"holder");
    }
}
