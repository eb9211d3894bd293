//! SMC (media changer) commands and responses: the element address
//! assignment mode page (1Dh), READ ELEMENT STATUS (per element type, with
//! volume tags and device identifiers), MOVE MEDIUM and INITIALIZE ELEMENT
//! STATUS. Responses are walked by their own byte counts and tolerate the
//! quirks of real and emulated libraries (tgt, mhVTL).

use super::{be, text};

pub const MOVE_MEDIUM: u8 = 0xa5;
pub const READ_ELEMENT_STATUS: u8 = 0xb8;
pub const INITIALIZE_ELEMENT_STATUS: u8 = 0x07;
pub const ELEMENT_ADDRESS_PAGE: u8 = 0x1d;

/// SMC element types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ElementType {
    /// The robot's picker (medium transport element).
    Transport,
    /// A storage slot.
    Storage,
    /// An import/export (mail) slot.
    ImportExport,
    /// A drive (data transfer element).
    DataTransfer,
}

impl ElementType {
    pub const ALL: [ElementType; 4] = [
        ElementType::Transport,
        ElementType::Storage,
        ElementType::ImportExport,
        ElementType::DataTransfer,
    ];

    pub fn code(self) -> u8 {
        match self {
            ElementType::Transport => 1,
            ElementType::Storage => 2,
            ElementType::ImportExport => 3,
            ElementType::DataTransfer => 4,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code & 0x0f {
            1 => Some(ElementType::Transport),
            2 => Some(ElementType::Storage),
            3 => Some(ElementType::ImportExport),
            4 => Some(ElementType::DataTransfer),
            _ => None,
        }
    }
}

/// MOVE MEDIUM: from `source` to `destination` with `transport` (0: the default picker).
pub fn move_medium(transport: u16, source: u16, destination: u16, invert: bool) -> [u8; 12] {
    let [t0, t1] = transport.to_be_bytes();
    let [s0, s1] = source.to_be_bytes();
    let [d0, d1] = destination.to_be_bytes();
    [
        MOVE_MEDIUM,
        0,
        t0,
        t1,
        s0,
        s1,
        d0,
        d1,
        0,
        0,
        u8::from(invert),
        0,
    ]
}

pub fn initialize_element_status() -> [u8; 6] {
    [INITIALIZE_ELEMENT_STATUS, 0, 0, 0, 0, 0]
}

/// READ ELEMENT STATUS of `count` elements of one type from `start`.
pub fn read_element_status(
    kind: ElementType,
    start: u16,
    count: u16,
    voltag: bool,
    dvcid: bool,
    alloc: u32,
) -> [u8; 12] {
    let [s0, s1] = start.to_be_bytes();
    let [c0, c1] = count.to_be_bytes();
    let [_, a0, a1, a2] = alloc.to_be_bytes();
    [
        READ_ELEMENT_STATUS,
        kind.code() | if voltag { 0x10 } else { 0 },
        s0,
        s1,
        c0,
        c1,
        u8::from(dvcid),
        a0,
        a1,
        a2,
        0,
        0,
    ]
}

/// Where each kind of element starts and how many there are (page 1Dh).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ElementAddressAssignment {
    pub transport: (u16, u16),
    pub storage: (u16, u16),
    pub import_export: (u16, u16),
    pub data_transfer: (u16, u16),
}

impl ElementAddressAssignment {
    /// Decodes the page (from its page code byte on).
    pub fn decode(page: &[u8]) -> Option<Self> {
        if page.len() < 20 || page[0] & 0x3f != ELEMENT_ADDRESS_PAGE {
            return None;
        }
        let pair = |at: usize| (be(page, at, 2) as u16, be(page, at + 2, 2) as u16);
        Some(Self {
            transport: pair(2),
            storage: pair(6),
            import_export: pair(10),
            data_transfer: pair(14),
        })
    }

    /// The page as a device returns it (20 bytes).
    pub fn encode(&self) -> [u8; 20] {
        let mut raw = [0u8; 20];
        raw[0] = ELEMENT_ADDRESS_PAGE;
        raw[1] = 0x12;
        for (at, (first, count)) in [
            (2, self.transport),
            (6, self.storage),
            (10, self.import_export),
            (14, self.data_transfer),
        ] {
            raw[at..at + 2].copy_from_slice(&first.to_be_bytes());
            raw[at + 2..at + 4].copy_from_slice(&count.to_be_bytes());
        }
        raw
    }

    pub fn range(&self, kind: ElementType) -> (u16, u16) {
        match kind {
            ElementType::Transport => self.transport,
            ElementType::Storage => self.storage,
            ElementType::ImportExport => self.import_export,
            ElementType::DataTransfer => self.data_transfer,
        }
    }
}

/// One element of READ ELEMENT STATUS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub kind: ElementType,
    pub address: u16,
    pub full: bool,
    /// The element is in an abnormal state (see asc/ascq).
    pub except: bool,
    pub asc: u8,
    pub ascq: u8,
    /// Where the medium came from (SVALID).
    pub source: Option<u16>,
    /// The primary volume tag (barcode), if reported and not blank.
    pub volume_tag: Option<String>,
    /// The device identifier (a drive's serial number), if reported.
    pub device_id: Option<String>,
}

/// Decodes a READ ELEMENT STATUS response: the 8-byte header, then pages
/// of one element type each, every page walked by its own byte count.
pub fn decode_element_status(raw: &[u8]) -> Vec<Element> {
    let mut out = Vec::new();
    if raw.len() < 8 {
        return out;
    }
    // Trust what is there, not the header's byte count (tgt's omits page headers).
    let end = raw.len();
    let mut at = 8;
    while at + 8 <= end {
        let kind = ElementType::from_code(raw[at]);
        let pvoltag = raw[at + 1] & 0x80 != 0;
        let avoltag = raw[at + 1] & 0x40 != 0;
        let desc_len = be(raw, at + 2, 2) as usize;
        let page_bytes = be(raw, at + 5, 3) as usize;
        let page_end = (at + 8 + page_bytes).min(end);
        let (Some(kind), true) = (kind, desc_len >= 12) else {
            // A zero or bad descriptor length would loop forever: stop here.
            break;
        };
        // tgt sends 8 bytes less than its pages hold, cutting the last
        // descriptor: what of it is there (at least the 12 fixed bytes) is
        // read, and a field is only taken whole.
        let mut d = at + 8;
        while d + 12 <= page_end {
            let this_end = (d + desc_len).min(page_end);
            out.push(decode_descriptor(kind, &raw[d..this_end], pvoltag, avoltag));
            d += desc_len;
        }
        at = page_end.max(at + 8);
    }
    out
}

fn decode_descriptor(kind: ElementType, d: &[u8], pvoltag: bool, avoltag: bool) -> Element {
    let flags = d[2];
    let mut at = 12;
    let mut volume_tag = None;
    if pvoltag {
        // The tag's text is 32 bytes; its 4-byte sequence number may be cut.
        if d.len() >= at + 32 {
            volume_tag = Some(text(d, at, 32)).filter(|t| !t.trim().is_empty());
        }
        at += 36;
    }
    if avoltag {
        at += 36;
    }
    // Device identifier: code set, identifier type, reserved, length,
    // identifier; taken only whole (a cut serial would name another drive).
    let device_id = (d.len() >= at + 4 && d.len() >= at + 4 + d[at + 3] as usize)
        .then(|| {
            let len = d[at + 3] as usize;
            // An identifier of type 1 (T10 vendor id) is vendor(8)
            // product(16) serial: the serial is cut out of the bytes, not
            // out of text (a non-ASCII byte is no character boundary).
            let id = if d[at + 1] & 0x0f == 1 && len > 24 {
                text(d, at + 4 + 24, len - 24)
            } else {
                text(d, at + 4, len)
            };
            Some(id.trim().to_string()).filter(|i| !i.is_empty())
        })
        .flatten();
    Element {
        kind,
        address: be(d, 0, 2) as u16,
        full: flags & 0x01 != 0,
        except: flags & 0x04 != 0,
        asc: d[4],
        ascq: d[5],
        source: (d[9] & 0x80 != 0).then(|| be(d, 10, 2) as u16),
        volume_tag,
        device_id,
    }
}

/// Encodes elements as a device answers READ ELEMENT STATUS (the emulated
/// library): the header, then one page per run of elements of one type,
/// descriptors with a primary volume tag and, for drives asked with DVCID,
/// a serial number identifier. Every byte count includes what it counts.
pub fn encode_element_status(elements: &[Element], voltag: bool, dvcid: bool) -> Vec<u8> {
    let mut pages = Vec::new();
    let mut rest = elements;
    while let Some(first) = rest.first() {
        let n = rest.iter().take_while(|e| e.kind == first.kind).count();
        pages.extend(encode_page(&rest[..n], voltag, dvcid));
        rest = &rest[n..];
    }
    let mut raw = Vec::with_capacity(8 + pages.len());
    raw.extend_from_slice(&elements.first().map_or(0, |e| e.address).to_be_bytes());
    raw.extend_from_slice(&(elements.len() as u16).to_be_bytes());
    raw.push(0);
    raw.extend_from_slice(&(pages.len() as u32).to_be_bytes()[1..]);
    raw.extend(pages);
    raw
}

/// One element status page: its 8-byte header and descriptors.
fn encode_page(elements: &[Element], voltag: bool, dvcid: bool) -> Vec<u8> {
    let kind = elements.first().map_or(ElementType::Storage, |e| e.kind);
    let with_id = dvcid && kind == ElementType::DataTransfer;
    let desc_len = 12 + if voltag { 36 } else { 0 } + if with_id { 4 + 32 } else { 0 };
    let page_bytes = desc_len * elements.len();
    let mut raw = Vec::with_capacity(8 + page_bytes);
    raw.push(kind.code());
    raw.push(if voltag { 0x80 } else { 0 });
    raw.extend_from_slice(&(desc_len as u16).to_be_bytes());
    raw.push(0);
    raw.extend_from_slice(&(page_bytes as u32).to_be_bytes()[1..]);
    for e in elements {
        let mut d = vec![0u8; desc_len];
        d[0..2].copy_from_slice(&e.address.to_be_bytes());
        d[2] = u8::from(e.full) | if e.except { 0x04 } else { 0 } | 0x08;
        d[4] = e.asc;
        d[5] = e.ascq;
        if let Some(source) = e.source {
            d[9] = 0x80;
            d[10..12].copy_from_slice(&source.to_be_bytes());
        }
        let mut at = 12;
        if voltag {
            d[at..at + 36].fill(b' ');
            d[at + 32..at + 36].fill(0);
            if let Some(tag) = &e.volume_tag {
                let n = tag.len().min(32);
                d[at..at + n].copy_from_slice(&tag.as_bytes()[..n]);
            }
            at += 36;
        }
        if with_id {
            d[at] = 0x02; // ASCII
            d[at + 1] = 0x00; // vendor specific: the serial number
            d[at + 3] = 32;
            d[at + 4..at + 36].fill(b' ');
            if let Some(id) = &e.device_id {
                let n = id.len().min(32);
                d[at + 4..at + 4 + n].copy_from_slice(&id.as_bytes()[..n]);
            }
        }
        raw.extend_from_slice(&d);
    }
    raw
}

#[cfg(test)]
mod tests;
