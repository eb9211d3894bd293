//! Paths resolved beneath an allowed root at the moment they are opened,
//! never from a string checked earlier: the frontend checked them when
//! they were queued, but a directory can be swapped for a symlink since.
//!
//! A root is opened, then the rest of the path is resolved from its
//! descriptor with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, or, on
//! kernels without it, one `O_NOFOLLOW` component at a time. Files are
//! then opened, created, linked and unlinked relative to the directory's
//! descriptor, so what was checked is what is used.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};

#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    #[error("{path}: not under an allowed {what} directory")]
    NotUnder { path: PathBuf, what: &'static str },
    #[error(
        "{path}: not under an allowed {what} directory once resolved (a component is a symbolic link, or leads outside): {source}"
    )]
    Escapes {
        path: PathBuf,
        what: &'static str,
        source: Errno,
    },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: Errno },
}

/// A directory opened beneath one of the roots.
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// Opens `dir` if it lies beneath one of `roots` (canonicalized here,
    /// as operators may give them through symlinks) without following any
    /// symbolic link below the root. `what` names the roots in errors.
    pub fn beneath(roots: &[PathBuf], dir: &Path, what: &'static str) -> Result<Dir, BeneathError> {
        let not_under = || BeneathError::NotUnder {
            path: dir.to_path_buf(),
            what,
        };
        let (root, rest) = roots
            .iter()
            .filter_map(|r| std::fs::canonicalize(r).ok())
            .find_map(|root| {
                let rest = dir.strip_prefix(&root).ok()?.to_path_buf();
                Some((root, rest))
            })
            .ok_or_else(not_under)?;
        if rest
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(not_under());
        }
        let dir_flags = OFlag::O_DIRECTORY | OFlag::O_PATH | OFlag::O_CLOEXEC;
        let root_fd =
            openat(nix::fcntl::AT_FDCWD, &root, dir_flags, Mode::empty()).map_err(|source| {
                BeneathError::Io {
                    path: root.clone(),
                    source,
                }
            })?;
        let escapes = |source| BeneathError::Escapes {
            path: dir.to_path_buf(),
            what,
            source,
        };
        if rest.as_os_str().is_empty() {
            return Ok(Dir {
                fd: root_fd,
                path: dir.to_path_buf(),
            });
        }
        let how = OpenHow::new().flags(dir_flags).resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
        let fd = match openat2(&root_fd, &rest, how) {
            Err(Errno::ENOSYS) => walk(root_fd, &rest).map_err(escapes)?,
            other => other.map_err(escapes)?,
        };
        Ok(Dir {
            fd,
            path: dir.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, name: &OsStr) -> impl FnOnce(Errno) -> BeneathError + '_ {
        let path = self.path.join(name);
        move |source| BeneathError::Io { path, source }
    }

    /// Opens an entry for reading: never follows a symbolic link, never
    /// blocks (a FIFO or device in a file's place is opened, not waited
    /// on; the caller checks what it got).
    pub fn open_read(&self, name: &OsStr) -> Result<File, BeneathError> {
        let flags = OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC;
        let fd = openat(&self.fd, name, flags, Mode::empty()).map_err(self.io(name))?;
        Ok(File::from(fd))
    }

    /// What an entry is, without following a symbolic link (None: absent).
    pub fn stat(&self, name: &OsStr) -> Result<Option<FileStat>, BeneathError> {
        match fstatat(&self.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(self.io(name)(e)),
        }
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Makes the directory's entries durable (after a link or unlink).
    pub fn sync(&self) -> Result<(), BeneathError> {
        // An O_PATH descriptor cannot be fsynced: open the directory itself.
        let fd = openat(
            &self.fd,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(self.io(OsStr::new(".")))?;
        nix::unistd::fsync(&fd).map_err(self.io(OsStr::new(".")))
    }
}

/// True if `st` is a regular file.
pub fn is_regular(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG
}

/// Splits a path into its directory and final name.
pub fn split(path: &Path) -> Option<(&Path, OsString)> {
    Some((path.parent()?, path.file_name()?.to_os_string()))
}

/// The O_NOFOLLOW walk for kernels without openat2: each directory
/// component is opened relative to the last, refusing symbolic links.
fn walk(root: OwnedFd, rest: &Path) -> Result<OwnedFd, Errno> {
    let mut fd = root;
    for part in rest.components() {
        let Component::Normal(name) = part else {
            return Err(Errno::EXDEV);
        };
        fd = openat(
            fd.as_fd(),
            name,
            OFlag::O_DIRECTORY | OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap().join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), b"data").unwrap();
        std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
        std::fs::write(tmp.path().join("outside/f"), b"secret").unwrap();
        (tmp, root)
    }

    #[test]
    fn a_directory_beneath_a_root_opens_and_reads() {
        let (_tmp, root) = tree();
        let dir = Dir::beneath(std::slice::from_ref(&root), &root.join("a/b"), "test").unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut dir.open_read(OsStr::new("f")).unwrap(), &mut text)
            .unwrap();
        assert_eq!(text, "data");
        assert!(dir.stat(OsStr::new("missing")).unwrap().is_none());
        assert!(is_regular(&dir.stat(OsStr::new("f")).unwrap().unwrap()));
    }

    #[test]
    fn symlinks_and_dot_dots_never_lead_outside() {
        let (tmp, root) = tree();
        let roots = std::slice::from_ref(&root);
        std::os::unix::fs::symlink(tmp.path().join("outside"), root.join("a/link")).unwrap();
        assert!(matches!(
            Dir::beneath(roots, &root.join("a/link"), "test"),
            Err(BeneathError::Escapes { .. })
        ));
        // Even a symlink that stays inside is refused: nothing is followed.
        std::os::unix::fs::symlink(root.join("a/b"), root.join("inner")).unwrap();
        assert!(Dir::beneath(roots, &root.join("inner"), "test").is_err());
        assert!(matches!(
            Dir::beneath(roots, &root.join("a/../../outside"), "test"),
            Err(BeneathError::NotUnder { .. })
        ));
        assert!(matches!(
            Dir::beneath(roots, &tmp.path().join("outside"), "test"),
            Err(BeneathError::NotUnder { .. })
        ));
        let dir = Dir::beneath(roots, &root.join("a"), "test").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("outside/f"), root.join("a/fl")).unwrap();
        assert!(
            dir.open_read(OsStr::new("fl")).is_err(),
            "the last component is not followed"
        );
    }

    #[test]
    fn the_walk_refuses_symlinks_as_openat2_does() {
        let (tmp, root) = tree();
        std::os::unix::fs::symlink(tmp.path().join("outside"), root.join("a/link")).unwrap();
        let open_root = || {
            openat(
                nix::fcntl::AT_FDCWD,
                &root,
                OFlag::O_DIRECTORY | OFlag::O_PATH,
                Mode::empty(),
            )
            .unwrap()
        };
        assert!(walk(open_root(), Path::new("a/b")).is_ok());
        let refused = walk(open_root(), Path::new("a/link")).err();
        assert!(
            matches!(refused, Some(Errno::ELOOP | Errno::ENOTDIR)),
            "{refused:?}"
        );
    }
}
