//! `FileDrive`: a tape drive whose cartridges are directories of files.
//!
//! A drive's device is a directory; the library loads a cartridge by linking
//! `DEVICE/cartridge` to the cartridge directory, which holds:
//! - `data`: block payloads back to back;
//! - `index`: one 24-byte entry per block id (payload offset, length,
//!   CRC32C, kind), so LOCATE is one seek;
//! - `marks`: the block ids of the file marks, so SPACE is a binary search;
//! - `cartridge.json`: VID and capacity.
//!
//! Like a real drive, writes are buffered (in the page cache) until a flush;
//! writing anywhere but at end of data truncates what follows; every block's
//! CRC32C is stored and verified on read. Loading a cartridge after a crash
//! drops index entries whose data never reached the data file.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::drive::{
    DriveError, DriveInfo, LBP_CRC_LEN, ReadOutcome, TapeDrive, WriteOutcome, lbp_open,
};

const ENTRY_LEN: u64 = 24;
const KIND_DATA: u8 = 1;
const KIND_FILEMARK: u8 = 3;
const CARTRIDGE_LINK: &str = "cartridge";
const META_FILE: &str = "cartridge.json";
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
}

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    offset: u64,
    len: u32,
    crc: u32,
    kind: u8,
}

impl IndexEntry {
    fn encode(&self) -> [u8; ENTRY_LEN as usize] {
        let mut raw = [0u8; ENTRY_LEN as usize];
        raw[0..8].copy_from_slice(&self.offset.to_le_bytes());
        raw[8..12].copy_from_slice(&self.len.to_le_bytes());
        raw[12..16].copy_from_slice(&self.crc.to_le_bytes());
        raw[16] = self.kind;
        raw
    }

    fn decode(raw: &[u8; ENTRY_LEN as usize]) -> Self {
        let u64_at = |i: usize| u64::from_le_bytes(raw[i..i + 8].try_into().unwrap_or_default());
        let u32_at = |i: usize| u32::from_le_bytes(raw[i..i + 4].try_into().unwrap_or_default());
        Self {
            offset: u64_at(0),
            len: u32_at(8),
            crc: u32_at(12),
            kind: raw[16],
        }
    }
}

/// An open cartridge: the files and where the head is.
struct Cartridge {
    dir: PathBuf,
    data: File,
    index: File,
    marks_file: File,
    meta: CartridgeMeta,
    blocks: u64,
    data_len: u64,
    marks: Vec<u64>,
    pos: u64,
    /// Data before this offset has been handed to the disk.
    written_back: u64,
}

pub struct FileDrive {
    name: String,
    device: PathBuf,
    lbp: bool,
    lock: Option<File>,
    cartridge: Option<Cartridge>,
}

/// Creates an empty cartridge directory (a blank tape).
pub fn create_cartridge(dir: &Path, vid: &str, capacity: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for name in ["data", "index", "marks"] {
        File::create(dir.join(name))?;
    }
    let meta = CartridgeMeta {
        vid: vid.to_string(),
        capacity,
        early_warning: (capacity / 50).max(4 << 20).min(capacity / 2),
    };
    let text = serde_json::to_vec_pretty(&meta).map_err(std::io::Error::other)?;
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
            lock: None,
            cartridge: None,
        }
    }

    /// The link through which the library loads a cartridge into this drive.
    pub fn cartridge_link(device: &Path) -> PathBuf {
        device.join(CARTRIDGE_LINK)
    }

    fn io(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> DriveError + '_ {
        move |source| DriveError::Io {
            drive: self.name.clone(),
            op,
            source,
        }
    }

    fn cart(&mut self) -> Result<&mut Cartridge, DriveError> {
        let drive = self.name.clone();
        self.cartridge
            .as_mut()
            .ok_or(DriveError::NoCartridge { drive })
    }

    /// Bytes of payload recorded on the loaded cartridge.
    pub fn bytes_recorded(&self) -> Option<u64> {
        self.cartridge.as_ref().map(|c| c.data_len)
    }

    fn open_cartridge(&self, dir: &Path) -> Result<Cartridge, DriveError> {
        let bad = |reason: String| DriveError::BadCartridge {
            path: dir.to_path_buf(),
            reason,
        };
        let meta =
            read_cartridge_meta(dir).map_err(|e| bad(format!("cannot read {META_FILE}: {e}")))?;
        let open = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(dir.join(name))
                .map_err(|e| bad(format!("cannot open {name}: {e}")))
        };
        let (data, index, marks_file) = (open("data")?, open("index")?, open("marks")?);
        let len_of = |f: &File, name: &str| {
            f.metadata()
                .map(|m| m.len())
                .map_err(|e| bad(format!("cannot stat {name}: {e}")))
        };
        let data_file_len = len_of(&data, "data")?;
        let mut blocks = len_of(&index, "index")? / ENTRY_LEN;
        // Drop index entries whose payload never reached the data file
        // (a crash between two flushes), as a drive loses its buffer.
        let mut data_len = 0;
        while blocks > 0 {
            let entry = read_entry(&index, blocks - 1)
                .map_err(|e| bad(format!("cannot read index: {e}")))?;
            let end = entry.offset + u64::from(entry.len);
            if end <= data_file_len {
                data_len = end;
                break;
            }
            blocks -= 1;
        }
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut &marks_file, &mut raw)
            .map_err(|e| bad(format!("cannot read marks: {e}")))?;
        let mut marks: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .take_while(|&m| m < blocks)
            .collect();
        let consistent = marks.windows(2).all(|w| w[0] < w[1])
            && match marks.last() {
                Some(&last) => read_entry(&index, last).is_ok_and(|e| e.kind == KIND_FILEMARK),
                None => true,
            };
        if !consistent || marks_file_stale(&index, blocks, &marks)? {
            marks = rebuild_marks(&index, blocks)
                .map_err(|e| bad(format!("cannot rebuild marks: {e}")))?;
        }
        index
            .set_len(blocks * ENTRY_LEN)
            .map_err(|e| bad(format!("cannot trim index: {e}")))?;
        data.set_len(data_len)
            .map_err(|e| bad(format!("cannot trim data: {e}")))?;
        rewrite_marks(&marks_file, &marks).map_err(|e| bad(format!("cannot write marks: {e}")))?;
        Ok(Cartridge {
            dir: dir.to_path_buf(),
            data,
            index,
            marks_file,
            meta,
            blocks,
            data_len,
            marks,
            pos: 0,
            written_back: data_len,
        })
    }
}

/// True if the index has a file mark after the last recorded one.
fn marks_file_stale(index: &File, blocks: u64, marks: &[u64]) -> Result<bool, DriveError> {
    // Only the tail can be stale: marks are appended before their index entry.
    let from = marks.last().map_or(0, |m| m + 1);
    let tail = blocks.saturating_sub(from).min(64);
    for id in blocks - tail..blocks {
        if read_entry(index, id).is_ok_and(|e| e.kind == KIND_FILEMARK) && !marks.contains(&id) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn rebuild_marks(index: &File, blocks: u64) -> std::io::Result<Vec<u64>> {
    let mut marks = Vec::new();
    for id in 0..blocks {
        if read_entry(index, id)?.kind == KIND_FILEMARK {
            marks.push(id);
        }
    }
    Ok(marks)
}

fn rewrite_marks(file: &File, marks: &[u64]) -> std::io::Result<()> {
    let raw: Vec<u8> = marks.iter().flat_map(|m| m.to_le_bytes()).collect();
    file.set_len(0)?;
    file.write_all_at(&raw, 0)
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

fn read_entry(index: &File, block_id: u64) -> std::io::Result<IndexEntry> {
    let mut raw = [0u8; ENTRY_LEN as usize];
    index.read_exact_at(&mut raw, block_id * ENTRY_LEN)?;
    Ok(IndexEntry::decode(&raw))
}

impl Cartridge {
    /// Writing anywhere but at end of data discards what follows.
    fn truncate_at_position(&mut self) -> std::io::Result<()> {
        if self.pos >= self.blocks {
            return Ok(());
        }
        let entry = read_entry(&self.index, self.pos)?;
        self.blocks = self.pos;
        self.data_len = entry.offset;
        self.written_back = self.written_back.min(self.data_len);
        self.index.set_len(self.blocks * ENTRY_LEN)?;
        self.data.set_len(self.data_len)?;
        let keep = self.marks.partition_point(|&m| m < self.pos);
        self.marks.truncate(keep);
        self.marks_file.set_len(keep as u64 * 8)
    }

    fn append(&mut self, entry: IndexEntry, payload: &[u8]) -> std::io::Result<()> {
        if !payload.is_empty() {
            self.data.write_all_at(payload, self.data_len)?;
        }
        if entry.kind == KIND_FILEMARK {
            // The mark goes first so a crash never leaves an unlisted mark.
            self.marks_file
                .write_all_at(&self.blocks.to_le_bytes(), self.marks.len() as u64 * 8)?;
            self.marks.push(self.blocks);
        }
        self.index
            .write_all_at(&entry.encode(), self.blocks * ENTRY_LEN)?;
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

    fn sync(&self) -> std::io::Result<()> {
        self.data.sync_data()?;
        self.marks_file.sync_data()?;
        self.index.sync_data()
    }
}

impl TapeDrive for FileDrive {
    fn load(&mut self) -> Result<(), DriveError> {
        if self.cartridge.is_some() {
            return self.rewind();
        }
        if self.lock.is_none() {
            std::fs::create_dir_all(&self.device).map_err(self.io("create device directory"))?;
            let lock =
                File::create(self.device.join("lock")).map_err(self.io("open device lock"))?;
            if lock.try_lock().is_err() {
                return Err(DriveError::Busy {
                    drive: self.name.clone(),
                });
            }
            self.lock = Some(lock);
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
        if let Some(cart) = self.cartridge.take() {
            cart.sync().map_err(|source| DriveError::Io {
                drive: self.name.clone(),
                op: "flush before unload",
                source,
            })?;
            tracing::debug!(drive = %self.name, cartridge = %cart.dir.display(), "cartridge unloaded");
        }
        self.lock = None;
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
