//! SSC (sequential access, tape) commands and responses: variable-block
//! READ(6)/WRITE(6), WRITE FILEMARKS(6), SPACE(6), LOCATE(16), READ
//! POSITION (long form), REWIND, LOAD UNLOAD, READ BLOCK LIMITS, and the
//! control data protection mode page (logical block protection).

use super::be;

pub const REWIND: u8 = 0x01;
pub const READ_BLOCK_LIMITS: u8 = 0x05;
pub const READ_6: u8 = 0x08;
pub const WRITE_6: u8 = 0x0a;
pub const WRITE_FILEMARKS_6: u8 = 0x10;
pub const SPACE_6: u8 = 0x11;
pub const LOAD_UNLOAD: u8 = 0x1b;
pub const READ_POSITION: u8 = 0x34;
pub const LOCATE_16: u8 = 0x92;
pub const CONTROL_PAGE: u8 = 0x0a;
pub const CONTROL_DATA_PROTECTION_SUBPAGE: u8 = 0xf0;

/// The largest transfer a 6-byte CDB can carry (24-bit length).
pub const MAX_TRANSFER_6: usize = 0x00ff_ffff;

fn len24(len: usize) -> [u8; 3] {
    let [_, a, b, c] = (len.min(MAX_TRANSFER_6) as u32).to_be_bytes();
    [a, b, c]
}

/// READ(6), variable block: up to `len` bytes of the next block. `sili`
/// suppresses the incorrect-length report for a shorter block.
pub fn read_6(len: usize, sili: bool) -> [u8; 6] {
    let [a, b, c] = len24(len);
    [READ_6, if sili { 0x02 } else { 0 }, a, b, c, 0]
}

/// WRITE(6), variable block: one block of `len` bytes.
pub fn write_6(len: usize) -> [u8; 6] {
    let [a, b, c] = len24(len);
    [WRITE_6, 0, a, b, c, 0]
}

/// WRITE FILEMARKS(6); `immediate` returns before the drive's buffer is
/// written (no flush); 0 marks with `immediate` false is a flush.
pub fn write_filemarks_6(count: u32, immediate: bool) -> [u8; 6] {
    let [_, a, b, c] = count.min(0x00ff_ffff).to_be_bytes();
    [WRITE_FILEMARKS_6, u8::from(immediate), a, b, c, 0]
}

/// What SPACE counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceCode {
    Blocks = 0,
    Filemarks = 1,
    EndOfData = 3,
}

/// SPACE(6): `count` (negative: backwards, as a 24-bit two's complement).
pub fn space_6(code: SpaceCode, count: i32) -> [u8; 6] {
    let [_, a, b, c] = count.to_be_bytes();
    [SPACE_6, code as u8, a, b, c, 0]
}

/// LOCATE(16) to a logical object (block) id.
pub fn locate_16(block: u64, immediate: bool) -> [u8; 16] {
    let mut cdb = [0u8; 16];
    cdb[0] = LOCATE_16;
    cdb[1] = u8::from(immediate);
    cdb[4..12].copy_from_slice(&block.to_be_bytes());
    cdb
}

/// READ POSITION, long form (service action 06h).
pub fn read_position_long() -> [u8; 10] {
    [READ_POSITION, 0x06, 0, 0, 0, 0, 0, 0, 32, 0]
}

/// READ POSITION, short form (service action 00h: tgt's and old drives').
pub fn read_position_short() -> [u8; 10] {
    [READ_POSITION, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]
}

/// Where the tape is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub beginning: bool,
    pub end: bool,
    pub block: u64,
    pub filemarks: Option<u64>,
}

/// The long form's 32 bytes: flags, partition, logical object, file number.
pub fn decode_position_long(raw: &[u8]) -> Option<Position> {
    (raw.len() >= 32).then(|| Position {
        beginning: raw[0] & 0x80 != 0,
        end: raw[0] & 0x40 != 0,
        block: be(raw, 8, 8),
        filemarks: Some(be(raw, 16, 8)),
    })
}

/// The short form's 20 bytes: flags, partition, first block location.
pub fn decode_position_short(raw: &[u8]) -> Option<Position> {
    (raw.len() >= 20).then(|| Position {
        beginning: raw[0] & 0x80 != 0,
        end: raw[0] & 0x40 != 0,
        block: be(raw, 4, 4),
        filemarks: None,
    })
}

pub fn rewind(immediate: bool) -> [u8; 6] {
    [REWIND, u8::from(immediate), 0, 0, 0, 0]
}

/// LOAD UNLOAD: `load` false unloads (ejects) the tape.
pub fn load_unload(load: bool, immediate: bool) -> [u8; 6] {
    [LOAD_UNLOAD, u8::from(immediate), 0, 0, u8::from(load), 0]
}

pub fn read_block_limits() -> [u8; 6] {
    [READ_BLOCK_LIMITS, 0, 0, 0, 0, 0]
}

/// READ BLOCK LIMITS: the largest and smallest block the drive takes.
pub fn decode_block_limits(raw: &[u8]) -> Option<(u32, u16)> {
    (raw.len() >= 6).then(|| (be(raw, 1, 3) as u32, be(raw, 4, 2) as u16))
}

/// Logical block protection, as the control data protection mode page
/// (0Ah/F0h) says: the method (0 none, 1 Reed-Solomon, 2 CRC32C) and
/// whether it applies to reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    pub method: u8,
    pub length: u8,
    pub on_write: bool,
    pub on_read: bool,
}

/// The subpage as MODE SELECT sends it (from the page code on).
pub fn encode_protection(p: &Protection) -> [u8; 32] {
    let mut raw = [0u8; 32];
    raw[0] = 0x40 | CONTROL_PAGE; // SPF: subpage format
    raw[1] = CONTROL_DATA_PROTECTION_SUBPAGE;
    raw[2..4].copy_from_slice(&28u16.to_be_bytes());
    raw[4] = p.method;
    raw[5] = p.length & 0x3f;
    raw[6] = if p.on_write { 0x80 } else { 0 } | if p.on_read { 0x40 } else { 0 };
    raw
}

pub fn decode_protection(page: &[u8]) -> Option<Protection> {
    (page.len() >= 7
        && page[0] & 0x3f == CONTROL_PAGE
        && page[1] == CONTROL_DATA_PROTECTION_SUBPAGE)
        .then(|| Protection {
            method: page[4],
            length: page[5] & 0x3f,
            on_write: page[6] & 0x80 != 0,
            on_read: page[6] & 0x40 != 0,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cdbs_are_laid_out_as_ssc_says() {
        assert_eq!(read_6(262_148, true), [0x08, 0x02, 0x04, 0x00, 0x04, 0]);
        assert_eq!(write_6(80), [0x0a, 0, 0, 0, 80, 0]);
        assert_eq!(write_filemarks_6(1, true), [0x10, 1, 0, 0, 1, 0]);
        assert_eq!(
            write_filemarks_6(0, false),
            [0x10, 0, 0, 0, 0, 0],
            "a flush"
        );
        assert_eq!(space_6(SpaceCode::Filemarks, 3), [0x11, 1, 0, 0, 3, 0]);
        assert_eq!(
            space_6(SpaceCode::Filemarks, -1),
            [0x11, 1, 0xff, 0xff, 0xff, 0]
        );
        assert_eq!(space_6(SpaceCode::EndOfData, 0)[1], 3);
        let locate = locate_16(0x0102_0304, false);
        assert_eq!((locate[0], &locate[8..12]), (0x92, &[1, 2, 3, 4][..]));
        assert_eq!(load_unload(false, false), [0x1b, 0, 0, 0, 0, 0]);
        assert_eq!(rewind(false), [0x01, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn positions_decode_in_both_forms() {
        let mut long = [0u8; 32];
        long[0] = 0x80;
        long[8..16].copy_from_slice(&7u64.to_be_bytes());
        long[16..24].copy_from_slice(&2u64.to_be_bytes());
        assert_eq!(
            decode_position_long(&long),
            Some(Position {
                beginning: true,
                end: false,
                block: 7,
                filemarks: Some(2)
            })
        );
        let mut short = [0u8; 20];
        short[4..8].copy_from_slice(&9u32.to_be_bytes());
        assert_eq!(decode_position_short(&short).unwrap().block, 9);
        assert_eq!(decode_position_long(&[0; 8]), None);
    }

    #[test]
    fn protection_page_round_trips_and_limits_decode() {
        let p = Protection {
            method: 2,
            length: 4,
            on_write: true,
            on_read: true,
        };
        assert_eq!(decode_protection(&encode_protection(&p)), Some(p));
        assert_eq!(
            decode_block_limits(&[0, 0x80, 0, 0, 0, 1]),
            Some((0x80_0000, 1))
        );
    }
}
