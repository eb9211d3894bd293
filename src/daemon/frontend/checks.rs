//! What the frontend checks before it queues anything: an archive source
//! is a regular file beneath one of the client's archive roots; a recall
//! destination is a new name in an existing directory beneath one of its
//! recall roots.
//!
//! A string checked, then opened again, can mean another file by then (a
//! directory swapped for a symbolic link in between). So the path is
//! resolved beneath its root from the root's descriptor, refusing every
//! symbolic link below it (`session::beneath`, as sessions do when they
//! open the same paths), and the file is examined through what was
//! resolved: never a device or FIFO opened, never a file outside the roots.

use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::messaging::refusal::{ErrorCode, Refusal};
use crate::scheduler::{NewArchiveFile, Permissions};
use crate::session::beneath::{BeneathError, Dir, is_regular, split};

/// The longest file name Linux file systems take.
const NAME_MAX: usize = 255;

/// "not under an allowed archive directory (the allowed: /a, /b; set by
/// the daemon's [paths] archive_roots, or this client's own)".
fn outside_roots(shown: &dyn std::fmt::Display, what: &str, roots: &[PathBuf]) -> Refusal {
    let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    Refusal::new(
        ErrorCode::PermissionDenied,
        format!(
            "{shown}: not under an allowed {what} directory (the allowed: {}; set by the daemon's [paths] {what}_roots, or this client's own in [[security.clients]])",
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        ),
    )
}

/// The path as the client gave it: absolute, no NUL byte, a file name
/// (not a directory: no trailing slash), each name within NAME_MAX.
fn well_formed<'a>(path: &'a str, what: &str) -> Result<&'a Path, Refusal> {
    if path.contains('\0') {
        return Err(Refusal::invalid_argument(format!(
            "{}: {what} paths cannot contain a NUL byte",
            path.replace('\0', "\\0")
        )));
    }
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(Refusal::invalid_argument(format!(
            "{path}: {what} paths must be absolute"
        )));
    }
    if path.ends_with('/') || p.file_name().is_none() {
        return Err(Refusal::invalid_argument(format!(
            "{path}: names a directory, not a file"
        )));
    }
    if let Some(long) = p.components().find(|c| c.as_os_str().len() > NAME_MAX) {
        return Err(Refusal::invalid_argument(format!(
            "{path}: a name of {} bytes (at most {NAME_MAX})",
            long.as_os_str().len()
        )));
    }
    Ok(p)
}

/// `resolve` for a path as the client gave it (checked well formed).
pub(in crate::daemon) fn resolve_dir(
    path: &Path,
    roots: &[PathBuf],
    what: &'static str,
) -> Result<(Dir, std::ffi::OsString), Refusal> {
    let text = path.to_str().ok_or_else(|| {
        Refusal::invalid_argument(format!("{}: path is not valid UTF-8", path.display()))
    })?;
    resolve(well_formed(text, what)?, roots, what)
}

/// The directory of `path` resolved beneath `roots`, and the final name.
/// The client's own path may pass through symbolic links above or inside
/// its root (resolved once, here, to the real path that is recorded); once
/// real, nothing below the root may be a link.
fn resolve(
    path: &Path,
    roots: &[PathBuf],
    what: &'static str,
) -> Result<(Dir, std::ffi::OsString), Refusal> {
    let shown = path.display();
    let (dir, name) = split(path)
        .ok_or_else(|| Refusal::invalid_argument(format!("{shown}: not a file path")))?;
    let real_dir = std::fs::canonicalize(dir).map_err(|e| io_refusal(&shown, "", &e))?;
    let dir = Dir::beneath(roots, &real_dir, what).map_err(|e| match e {
        BeneathError::NotUnder { .. } | BeneathError::Escapes { .. } => {
            outside_roots(&shown, what, roots)
        }
        BeneathError::Io { source, .. } => errno_refusal(&shown, "", source),
    })?;
    Ok((dir, name))
}

/// An archive source must be a readable regular file under an allowed root.
pub fn check_archive_source(
    path: &str,
    roots: &[PathBuf],
    owner: &str,
) -> Result<NewArchiveFile, Refusal> {
    let path = well_formed(path, "archive")?;
    let shown = path.display();
    let (dir, name) = resolve(path, roots, "archive")?;
    let beneath = |e: BeneathError| match e {
        BeneathError::Io {
            source: Errno::ELOOP,
            ..
        } => outside_roots(&shown, "archive", roots),
        BeneathError::Io { source, .. } => errno_refusal(&shown, "", source),
        other => outside_roots(&other, "archive", roots),
    };
    // What it is before it is opened: a device, FIFO or socket is never
    // opened (opening a tape device rewinds it).
    let before = dir
        .stat(&name)
        .map_err(beneath)?
        .ok_or_else(|| Refusal::not_found(format!("{shown}: no such file or directory")))?;
    if !is_regular(&before) {
        let link = nix::sys::stat::SFlag::from_bits_truncate(before.st_mode)
            & nix::sys::stat::SFlag::S_IFMT
            == nix::sys::stat::SFlag::S_IFLNK;
        return Err(if link {
            outside_roots(&shown, "archive", roots)
        } else {
            Refusal::failed_precondition(format!("{shown}: not a regular file"))
        });
    }
    let file = dir.open_read(&name).map_err(|e| match e {
        BeneathError::Io { source, .. } => errno_refusal(&shown, "cannot be read: ", source),
        other => beneath(other),
    })?;
    let meta = nix::sys::stat::fstat(&file).map_err(|e| errno_refusal(&shown, "", e))?;
    if (meta.st_dev, meta.st_ino) != (before.st_dev, before.st_ino) || !is_regular(&meta) {
        return Err(Refusal::failed_precondition(format!(
            "{shown}: changed while it was checked; ask again"
        )));
    }
    let real = dir.path().join(&name);
    let path = real
        .to_str()
        .ok_or_else(|| Refusal::invalid_argument(format!("{shown}: path is not valid UTF-8")))?
        .to_string();
    Ok(NewArchiveFile {
        path,
        size: meta.st_size as u64,
        owner: owner.to_string(),
        permissions: Some(Permissions {
            mode: meta.st_mode & 0o7777,
            uid: meta.st_uid,
            gid: meta.st_gid,
        }),
    })
}

/// A recall destination must be a new file in an existing directory under
/// an allowed root. Anything but "absent" (a name taken, a directory that
/// cannot be read) is refused now, not after a mount.
pub fn check_recall_destination(dest: &str, roots: &[PathBuf]) -> Result<String, Refusal> {
    let dest = well_formed(dest, "recall")?;
    let shown = dest.display();
    let (dir, name) = resolve(dest, roots, "recall")?;
    match dir.stat(&name) {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(Refusal::new(
                ErrorCode::AlreadyExists,
                format!("{shown}: already exists (a recall never overwrites)"),
            ));
        }
        Err(BeneathError::Io { source, .. }) => return Err(errno_refusal(&shown, "", source)),
        Err(other) => return Err(outside_roots(&other, "recall", roots)),
    }
    let real = dir.path().join(&name);
    real.to_str()
        .map(str::to_string)
        .ok_or_else(|| Refusal::invalid_argument(format!("{shown}: path is not valid UTF-8")))
}

fn errno_refusal(shown: &impl std::fmt::Display, what: &str, e: Errno) -> Refusal {
    io_refusal(shown, what, &std::io::Error::from(e))
}

/// An I/O error as one sentence with the code it deserves.
fn io_refusal(shown: &impl std::fmt::Display, what: &str, e: &std::io::Error) -> Refusal {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            Refusal::not_found(format!("{shown}: {what}no such file or directory"))
        }
        std::io::ErrorKind::PermissionDenied => Refusal::new(
            ErrorCode::PermissionDenied,
            format!("{shown}: {what}permission denied"),
        ),
        _ => Refusal::invalid_argument(format!("{shown}: {what}{e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    #[test]
    fn archive_sources_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let allowed = root.join("allowed");
        std::fs::create_dir(&allowed).unwrap();
        std::fs::write(allowed.join("f"), b"12345").unwrap();
        std::fs::write(root.join("outside"), b"x").unwrap();
        let roots = vec![allowed.clone()];
        assert_eq!(
            check_archive_source(s(&allowed.join("f")), &roots, "local")
                .unwrap()
                .size,
            5
        );
        let missing = check_archive_source(s(&allowed.join("nope")), &roots, "local").unwrap_err();
        assert!(missing.message.contains("no such file"), "{missing}");
        assert_eq!(missing.code, ErrorCode::NotFound);
        let outside =
            check_archive_source(s(&allowed.join("../outside")), &roots, "local").unwrap_err();
        assert!(
            outside.message.contains("not under an allowed"),
            "{outside}"
        );
        assert_eq!(outside.code, ErrorCode::PermissionDenied);
        std::os::unix::fs::symlink(root.join("outside"), allowed.join("link")).unwrap();
        let link = check_archive_source(s(&allowed.join("link")), &roots, "local").unwrap_err();
        assert!(link.message.contains("not under an allowed"), "{link}");
        // A directory inside the root that is a link out of it.
        std::fs::create_dir(root.join("elsewhere")).unwrap();
        std::fs::write(root.join("elsewhere/g"), b"secret").unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), allowed.join("sub")).unwrap();
        assert!(
            check_archive_source(s(&allowed.join("sub/g")), &roots, "local").is_err(),
            "a linked directory cannot escape"
        );
        assert!(
            check_archive_source(&format!("{}/", s(&allowed)), &roots, "local")
                .unwrap_err()
                .message
                .contains("names a directory")
        );
        std::fs::create_dir(allowed.join("d")).unwrap();
        assert!(
            check_archive_source(s(&allowed.join("d")), &roots, "local")
                .unwrap_err()
                .message
                .contains("not a regular file")
        );
        nix::unistd::mkfifo(&allowed.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(
            check_archive_source(s(&allowed.join("fifo")), &roots, "local")
                .unwrap_err()
                .message
                .contains("not a regular file"),
            "a FIFO is refused without being opened (which would block)"
        );
        assert!(
            check_archive_source("relative", &roots, "local")
                .unwrap_err()
                .message
                .contains("absolute")
        );
    }

    #[test]
    fn recall_destinations_are_checked_at_queue_time() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let roots = vec![root.clone()];
        assert!(check_recall_destination(s(&root.join("new")), &roots).is_ok());
        std::fs::write(root.join("exists"), b"").unwrap();
        assert!(
            check_recall_destination(s(&root.join("exists")), &roots)
                .unwrap_err()
                .message
                .contains("already exists")
        );
        assert!(check_recall_destination(s(&root.join("nodir/new")), &roots).is_err());
        assert!(
            check_recall_destination("/new", &roots)
                .unwrap_err()
                .message
                .contains("not under")
        );
        let nul = check_recall_destination(&format!("{}/a\0b", s(&root)), &roots).unwrap_err();
        assert!(nul.message.contains("NUL byte"), "{nul}");
        let long = check_recall_destination(&format!("{}/{}", s(&root), "n".repeat(300)), &roots)
            .unwrap_err();
        assert!(long.message.contains("300 bytes"), "{long}");
        std::fs::create_dir(root.join("out")).unwrap();
        let slash =
            check_recall_destination(&format!("{}/out/newdir/", s(&root)), &roots).unwrap_err();
        assert!(slash.message.contains("names a directory"), "{slash}");
        std::os::unix::fs::symlink("/tmp", root.join("escape")).unwrap();
        assert!(
            check_recall_destination(s(&root.join("escape/x")), &roots).is_err(),
            "a linked directory leads nowhere"
        );
    }
}
