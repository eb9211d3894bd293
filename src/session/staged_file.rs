//! A file written where no one can see it, then put in place under its
//! name in one step that never replaces anything: the recall and readtp
//! destinations. A crash leaves either nothing or the whole, synced file.
//!
//! It is an unnamed `O_TMPFILE` in the destination directory where the
//! filesystem allows, linked in at the end; otherwise a temporary name,
//! renamed with `RENAME_NOREPLACE` (or linked then unlinked). Only what it
//! created is ever removed: a temporary name is unlinked only while it
//! still names this file's inode.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, RenameFlags, openat, renameat2};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, linkat, unlinkat};

use super::beneath::Dir;
use crate::scheduler::FileIdentity;

/// The identity a file's status gives.
pub fn identity_of(st: &nix::sys::stat::FileStat) -> FileIdentity {
    FileIdentity {
        dev: st.st_dev,
        ino: st.st_ino,
        mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StagedError {
    #[error("{path}: cannot create a file to write into: {source}")]
    Create { path: String, source: Errno },
    #[error("{path}: already exists (it is never replaced)")]
    Exists { path: String },
    #[error("{path}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        source: Errno,
    },
}

/// Unique temporary names within this process.
static NEXT: AtomicU64 = AtomicU64::new(0);

pub struct Staged<'a> {
    dir: &'a Dir,
    file: File,
    /// The temporary name, if the file has one (not O_TMPFILE).
    temp: Option<OsString>,
    identity: (u64, u64),
    placed: bool,
}

impl<'a> Staged<'a> {
    /// Creates the file in `dir`; `hint` goes into a temporary name.
    pub fn create(dir: &'a Dir, hint: &str) -> Result<Self, StagedError> {
        Self::create_as(dir, hint, true)
    }

    /// As `create`; `unnamed` false always uses a temporary name.
    pub fn create_as(dir: &'a Dir, hint: &str, unnamed: bool) -> Result<Self, StagedError> {
        // Nobody else may read it while it is written; `set_permissions`
        // gives the final rights before it is placed.
        let mode = Mode::from_bits_truncate(0o600);
        let unnamed_fd = if unnamed {
            match openat(
                dir.fd(),
                ".",
                OFlag::O_TMPFILE | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                mode,
            ) {
                Ok(fd) => Some(fd),
                // The filesystem has no unnamed files: use a temporary name.
                Err(Errno::EOPNOTSUPP | Errno::EISDIR | Errno::EINVAL | Errno::ENOENT) => None,
                Err(source) => {
                    return Err(StagedError::Create {
                        path: dir.path().display().to_string(),
                        source,
                    });
                }
            }
        } else {
            None
        };
        let (fd, temp) = match unnamed_fd {
            Some(fd) => (fd, None),
            None => {
                let name = OsString::from(format!(
                    ".{hint}.{}-{}.part",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                ));
                let fd = openat(
                    dir.fd(),
                    name.as_os_str(),
                    OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    mode,
                )
                .map_err(|source| StagedError::Create {
                    path: dir.path().join(&name).display().to_string(),
                    source,
                })?;
                (fd, Some(name))
            }
        };
        let file = File::from(fd);
        let st = nix::sys::stat::fstat(&file).map_err(|source| StagedError::Io {
            path: dir.path().display().to_string(),
            op: "fstat",
            source,
        })?;
        Ok(Self {
            dir,
            file,
            temp,
            identity: (st.st_dev, st.st_ino),
            placed: false,
        })
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// What the file will be once in place (call after the last write).
    pub fn identity(&self) -> Result<FileIdentity, StagedError> {
        let st = nix::sys::stat::fstat(&self.file).map_err(|source| StagedError::Io {
            path: self.dir.path().display().to_string(),
            op: "fstat",
            source,
        })?;
        Ok(identity_of(&st))
    }

    /// Gives the file its final permission bits, and its owner when
    /// `owner` is Some (root only): before it is placed, so it never shows
    /// more rights than these. Not subject to the umask.
    pub fn set_permissions(&self, mode: u32, owner: Option<(u32, u32)>) -> Result<(), StagedError> {
        let io = |op| {
            let path = self.dir.path().display().to_string();
            move |source| StagedError::Io { path, op, source }
        };
        if let Some((uid, gid)) = owner {
            nix::unistd::fchown(
                &self.file,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )
            .map_err(io("fchown"))?;
        }
        nix::sys::stat::fchmod(&self.file, Mode::from_bits_truncate(mode)).map_err(io("fchmod"))
    }

    /// Makes the contents durable (before recording or placing the file).
    pub fn sync(&self) -> Result<(), StagedError> {
        nix::unistd::fsync(&self.file).map_err(|source| StagedError::Io {
            path: self.dir.path().display().to_string(),
            op: "fsync",
            source,
        })
    }

    /// Puts the synced file in place as `name`, unless something is there.
    pub fn place(mut self, name: &OsStr) -> Result<(), StagedError> {
        self.sync()?;
        let shown = self.dir.path().join(name).display().to_string();
        let io = |op| {
            let path = shown.clone();
            move |source| StagedError::Io { path, op, source }
        };
        let result = match &self.temp {
            None => {
                let proc_path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
                linkat(
                    AT_FDCWD,
                    proc_path.as_str(),
                    self.dir.fd(),
                    name,
                    AtFlags::AT_SYMLINK_FOLLOW,
                )
            }
            Some(temp) => match renameat2(
                self.dir.fd(),
                temp.as_os_str(),
                self.dir.fd(),
                name,
                RenameFlags::RENAME_NOREPLACE,
            ) {
                // A filesystem without RENAME_NOREPLACE: a link never replaces either.
                Err(Errno::EINVAL | Errno::ENOSYS) => linkat(
                    self.dir.fd(),
                    temp.as_os_str(),
                    self.dir.fd(),
                    name,
                    AtFlags::empty(),
                )
                .and_then(|()| {
                    unlinkat(self.dir.fd(), temp.as_os_str(), UnlinkatFlags::NoRemoveDir)
                }),
                other => other,
            },
        };
        match result {
            Ok(()) => {}
            Err(Errno::EEXIST) => return Err(StagedError::Exists { path: shown }),
            Err(e) => return Err(io("cannot put the file in place")(e)),
        }
        self.placed = true;
        self.dir.sync().map_err(|e| StagedError::Io {
            path: shown,
            op: "fsync the directory",
            source: match e {
                super::beneath::BeneathError::Io { source, .. } => source,
                _ => Errno::EIO,
            },
        })
    }
}

impl Drop for Staged<'_> {
    /// An unplaced temporary name goes, if it still names this file.
    fn drop(&mut self) {
        let Some(temp) = self.temp.as_ref().filter(|_| !self.placed) else {
            return;
        };
        match self.dir.stat(temp) {
            Ok(Some(st)) if (st.st_dev, st.st_ino) == self.identity => {
                if let Err(e) =
                    unlinkat(self.dir.fd(), temp.as_os_str(), UnlinkatFlags::NoRemoveDir)
                {
                    tracing::warn!(path = %self.dir.path().join(temp).display(), error = %e, "cannot remove a temporary file");
                }
            }
            _ => {
                tracing::warn!(path = %self.dir.path().join(temp).display(), "the temporary name no longer names our file: left alone")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::PathBuf;

    use super::*;

    fn dir() -> (tempfile::TempDir, Dir) {
        let tmp = tempfile::tempdir().unwrap();
        let root: PathBuf = std::fs::canonicalize(tmp.path()).unwrap();
        let dir = Dir::beneath(std::slice::from_ref(&root), &root, "test").unwrap();
        (tmp, dir)
    }

    fn names(dir: &Dir) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_staged_file_appears_whole_under_its_name_and_nothing_else_remains() {
        for unnamed in [true, false] {
            let (_tmp, dir) = dir();
            let mut staged = Staged::create_as(&dir, "f", unnamed).unwrap();
            staged.file().write_all(b"payload").unwrap();
            let before = staged.identity().unwrap();
            staged.place(OsStr::new("f")).unwrap();
            assert_eq!(names(&dir), ["f"], "unnamed={unnamed}");
            let st = dir.stat(OsStr::new("f")).unwrap().unwrap();
            assert_eq!(identity_of(&st), before, "placing keeps the identity");
            assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"payload");
        }
    }

    #[test]
    fn an_existing_file_is_never_replaced_and_an_abandoned_one_leaves_nothing() {
        for unnamed in [true, false] {
            let (_tmp, dir) = dir();
            std::fs::write(dir.path().join("f"), b"theirs").unwrap();
            let mut staged = Staged::create_as(&dir, "f", unnamed).unwrap();
            staged.file().write_all(b"ours").unwrap();
            assert!(matches!(
                staged.place(OsStr::new("f")),
                Err(StagedError::Exists { .. })
            ));
            assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"theirs");
            assert_eq!(names(&dir), ["f"], "unnamed={unnamed}");
            drop(Staged::create_as(&dir, "g", unnamed).unwrap());
            assert_eq!(names(&dir), ["f"], "an abandoned file leaves nothing");
        }
    }

    #[test]
    fn a_temporary_name_someone_else_took_over_is_left_alone() {
        let (_tmp, dir) = dir();
        let staged = Staged::create_as(&dir, "f", false).unwrap();
        let temp = staged.temp.clone().unwrap();
        std::fs::remove_file(dir.path().join(&temp)).unwrap();
        std::fs::write(dir.path().join(&temp), b"someone else's").unwrap();
        drop(staged);
        assert_eq!(
            std::fs::read(dir.path().join(&temp)).unwrap(),
            b"someone else's"
        );
    }
}
