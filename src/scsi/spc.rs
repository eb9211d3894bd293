//! SPC commands every device answers: INQUIRY (standard data, the unit
//! serial number page 80h, the device identification page 83h), TEST UNIT
//! READY, REQUEST SENSE, MODE SENSE(6) and (10).

use super::{be, text};

pub const TEST_UNIT_READY: u8 = 0x00;
pub const REQUEST_SENSE: u8 = 0x03;
pub const INQUIRY: u8 = 0x12;
pub const MODE_SELECT_6: u8 = 0x15;
pub const MODE_SENSE_6: u8 = 0x1a;
pub const MODE_SENSE_10: u8 = 0x5a;
pub const MODE_SELECT_10: u8 = 0x55;

/// Peripheral device types (INQUIRY byte 0, bits 4-0).
pub const TYPE_TAPE: u8 = 0x01;
pub const TYPE_CHANGER: u8 = 0x08;

pub const VPD_UNIT_SERIAL: u8 = 0x80;
pub const VPD_DEVICE_ID: u8 = 0x83;

/// INQUIRY: standard data (`page` None) or a vital product data page.
pub fn inquiry(page: Option<u8>, alloc: u16) -> [u8; 6] {
    let [hi, lo] = alloc.to_be_bytes();
    match page {
        None => [INQUIRY, 0, 0, hi, lo, 0],
        Some(p) => [INQUIRY, 0x01, p, hi, lo, 0],
    }
}

pub fn test_unit_ready() -> [u8; 6] {
    [TEST_UNIT_READY, 0, 0, 0, 0, 0]
}

pub fn request_sense(alloc: u8) -> [u8; 6] {
    [REQUEST_SENSE, 0, 0, 0, alloc, 0]
}

/// MODE SENSE(6) of one page, current values; `dbd` leaves out block descriptors.
pub fn mode_sense_6(page: u8, alloc: u8, dbd: bool) -> [u8; 6] {
    [
        MODE_SENSE_6,
        if dbd { 0x08 } else { 0 },
        page & 0x3f,
        0,
        alloc,
        0,
    ]
}

/// MODE SENSE(10) of one page, current values.
pub fn mode_sense_10(page: u8, alloc: u16, dbd: bool) -> [u8; 10] {
    let [hi, lo] = alloc.to_be_bytes();
    [
        MODE_SENSE_10,
        if dbd { 0x08 } else { 0 },
        page & 0x3f,
        0,
        0,
        0,
        0,
        hi,
        lo,
        0,
    ]
}

/// MODE SENSE(10) of a subpage (the control data protection page 0Ah/F0h).
pub fn mode_sense_10_subpage(page: u8, subpage: u8, alloc: u16) -> [u8; 10] {
    let mut cdb = mode_sense_10(page, alloc, true);
    cdb[3] = subpage;
    cdb
}

/// MODE SELECT(10) of `len` bytes of parameters (page format).
pub fn mode_select_10(len: u16) -> [u8; 10] {
    let [hi, lo] = len.to_be_bytes();
    [MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, hi, lo, 0]
}

/// The parameter list MODE SELECT(10) sends for one page: an 8-byte
/// header (mode data length reserved, no block descriptor), then the page.
pub fn mode_select_10_parameters(page: &[u8]) -> Vec<u8> {
    let mut raw = vec![0u8; 8];
    raw.extend_from_slice(page);
    raw
}

/// The standard INQUIRY data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardInquiry {
    pub device_type: u8,
    pub removable: bool,
    pub vendor: String,
    pub product: String,
    pub revision: String,
}

impl StandardInquiry {
    pub fn decode(raw: &[u8]) -> Option<Self> {
        (raw.len() >= 8).then(|| Self {
            device_type: raw[0] & 0x1f,
            removable: raw[1] & 0x80 != 0,
            vendor: text(raw, 8, 8),
            product: text(raw, 16, 16),
            revision: text(raw, 32, 4),
        })
    }

    /// The 36 bytes a device answers.
    pub fn encode(&self) -> [u8; 36] {
        let mut raw = [b' '; 36];
        raw[..8].copy_from_slice(&[
            self.device_type,
            if self.removable { 0x80 } else { 0 },
            0x06, // SPC-4
            0x02, // response data format 2
            31,   // additional length
            0,
            0,
            0,
        ]);
        for (at, width, value) in [
            (8, 8, &self.vendor),
            (16, 16, &self.product),
            (32, 4, &self.revision),
        ] {
            let bytes = value.as_bytes();
            let n = bytes.len().min(width);
            raw[at..at + n].copy_from_slice(&bytes[..n]);
        }
        raw
    }
}

/// The unit serial number page (80h).
pub fn unit_serial(raw: &[u8]) -> Option<String> {
    if raw.len() < 4 || raw[1] != VPD_UNIT_SERIAL {
        return None;
    }
    let len = be(raw, 2, 2) as usize;
    Some(text(raw, 4, len).trim().to_string())
}

/// Builds a unit serial number page (80h).
pub fn encode_unit_serial(device_type: u8, serial: &str) -> Vec<u8> {
    let mut raw = vec![device_type, VPD_UNIT_SERIAL, 0, serial.len() as u8];
    raw.extend_from_slice(serial.as_bytes());
    raw
}

/// One designator of the device identification page (83h).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Designator {
    /// 1 T10 vendor id, 2 EUI-64, 3 NAA, 8 SCSI name...
    pub kind: u8,
    pub association: u8,
    pub value: Vec<u8>,
}

pub fn device_identifiers(raw: &[u8]) -> Vec<Designator> {
    let mut out = Vec::new();
    if raw.len() < 4 || raw[1] != VPD_DEVICE_ID {
        return out;
    }
    let end = (4 + be(raw, 2, 2) as usize).min(raw.len());
    let mut at = 4;
    while at + 4 <= end {
        let len = raw[at + 3] as usize;
        let body_end = (at + 4 + len).min(end);
        out.push(Designator {
            kind: raw[at + 1] & 0x0f,
            association: (raw[at + 1] >> 4) & 0x03,
            value: raw[at + 4..body_end].to_vec(),
        });
        at += 4 + len;
    }
    out
}

/// The mode parameter header of MODE SENSE(6): where the first page starts.
pub fn mode_page_6(raw: &[u8]) -> Option<&[u8]> {
    let data_len = *raw.first()? as usize + 1;
    let block_descriptors = *raw.get(3)? as usize;
    let start = 4 + block_descriptors;
    raw.get(start..data_len.min(raw.len()))
}

/// As `mode_page_6`, for MODE SENSE(10).
pub fn mode_page_10(raw: &[u8]) -> Option<&[u8]> {
    let data_len = be(raw, 0, 2) as usize + 2;
    let block_descriptors = be(raw, 6, 2) as usize;
    let start = 8 + block_descriptors;
    raw.get(start..data_len.min(raw.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdbs_are_laid_out_as_spc_says() {
        // What mtx sends first.
        assert_eq!(inquiry(None, 0x38), [0x12, 0, 0, 0, 0x38, 0]);
        assert_eq!(inquiry(Some(0x80), 0xff), [0x12, 1, 0x80, 0, 0xff, 0]);
        assert_eq!(
            mode_sense_6(0x1d, 0x88, true),
            [0x1a, 0x08, 0x1d, 0, 0x88, 0]
        );
        assert_eq!(test_unit_ready(), [0; 6]);
    }

    #[test]
    fn inquiry_round_trips() {
        let std = StandardInquiry {
            device_type: TYPE_CHANGER,
            removable: true,
            vendor: "TAPESRV".into(),
            product: "EMULATED LIBRARY".into(),
            revision: "0001".into(),
        };
        assert_eq!(StandardInquiry::decode(&std.encode()), Some(std.clone()));
        let page = encode_unit_serial(TYPE_TAPE, "XYZZY_B1");
        assert_eq!(unit_serial(&page).as_deref(), Some("XYZZY_B1"));
        assert_eq!(unit_serial(&[0, 0x83, 0, 0]), None);
    }

    #[test]
    fn device_identifiers_are_walked_by_length() {
        // T10 vendor id "STK     XYZZY", then a truncated second designator.
        let mut raw = vec![1, 0x83, 0, 0];
        raw.extend_from_slice(&[0x02, 0x01, 0, 13]);
        raw.extend_from_slice(b"STK     XYZZY");
        raw.extend_from_slice(&[0x01, 0x03, 0, 8, 1, 2]);
        raw[3] = (raw.len() - 4) as u8;
        let ids = device_identifiers(&raw);
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0].value, b"STK     XYZZY");
        assert_eq!((ids[1].kind, ids[1].value.len()), (3, 2), "cut at the end");
    }

    #[test]
    fn the_first_mode_page_is_found_past_the_block_descriptors() {
        // mhVTL STK L80's MODE SENSE(6) of page 1Dh (research notes).
        let raw = [
            0x17, 0, 0x10, 0, 0x1d, 0x12, 0, 1, 0, 1, 0x03, 0xe8, 0, 0x28, 0, 0x0a, 0, 4, 0x01,
            0xf4, 0, 4, 0, 0,
        ];
        let page = mode_page_6(&raw).unwrap();
        assert_eq!(&page[..2], &[0x1d, 0x12]);
    }
}
