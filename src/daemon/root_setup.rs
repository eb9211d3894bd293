//! What the daemon does before it serves: its directories with explicit
//! modes, then, when started by root with `[security] user`, it becomes
//! that user for good (parent, forker and sessions alike).
//!
//! Nothing of the daemon keeps root once it serves: a root process that
//! opens, chowns or truncates paths in directories the service user can
//! write is a root process the service user can aim at any file (a symlink
//! where the lease was). The only steps taken as root are on the run and
//! state directories themselves, opened without following a link and
//! changed through their descriptor.

use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::sys::stat::{Mode, fchmod};
use nix::unistd::{Gid, Uid, fchown};

use super::DaemonError;
use crate::config::Config;

/// The run directory holds the sockets (0660: the service's group uses
/// them); the state directory the catalogue. Owner and group only.
const RUN_DIR_MODE: u32 = 0o750;
const STATE_DIR_MODE: u32 = 0o750;

/// Makes the run and state directories and, as root with
/// a service user, hands them to that user and becomes it. Returns the user
/// the daemon now runs as, when it switched.
pub fn prepare(config: &Config) -> Result<Option<String>, DaemonError> {
    let handover = match &config.security.user {
        Some(user) if nix::unistd::geteuid().is_root() => Some((
            user.clone(),
            crate::privileges::lookup(user).map_err(|e| DaemonError::SessionUser(e.to_string()))?,
        )),
        _ => None,
    };
    let owner = handover.as_ref().map(|(_, ids)| *ids);
    prepare_dir(&config.daemon.run_dir, RUN_DIR_MODE, owner)?;
    prepare_dir(&config.daemon.state_dir, STATE_DIR_MODE, owner)?;
    match handover {
        Some((user, _)) => {
            crate::privileges::drop_to(&user)
                .map_err(|e| DaemonError::SessionUser(e.to_string()))?;
            Ok(Some(user))
        }
        None => Ok(None),
    }
}

/// An archive source is opened beneath its root without following links,
/// but a hard link is an ordinary name: only the kernel's
/// `fs.protected_hardlinks` stops a user from linking another's file into
/// a root a client may archive from. Said at start when it is off.
pub fn warn_unprotected_hardlinks() {
    if let Ok(value) = std::fs::read_to_string("/proc/sys/fs/protected_hardlinks")
        && !hardlinks_protected(&value)
    {
        tracing::warn!(
            "fs.protected_hardlinks is 0: a user can hard-link a file it cannot read into an archive root and have it archived; set it to 1 (sysctl fs.protected_hardlinks=1, the kernel's default)"
        );
    }
}

fn hardlinks_protected(value: &str) -> bool {
    value.trim() != "0"
}

/// Makes `dir` (and its missing parents) with `mode` whatever the umask,
/// refuses one every user may write, and gives a root-owned one to the
/// service user. The directory is opened without following a link and
/// changed through its descriptor only.
fn prepare_dir(dir: &Path, mode: u32, owner: Option<(Uid, Gid)>) -> Result<(), DaemonError> {
    let failed = |source: std::io::Error| DaemonError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    let created = match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent).map_err(failed)?;
            }
            std::fs::DirBuilder::new()
                .mode(mode)
                .create(dir)
                .map_err(failed)?;
            true
        }
        Err(e) => return Err(failed(e)),
    };
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => DaemonError::UnsafeDir {
                path: dir.to_path_buf(),
                why: "it is not a directory (a symbolic link?)".into(),
            },
            _ => failed(e),
        })?;
    let meta = handle.metadata().map_err(failed)?;
    if created {
        fchmod(handle.as_fd(), Mode::from_bits_truncate(mode)).map_err(|e| failed(e.into()))?;
    } else if meta.mode() & 0o002 != 0 {
        return Err(DaemonError::UnsafeDir {
            path: dir.to_path_buf(),
            why: format!(
                "every user may write it (mode {:o}): give it mode {mode:o}",
                meta.mode() & 0o7777
            ),
        });
    }
    if let Some((uid, gid)) = owner
        && meta.uid() == 0
    {
        fchown(handle.as_fd(), Some(uid), Some(gid)).map_err(|e| failed(e.into()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_hardlinks_is_read_from_the_sysctl() {
        assert!(hardlinks_protected("1\n"));
        assert!(!hardlinks_protected("0\n"));
    }

    #[test]
    fn directories_get_their_modes_whatever_the_umask_and_a_link_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("a/b/state");
        prepare_dir(&state, STATE_DIR_MODE, None).unwrap();
        let mode = std::fs::metadata(&state).unwrap().mode() & 0o7777;
        assert_eq!(mode, STATE_DIR_MODE, "{mode:o}");

        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let err = prepare_dir(&open, STATE_DIR_MODE, None).unwrap_err();
        assert!(err.to_string().contains("every user may write it"), "{err}");

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&state, &link).unwrap();
        let err = prepare_dir(&link, STATE_DIR_MODE, None).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
