//! The file-backed drive's on-disk bookkeeping: the block index (one
//! 24-byte entry per block id) and the flushed mark (how much of the index
//! and data the last flush made durable).
//!
//! An index entry is `offset u64 | len u32 | payload CRC32C u32 | kind u8 |
//! 0xA5 | 0 0 | entry CRC32C u32`, little-endian; the entry CRC covers the
//! block id and the first 20 bytes, so a zero-filled, torn, random or
//! misplaced entry never passes for a block.
//!
//! The flushed mark is two 32-byte slots written in turn (`seq u64 |
//! blocks u64 | data_len u64 | magic u32 | CRC32C u32`), so a torn write
//! leaves the other slot; the valid slot with the higher sequence wins.
//! Everything below the mark was fsynced: loading never trims it, and an
//! invalid entry below it means the cartridge is damaged, not torn.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;

pub const ENTRY_LEN: u64 = 24;
pub const KIND_DATA: u8 = 1;
pub const KIND_FILEMARK: u8 = 3;
const ENTRY_MAGIC: u8 = 0xA5;
/// The largest block the drive accepts (payload plus LBP CRC).
pub const MAX_BLOCK_LEN: u32 = (crate::units::MAX_BLOCK_SIZE + 4) as u32;

const SLOT_LEN: u64 = 32;
const MARK_MAGIC: u32 = 0x464c_5348; // "FLSH"

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
    pub kind: u8,
}

impl IndexEntry {
    pub fn encode(&self, block_id: u64) -> [u8; ENTRY_LEN as usize] {
        let mut raw = [0u8; ENTRY_LEN as usize];
        raw[0..8].copy_from_slice(&self.offset.to_le_bytes());
        raw[8..12].copy_from_slice(&self.len.to_le_bytes());
        raw[12..16].copy_from_slice(&self.crc.to_le_bytes());
        raw[16] = self.kind;
        raw[17] = ENTRY_MAGIC;
        let check = entry_check(block_id, &raw[..20]);
        raw[20..24].copy_from_slice(&check.to_le_bytes());
        raw
    }

    /// The entry if its checksum, marker and kind are right; otherwise why not.
    pub fn decode(block_id: u64, raw: &[u8; ENTRY_LEN as usize]) -> Result<Self, &'static str> {
        let stored = u32::from_le_bytes([raw[20], raw[21], raw[22], raw[23]]);
        if raw[17] != ENTRY_MAGIC || stored != entry_check(block_id, &raw[..20]) {
            return Err("entry checksum mismatch");
        }
        Ok(Self::decode_unchecked(raw)).and_then(|e| match e.kind {
            KIND_DATA | KIND_FILEMARK => Ok(e),
            _ => Err("unknown entry kind"),
        })
    }

    /// The first format's entries carry no checksum (cartridges being upgraded).
    pub fn decode_unchecked(raw: &[u8; ENTRY_LEN as usize]) -> Self {
        Self {
            offset: u64::from_le_bytes(raw[0..8].try_into().unwrap_or_default()),
            len: u32::from_le_bytes(raw[8..12].try_into().unwrap_or_default()),
            crc: u32::from_le_bytes(raw[12..16].try_into().unwrap_or_default()),
            kind: raw[16],
        }
    }
}

fn entry_check(block_id: u64, body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&block_id.to_le_bytes()), body)
}

pub fn read_entry(index: &File, block_id: u64) -> std::io::Result<IndexEntry> {
    let mut raw = [0u8; ENTRY_LEN as usize];
    index.read_exact_at(&mut raw, block_id * ENTRY_LEN)?;
    IndexEntry::decode(block_id, &raw).map_err(|reason| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("index entry {block_id}: {reason}"),
        )
    })
}

pub fn write_entry(index: &File, block_id: u64, entry: &IndexEntry) -> std::io::Result<()> {
    index.write_all_at(&entry.encode(block_id), block_id * ENTRY_LEN)
}

/// What the last flush made durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushedMark {
    pub seq: u64,
    pub blocks: u64,
    pub data_len: u64,
}

impl FlushedMark {
    fn encode(&self) -> [u8; SLOT_LEN as usize] {
        let mut raw = [0u8; SLOT_LEN as usize];
        raw[0..8].copy_from_slice(&self.seq.to_le_bytes());
        raw[8..16].copy_from_slice(&self.blocks.to_le_bytes());
        raw[16..24].copy_from_slice(&self.data_len.to_le_bytes());
        raw[24..28].copy_from_slice(&MARK_MAGIC.to_le_bytes());
        let crc = crc32c::crc32c(&raw[..28]);
        raw[28..32].copy_from_slice(&crc.to_le_bytes());
        raw
    }

    fn decode(raw: &[u8]) -> Option<Self> {
        let word = |i: usize| u64::from_le_bytes(raw[i..i + 8].try_into().unwrap_or_default());
        let magic = u32::from_le_bytes(raw[24..28].try_into().ok()?);
        let crc = u32::from_le_bytes(raw[28..32].try_into().ok()?);
        (magic == MARK_MAGIC && crc == crc32c::crc32c(&raw[..28])).then(|| Self {
            seq: word(0),
            blocks: word(8),
            data_len: word(16),
        })
    }

    /// The newest valid slot; None if neither slot is valid.
    pub fn read(file: &File) -> std::io::Result<Option<Self>> {
        let mut raw = [0u8; 2 * SLOT_LEN as usize];
        let mut filled = 0;
        while filled < raw.len() {
            match file.read_at(&mut raw[filled..], filled as u64)? {
                0 => break,
                n => filled += n,
            }
        }
        let slots = raw[..filled]
            .chunks_exact(SLOT_LEN as usize)
            .take(2)
            .filter_map(Self::decode);
        Ok(slots.max_by_key(|m| m.seq))
    }

    /// Records `blocks`/`data_len` as durable in the slot the current mark
    /// does not use, and syncs it. Call only after the data and index sync.
    pub fn advance(&mut self, file: &File, blocks: u64, data_len: u64) -> std::io::Result<()> {
        let next = Self {
            seq: self.seq + 1,
            blocks,
            data_len,
        };
        file.write_all_at(&next.encode(), (next.seq % 2) * SLOT_LEN)?;
        file.sync_data()?;
        *self = next;
        Ok(())
    }
}

/// The index as loading found it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScannedIndex {
    /// Valid entries from block 0 on.
    pub blocks: u64,
    /// Payload bytes those entries cover.
    pub data_len: u64,
    /// Block ids of the file marks among them.
    pub marks: Vec<u64>,
}

/// Validates the index entry by entry: checksums, known kinds, offsets
/// contiguous from 0, lengths bounded, data present in a data file of
/// `data_file_len` bytes. Entries below `flushed` must all be valid (Err
/// says which is not); the valid prefix past it is kept and the rest is
/// the unflushed tail a crash tore. `checked` false reads the first
/// format, whose entries carry no checksum.
pub fn scan(
    index: &File,
    data_file_len: u64,
    flushed: &FlushedMark,
    checked: bool,
) -> Result<ScannedIndex, String> {
    let mut scanned = ScannedIndex::default();
    let mut reader = BufReader::with_capacity(1 << 20, index);
    let mut raw = [0u8; ENTRY_LEN as usize];
    loop {
        let id = scanned.blocks;
        if id == flushed.blocks && scanned.data_len != flushed.data_len {
            return Err(format!(
                "the flushed mark says block {id} starts at byte {}, the index says {}",
                flushed.data_len, scanned.data_len
            ));
        }
        let verdict = match reader.read_exact(&mut raw) {
            Ok(()) => check_entry(id, &raw, scanned.data_len, data_file_len, checked),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err("end of the index".into())
            }
            Err(e) => return Err(format!("cannot read the index: {e}")),
        };
        match verdict {
            Ok(entry) => {
                if entry.kind == KIND_FILEMARK {
                    scanned.marks.push(id);
                }
                scanned.data_len += u64::from(entry.len);
                scanned.blocks += 1;
            }
            Err(reason) if id < flushed.blocks => {
                return Err(format!(
                    "block {id}, below the {} flushed blocks, is damaged: {reason}",
                    flushed.blocks
                ));
            }
            Err(_) => return Ok(scanned),
        }
    }
}

fn check_entry(
    id: u64,
    raw: &[u8; ENTRY_LEN as usize],
    expected_offset: u64,
    data_file_len: u64,
    checked: bool,
) -> Result<IndexEntry, String> {
    let entry = if checked {
        IndexEntry::decode(id, raw)?
    } else {
        let e = IndexEntry::decode_unchecked(raw);
        if !matches!(e.kind, KIND_DATA | KIND_FILEMARK) {
            return Err("unknown entry kind".into());
        }
        e
    };
    if entry.offset != expected_offset {
        return Err(format!(
            "starts at byte {}, the previous block ends at {expected_offset}",
            entry.offset
        ));
    }
    if entry.kind == KIND_FILEMARK && entry.len != 0 {
        return Err("a file mark with a payload".into());
    }
    if entry.len > MAX_BLOCK_LEN {
        return Err(format!("{} bytes is larger than any block", entry.len));
    }
    match entry.offset.checked_add(u64::from(entry.len)) {
        Some(end) if end <= data_file_len => Ok(entry),
        _ => Err("its payload is not in the data file".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_reject_damage() {
        let e = IndexEntry {
            offset: 1 << 40,
            len: 262_148,
            crc: 0xDEAD_BEEF,
            kind: KIND_DATA,
        };
        let raw = e.encode(7);
        assert_eq!(IndexEntry::decode(7, &raw), Ok(e));
        assert!(IndexEntry::decode(8, &raw).is_err(), "misplaced entry");
        assert!(
            IndexEntry::decode(0, &[0u8; 24]).is_err(),
            "zero-filled entry"
        );
        for byte in 0..24 {
            let mut bad = raw;
            bad[byte] ^= 0x10;
            assert!(
                IndexEntry::decode(7, &bad).is_err(),
                "bit flip in byte {byte}"
            );
        }
    }

    #[test]
    fn the_newer_valid_slot_of_the_flushed_mark_wins() {
        let tmp = tempfile::tempfile().unwrap();
        let mut mark = FlushedMark::default();
        assert_eq!(FlushedMark::read(&tmp).unwrap(), None);
        mark.advance(&tmp, 5, 500).unwrap();
        mark.advance(&tmp, 9, 900).unwrap();
        assert_eq!(FlushedMark::read(&tmp).unwrap(), Some(mark));
        // A torn write of the newest slot leaves the older one.
        tmp.write_all_at(&[0xff; 8], (mark.seq % 2) * SLOT_LEN + 8)
            .unwrap();
        let older = FlushedMark::read(&tmp).unwrap().unwrap();
        assert_eq!((older.blocks, older.data_len), (5, 500));
    }
}
