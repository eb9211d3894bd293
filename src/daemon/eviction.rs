//! Evicting a disk copy of a file that is on tape, for `stager evict` and
//! the buffer's collector alike: the catalogue records it evicted first
//! (refusing a pinned copy or a file's only one), then the file at its
//! path is removed only if it is still the archived one, same size and
//! checksum, so a file written at the same path since is never lost.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::frontend::checks::resolve_dir;
use crate::scheduler::{BufferKeeping, EvictionClaim};
use crate::session::beneath::{Dir, is_regular};

/// The disk copy of one archived file.
#[derive(Debug, Clone)]
pub struct DiskCopy<'a> {
    pub file_id: u64,
    pub path: &'a str,
    pub size: u64,
    pub crc32c: Option<u32>,
}

/// Why a copy was kept; `transient` ones may go at another try.
#[derive(Debug)]
struct Kept {
    reason: String,
    transient: bool,
}

impl Kept {
    fn for_good(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            transient: false,
        }
    }

    fn for_now(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            transient: true,
        }
    }
}

/// Ok(true): removed now; Ok(false): it was gone already (or recorded
/// evicted); Err: kept, saying why.
pub fn evict(
    db: &mut dyn BufferKeeping,
    copy: &DiskCopy<'_>,
    roots: &[PathBuf],
) -> Result<bool, String> {
    match db.claim_eviction(copy.file_id).map_err(|e| e.to_string())? {
        EvictionClaim::Claimed => {}
        EvictionClaim::NotOnTape(state) => {
            return Err(format!(
                "not on tape ({state}): its disk copy is its only one"
            ));
        }
        EvictionClaim::Pinned => return Err("pinned by a stage request".into()),
        EvictionClaim::Evicted => return Ok(false),
    }
    let removed = resolve_dir(Path::new(copy.path), roots, "archive")
        .map_err(|e| Kept::for_good(e.message))
        .and_then(|(dir, name)| remove(&dir, &name, copy));
    match removed {
        Ok(removed) => Ok(removed),
        Err(kept) => {
            // Its copy may still be there: the catalogue must not say
            // otherwise, or a stage would wait on a recall for nothing.
            if kept.transient
                && let Err(e) = db.unclaim_eviction(copy.file_id)
            {
                tracing::error!(file_id = copy.file_id, error = %e, "cannot record a disk copy kept");
            }
            Err(kept.reason)
        }
    }
}

fn remove(dir: &Dir, name: &OsStr, copy: &DiskCopy<'_>) -> Result<bool, Kept> {
    let Some(before) = dir.stat(name).map_err(|e| Kept::for_now(e.to_string()))? else {
        return Ok(false);
    };
    if !is_regular(&before) || before.st_size as u64 != copy.size {
        return Err(Kept::for_good(
            "the file at this path is not the archived one (its size differs): kept",
        ));
    }
    let mut file = dir
        .open_read(name)
        .map_err(|e| Kept::for_now(e.to_string()))?;
    let mut crc = 0u32;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Kept::for_now(format!("cannot read it: {e}")))?;
        if n == 0 {
            break;
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
    }
    if Some(crc) != copy.crc32c {
        return Err(Kept::for_good(
            "the file at this path is not the archived one (its checksum differs): kept",
        ));
    }
    let now = dir.stat(name).map_err(|e| Kept::for_now(e.to_string()))?;
    if now.map(|s| (s.st_dev, s.st_ino)) != Some((before.st_dev, before.st_ino)) {
        return Err(Kept::for_now(
            "the file changed while it was checked; ask again",
        ));
    }
    nix::unistd::unlinkat(dir.fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir)
        .map_err(|e| Kept::for_now(format!("cannot remove it: {e}")))?;
    Ok(true)
}
