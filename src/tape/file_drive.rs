//! `FileDrive`: a tape drive whose cartridges are directories of files.
//!
//! A drive's device is a directory; the library loads a cartridge by linking
//! `DEVICE/cartridge` to the cartridge directory, which holds:
//! - `data`: block payloads back to back;
//! - `index`: one checksummed 24-byte entry per block id (payload offset,
//!   length, CRC32C, kind), so LOCATE is one seek (see [`index`]);
//! - `flushed`: how many blocks the last flush made durable;
//! - `lock`: held while a drive has the cartridge open, so a cartridge is
//!   never open in two drives, whatever the links say;
//! - `cartridge.json`: VID, capacity and index format.
//!
//! Like a real drive, writes are buffered (in the page cache) until a flush;
//! writing anywhere but at end of data truncates what follows; every block's
//! CRC32C is stored and verified on read. Loading validates the whole index:
//! the unflushed tail a crash tore is trimmed, everything a flush made
//! durable is kept, and a cartridge damaged below its flushed mark is
//! refused. The file marks are rebuilt from the index at every load.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::drive::{
    DriveError, DriveInfo, LBP_CRC_LEN, ReadOutcome, TapeDrive, WriteOutcome, lbp_open,
};

mod index;

use index::{ENTRY_LEN, FlushedMark, IndexEntry, KIND_DATA, KIND_FILEMARK, read_entry};

const CARTRIDGE_LINK: &str = "cartridge";
const META_FILE: &str = "cartridge.json";
const FLUSHED_FILE: &str = "flushed";
const LOCK_FILE: &str = "lock";
/// Cartridges written before the index carried checksums (upgraded on load).
const LEGACY_FORMAT: u32 = 1;
const INDEX_FORMAT: u32 = 2;
/// Written data is handed to the disk in chunks of this size, as a drive
/// drains its buffer to the medium while it streams, so a flush waits only
/// for the tail instead of everything since the last one.
const WRITE_BEHIND: u64 = 16 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CartridgeMeta {
    pub vid: String,
    /// Bytes of payload the cartridge holds.
    pub capacity: u64,
    /// Writes past `capacity - early_warning` report early warning.
    pub early_warning: u64,
    #[serde(default = "legacy_format")]
    pub index_format: u32,
}

fn legacy_format() -> u32 {
    LEGACY_FORMAT
}

/// An open cartridge: the files and where the head is.
struct Cartridge {
    dir: PathBuf,
    data: File,
    index: File,
    flushed_file: File,
    flushed: FlushedMark,
    meta: CartridgeMeta,
    blocks: u64,
    data_len: u64,
    marks: Vec<u64>,
    pos: u64,
    /// Data before this offset has been handed to the disk.
    written_back: u64,
    /// Held (flock) while the cartridge is open.
    _lock: File,
}

pub struct FileDrive {
    name: String,
    device: PathBuf,
    lbp: bool,
    cartridge: Option<Cartridge>,
}

/// Creates an empty cartridge directory (a blank tape).
pub fn create_cartridge(dir: &Path, vid: &str, capacity: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for name in ["data", "index"] {
        File::create(dir.join(name))?.sync_all()?;
    }
    FlushedMark::default().advance(&File::create(dir.join(FLUSHED_FILE))?, 0, 0)?;
    let meta = CartridgeMeta {
        vid: vid.to_string(),
        capacity,
        early_warning: (capacity / 50).max(4 << 20).min(capacity / 2),
        index_format: INDEX_FORMAT,
    };
    write_meta(dir, &meta)
}

fn write_meta(dir: &Path, meta: &CartridgeMeta) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(meta).map_err(std::io::Error::other)?;
    crate::util::write_atomically(&dir.join(META_FILE), &text)
}

/// Reads a cartridge's metadata.
pub fn read_cartridge_meta(dir: &Path) -> std::io::Result<CartridgeMeta> {
    let text = std::fs::read(dir.join(META_FILE))?;
    serde_json::from_slice(&text).map_err(std::io::Error::other)
}

impl FileDrive {
    pub fn new(name: &str, device: &Path) -> Self {
        Self {
            name: name.to_string(),
            device: device.to_path_buf(),
            lbp: false,
            cartridge: None,
        }
    }

    /// The link through which the library loads a cartridge into this drive.
    pub fn cartridge_link(device: &Path) -> PathBuf {
        device.join(CARTRIDGE_LINK)
    }

    fn cart(&mut self) -> Result<&mut Cartridge, DriveError> {
        let drive = self.name.clone();
        self.cartridge
            .as_mut()
            .ok_or(DriveError::NoCartridge { drive })
    }

    fn open_cartridge(&self, dir: &Path) -> Result<Cartridge, DriveError> {
        let bad = |reason: String| DriveError::BadCartridge {
            path: dir.to_path_buf(),
            reason,
        };
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(|e| bad(format!("cannot open {LOCK_FILE}: {e}")))?;
        if lock.try_lock().is_err() {
            return Err(DriveError::Busy {
                drive: self.name.clone(),
            });
        }
        let mut meta =
            read_cartridge_meta(dir).map_err(|e| bad(format!("cannot read {META_FILE}: {e}")))?;
        if meta.index_format == LEGACY_FORMAT {
            upgrade_legacy(dir, &mut meta).map_err(|e| bad(format!("cannot upgrade: {e}")))?;
        } else if meta.index_format != INDEX_FORMAT {
            return Err(bad(format!("unknown index format {}", meta.index_format)));
        }
        let open = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(dir.join(name))
                .map_err(|e| bad(format!("cannot open {name}: {e}")))
        };
        let (data, index, flushed_file) = (open("data")?, open("index")?, open(FLUSHED_FILE)?);
        let flushed = FlushedMark::read(&flushed_file)
            .map_err(|e| bad(format!("cannot read {FLUSHED_FILE}: {e}")))?
            .ok_or_else(|| bad(format!("{FLUSHED_FILE} holds no valid mark")))?;
        let len_of = |f: &File, name: &str| {
            f.metadata()
                .map(|m| m.len())
                .map_err(|e| bad(format!("cannot stat {name}: {e}")))
        };
        let data_file_len = len_of(&data, "data")?;
        let index_file_len = len_of(&index, "index")?;
        let scanned = index::scan(&index, data_file_len, &flushed, true).map_err(bad)?;
        // Only the unflushed tail a crash tore goes; the scan never stops below the mark.
        if index_file_len > scanned.blocks * ENTRY_LEN {
            tracing::warn!(cartridge = %dir.display(), kept = scanned.blocks, flushed = flushed.blocks, "trimming the index past the last valid block");
            index
                .set_len(scanned.blocks * ENTRY_LEN)
                .map_err(|e| bad(format!("cannot trim index: {e}")))?;
        }
        if data_file_len > scanned.data_len {
            data.set_len(scanned.data_len)
                .map_err(|e| bad(format!("cannot trim data: {e}")))?;
        }
        Ok(Cartridge {
            dir: dir.to_path_buf(),
            data,
            index,
            flushed_file,
            flushed,
            meta,
            blocks: scanned.blocks,
            data_len: scanned.data_len,
            marks: scanned.marks,
            pos: 0,
            written_back: scanned.data_len,
            _lock: lock,
        })
    }
}

/// Rewrites a first-format cartridge's index with checksums and gives it a
/// flushed mark. Its entries are validated as a chain (no checksums to
/// check); the new index replaces the old one atomically, so a crash in
/// the middle leaves the old cartridge, which upgrades again.
fn upgrade_legacy(dir: &Path, meta: &mut CartridgeMeta) -> std::io::Result<()> {
    let index = File::open(dir.join("index"))?;
    let data_len = std::fs::metadata(dir.join("data"))?.len();
    let scanned = index::scan(&index, data_len, &FlushedMark::default(), false)
        .map_err(std::io::Error::other)?;
    let mut raw = Vec::with_capacity((scanned.blocks * ENTRY_LEN) as usize);
    for id in 0..scanned.blocks {
        let mut old = [0u8; ENTRY_LEN as usize];
        index.read_exact_at(&mut old, id * ENTRY_LEN)?;
        raw.extend_from_slice(&IndexEntry::decode_unchecked(&old).encode(id));
    }
    crate::util::write_atomically(&dir.join("index"), &raw)?;
    let flushed = File::create(dir.join(FLUSHED_FILE))?;
    FlushedMark::default().advance(&flushed, scanned.blocks, scanned.data_len)?;
    meta.index_format = INDEX_FORMAT;
    write_meta(dir, meta)?;
    match std::fs::remove_file(dir.join("marks")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    tracing::info!(cartridge = %dir.display(), blocks = scanned.blocks, "cartridge index upgraded to checksummed entries");
    Ok(())
}

/// Starts writing a range of the file to disk without waiting for it (a hint:
/// durability still comes from the flush's fsync, so failures are ignored).
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the borrow of `file`; the call reads
    // no memory of ours and only schedules writeback of the file's pages.
    let rc = unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "write-behind hint failed");
    }
}

impl Cartridge {
    /// Writing anywhere but at end of data discards what follows.
    fn truncate_at_position(&mut self) -> std::io::Result<()> {
        if self.pos >= self.blocks {
            return Ok(());
        }
        let entry = read_entry(&self.index, self.pos)?;
        if self.pos < self.flushed.blocks {
            // Lower the mark before the data it covers goes, so a crash
            // in between never finds the flushed region missing.
            self.flushed
                .advance(&self.flushed_file, self.pos, entry.offset)?;
        }
        self.blocks = self.pos;
        self.data_len = entry.offset;
        self.written_back = self.written_back.min(self.data_len);
        self.index.set_len(self.blocks * ENTRY_LEN)?;
        self.data.set_len(self.data_len)?;
        let keep = self.marks.partition_point(|&m| m < self.pos);
        self.marks.truncate(keep);
        Ok(())
    }

    fn append(&mut self, entry: IndexEntry, payload: &[u8]) -> std::io::Result<()> {
        if !payload.is_empty() {
            self.data.write_all_at(payload, self.data_len)?;
        }
        index::write_entry(&self.index, self.blocks, &entry)?;
        if entry.kind == KIND_FILEMARK {
            self.marks.push(self.blocks);
        }
        self.blocks += 1;
        self.data_len += payload.len() as u64;
        self.pos = self.blocks;
        if self.data_len - self.written_back >= WRITE_BEHIND {
            start_writeback(
                &self.data,
                self.written_back,
                self.data_len - self.written_back,
            );
            self.written_back = self.data_len;
        }
        Ok(())
    }

    fn outcome(&self) -> WriteOutcome {
        if self.data_len > self.meta.capacity.saturating_sub(self.meta.early_warning) {
            WriteOutcome::EarlyWarning
        } else {
            WriteOutcome::Written
        }
    }

    /// Data, then index, then the flushed mark that vouches for both.
    fn sync(&mut self) -> std::io::Result<()> {
        self.data.sync_data()?;
        self.index.sync_data()?;
        if (self.flushed.blocks, self.flushed.data_len) != (self.blocks, self.data_len) {
            self.flushed
                .advance(&self.flushed_file, self.blocks, self.data_len)?;
        }
        Ok(())
    }
}

impl TapeDrive for FileDrive {
    fn load(&mut self) -> Result<(), DriveError> {
        if self.cartridge.is_some() {
            return self.rewind();
        }
        let link = Self::cartridge_link(&self.device);
        let dir = std::fs::canonicalize(&link).map_err(|_| DriveError::NoCartridge {
            drive: self.name.clone(),
        })?;
        self.cartridge = Some(self.open_cartridge(&dir)?);
        Ok(())
    }

    fn rewind(&mut self) -> Result<(), DriveError> {
        self.cart()?.pos = 0;
        Ok(())
    }

    fn locate(&mut self, block_id: u64) -> Result<(), DriveError> {
        let drive = self.name.clone();
        let cart = self.cart()?;
        if block_id > cart.blocks {
            return Err(DriveError::BeyondEndOfData {
                drive,
                block_id,
                end: cart.blocks,
            });
        }
        cart.pos = block_id;
        Ok(())
    }

    fn space_filemarks(&mut self, count: i64) -> Result<(), DriveError> {
        let drive = self.name.clone();
        let cart = self.cart()?;
        let before = cart.marks.partition_point(|&m| m < cart.pos);
        let failed = DriveError::SpaceFailed {
            drive,
            count,
            from: cart.pos,
        };
        if count >= 0 {
            if count == 0 {
                return Ok(());
            }
            let target = before + count as usize - 1;
            let mark = *cart.marks.get(target).ok_or(failed)?;
            cart.pos = mark + 1;
        } else {
            let back = count.unsigned_abs() as usize;
            let target = before.checked_sub(back).ok_or(failed)?;
            cart.pos = cart.marks[target];
        }
        Ok(())
    }

    fn position(&mut self) -> Result<u64, DriveError> {
        Ok(self.cart()?.pos)
    }

    fn read_block(&mut self, buf: &mut [u8]) -> Result<ReadOutcome, DriveError> {
        let drive = self.name.clone();
        let lbp = self.lbp;
        let cart = self.cart()?;
        if cart.pos >= cart.blocks {
            return Ok(ReadOutcome::EndOfData);
        }
        let io = |op| {
            let drive = drive.clone();
            move |source| DriveError::Io { drive, op, source }
        };
        let block_id = cart.pos;
        let entry = read_entry(&cart.index, block_id).map_err(io("read index"))?;
        if entry.kind == KIND_FILEMARK {
            cart.pos += 1;
            return Ok(ReadOutcome::FileMark);
        }
        let len = entry.len as usize;
        let needed = len + if lbp { LBP_CRC_LEN } else { 0 };
        if buf.len() < needed {
            return Err(DriveError::BlockTooLarge {
                drive,
                block_id,
                len,
                buf: buf.len(),
            });
        }
        cart.data
            .read_exact_at(&mut buf[..len], entry.offset)
            .map_err(io("read data"))?;
        if crc32c::crc32c(&buf[..len]) != entry.crc {
            return Err(DriveError::Crc { drive, block_id });
        }
        if lbp {
            buf[len..needed].copy_from_slice(&entry.crc.to_be_bytes());
        }
        cart.pos += 1;
        Ok(ReadOutcome::Data(needed))
    }

    fn write_block(&mut self, block: &[u8]) -> Result<WriteOutcome, DriveError> {
        let drive = self.name.clone();
        let lbp = self.lbp;
        let cart = self.cart()?;
        let (payload, crc) = if lbp {
            let payload = lbp_open(block).ok_or_else(|| DriveError::LbpCheck {
                drive: drive.clone(),
                block_id: cart.pos,
            })?;
            let crc = u32::from_be_bytes(block[payload.len()..].try_into().unwrap_or_default());
            (payload, crc)
        } else {
            (block, crc32c::crc32c(block))
        };
        let io = |op| {
            let drive = drive.clone();
            move |source| DriveError::Io { drive, op, source }
        };
        cart.truncate_at_position().map_err(io("truncate"))?;
        if cart.data_len + payload.len() as u64 > cart.meta.capacity {
            return Err(DriveError::EndOfMedium {
                drive,
                len: payload.len(),
            });
        }
        let entry = IndexEntry {
            offset: cart.data_len,
            len: payload.len() as u32,
            crc,
            kind: KIND_DATA,
        };
        cart.append(entry, payload).map_err(io("write block"))?;
        Ok(cart.outcome())
    }

    fn write_filemarks(&mut self, count: u32, sync: bool) -> Result<WriteOutcome, DriveError> {
        let drive = self.name.clone();
        let cart = self.cart()?;
        let io = |op| {
            let drive = drive.clone();
            move |source| DriveError::Io { drive, op, source }
        };
        cart.truncate_at_position().map_err(io("truncate"))?;
        for _ in 0..count {
            let entry = IndexEntry {
                offset: cart.data_len,
                len: 0,
                crc: 0,
                kind: KIND_FILEMARK,
            };
            cart.append(entry, &[]).map_err(io("write file mark"))?;
        }
        if sync {
            cart.sync().map_err(io("flush"))?;
        }
        Ok(cart.outcome())
    }

    fn flush(&mut self) -> Result<(), DriveError> {
        let drive = self.name.clone();
        self.cart()?.sync().map_err(|source| DriveError::Io {
            drive,
            op: "flush",
            source,
        })
    }

    fn unload(&mut self) -> Result<(), DriveError> {
        if let Some(mut cart) = self.cartridge.take() {
            cart.sync().map_err(|source| DriveError::Io {
                drive: self.name.clone(),
                op: "flush before unload",
                source,
            })?;
            tracing::debug!(drive = %self.name, cartridge = %cart.dir.display(), "cartridge unloaded");
        }
        Ok(())
    }

    fn info(&self) -> DriveInfo {
        DriveInfo {
            vendor: "TAPESRV".into(),
            model: "FILEDRIVE".into(),
            serial: self.name.clone(),
        }
    }

    fn set_lbp(&mut self, on: bool) {
        self.lbp = on;
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod crash_tests;
