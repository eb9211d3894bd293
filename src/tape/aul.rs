//! ANSI/IBM standard labels (AUL) as written by CASTOR and CTA: 80-byte ASCII
//! records. A labelled tape starts `VOL1 HDR1(PRELABEL) TM`; each file is
//! `HDR1 HDR2 UHL1 TM data TM EOF1 EOF2 UTL1 TM`.
//!
//! HDR1/EOF1 hold the file id in hex and fSeq mod 10000 (the standard's 4
//! digits); UHL1/UTL1 hold the full fSeq, the block size and the file id in
//! decimal, so a tape can be read back without the catalogue.

pub const LABEL_LEN: usize = 80;
pub type Label = [u8; LABEL_LEN];

/// File id written in the HDR1 of a freshly labelled tape.
pub const PRELABEL: &str = "PRELABEL";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AulError {
    #[error("label is {0} bytes, expected 80")]
    WrongLength(usize),
    #[error("expected a {expected} label, found {found:?}")]
    WrongLabel {
        expected: &'static str,
        found: String,
    },
    #[error("{label} label holds a non-ASCII or control byte at offset {offset}")]
    NotAscii { label: &'static str, offset: usize },
    #[error("{label} label field {field} is malformed: {value:?}")]
    BadField {
        label: &'static str,
        field: &'static str,
        value: String,
    },
    #[error("value {value} does not fit the {width}-character field {field}")]
    TooWide {
        field: &'static str,
        width: usize,
        value: String,
    },
}

/// How each tape block is protected (VOL1 bytes 77-78, as CTA records it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbpMethod {
    None,
    ReedSolomon,
    Crc32c,
}

impl LbpMethod {
    fn code(self) -> &'static str {
        match self {
            LbpMethod::None => "00",
            LbpMethod::ReedSolomon => "01",
            LbpMethod::Crc32c => "02",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        match code {
            "  " | "00" => Some(LbpMethod::None),
            "01" => Some(LbpMethod::ReedSolomon),
            "02" => Some(LbpMethod::Crc32c),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vol1 {
    pub vid: String,
    pub owner: String,
    pub lbp: LbpMethod,
}

/// What the header and trailer labels of one tape file say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLabel {
    pub vid: String,
    pub fseq: u64,
    pub file_id: u64,
    pub block_size: u64,
    /// Data blocks of the file; written in EOF1 (mod 1,000,000), 0 in HDR1.
    pub block_count: u64,
}

/// Builds a label from space-filled fields.
struct LabelWriter {
    bytes: Label,
}

impl LabelWriter {
    fn new(id: &str) -> Self {
        let mut bytes = [b' '; LABEL_LEN];
        bytes[..4].copy_from_slice(id.as_bytes());
        Self { bytes }
    }

    /// Left-aligned text, space padded.
    fn text(
        &mut self,
        at: usize,
        width: usize,
        field: &'static str,
        value: &str,
    ) -> Result<&mut Self, AulError> {
        if value.len() > width || !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(AulError::TooWide {
                field,
                width,
                value: value.into(),
            });
        }
        self.bytes[at..at + value.len()].copy_from_slice(value.as_bytes());
        Ok(self)
    }

    /// Right-aligned decimal, zero padded.
    fn number(
        &mut self,
        at: usize,
        width: usize,
        field: &'static str,
        value: u64,
    ) -> Result<&mut Self, AulError> {
        let text = format!("{value:0width$}");
        if text.len() > width {
            return Err(AulError::TooWide {
                field,
                width,
                value: text,
            });
        }
        self.bytes[at..at + width].copy_from_slice(text.as_bytes());
        Ok(self)
    }

    fn finish(&self) -> Label {
        self.bytes
    }
}

/// Reads fields out of an 80-byte label after checking its id and bytes.
struct LabelReader<'a> {
    name: &'static str,
    bytes: &'a [u8],
}

impl<'a> LabelReader<'a> {
    fn new(bytes: &'a [u8], name: &'static str) -> Result<Self, AulError> {
        if bytes.len() != LABEL_LEN {
            return Err(AulError::WrongLength(bytes.len()));
        }
        if let Some(offset) = bytes.iter().position(|b| !(0x20..0x7f).contains(b)) {
            // The id may itself be garbage: report it as the wrong label.
            if offset < 4 {
                return Err(AulError::WrongLabel {
                    expected: name,
                    found: String::from_utf8_lossy(&bytes[..4]).into_owned(),
                });
            }
            return Err(AulError::NotAscii {
                label: name,
                offset,
            });
        }
        if &bytes[..4] != name.as_bytes() {
            return Err(AulError::WrongLabel {
                expected: name,
                found: String::from_utf8_lossy(&bytes[..4]).into_owned(),
            });
        }
        Ok(Self { name, bytes })
    }

    fn text(&self, at: usize, width: usize) -> &'a str {
        // Checked printable ASCII in `new`, so this is valid UTF-8.
        std::str::from_utf8(&self.bytes[at..at + width])
            .unwrap_or_default()
            .trim_end()
    }

    fn number(&self, at: usize, width: usize, field: &'static str) -> Result<u64, AulError> {
        let raw = std::str::from_utf8(&self.bytes[at..at + width]).unwrap_or_default();
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.bad(field, raw));
        }
        raw.parse().map_err(|_| self.bad(field, raw))
    }

    fn hex(&self, at: usize, width: usize, field: &'static str) -> Result<u64, AulError> {
        let raw = self.text(at, width);
        u64::from_str_radix(raw, 16).map_err(|_| self.bad(field, raw))
    }

    fn bad(&self, field: &'static str, value: &str) -> AulError {
        AulError::BadField {
            label: self.name,
            field,
            value: value.into(),
        }
    }
}

const IMPLEMENTATION: &str = "TAPESERVER";

pub fn encode_vol1(vol1: &Vol1) -> Result<Label, AulError> {
    check_vid(&vol1.vid)?;
    Ok(LabelWriter::new("VOL1")
        .text(4, 6, "VSN", &vol1.vid)?
        .text(24, 13, "implementation id", IMPLEMENTATION)?
        .text(37, 14, "owner", &vol1.owner)?
        .text(77, 2, "LBP method", vol1.lbp.code())?
        .text(79, 1, "label standard", "3")?
        .finish())
}

pub fn parse_vol1(bytes: &[u8]) -> Result<Vol1, AulError> {
    let r = LabelReader::new(bytes, "VOL1")?;
    let vid = r.text(4, 6).to_string();
    if vid.is_empty() {
        return Err(r.bad("VSN", &vid));
    }
    let lbp_raw = std::str::from_utf8(&bytes[77..79]).unwrap_or_default();
    let lbp = LbpMethod::parse(lbp_raw).ok_or_else(|| r.bad("LBP method", lbp_raw))?;
    Ok(Vol1 {
        vid,
        owner: r.text(37, 14).to_string(),
        lbp,
    })
}

/// A VID is 1-6 upper-case letters or digits.
pub fn check_vid(vid: &str) -> Result<(), AulError> {
    let ok = !vid.is_empty()
        && vid.len() <= 6
        && vid
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(AulError::BadField {
            label: "VOL1",
            field: "VSN",
            value: vid.into(),
        })
    }
}

fn encode_hdr1_like(
    id: &str,
    file_id: &str,
    vid: &str,
    fseq: u64,
    blocks: u64,
) -> Result<Label, AulError> {
    Ok(LabelWriter::new(id)
        .text(4, 17, "file id", file_id)?
        .text(21, 6, "file set id", vid)?
        .number(27, 4, "file section", 1)?
        .number(31, 4, "fSeq", fseq % 10_000)?
        .number(35, 4, "generation", 1)?
        .number(39, 2, "generation version", 0)?
        .number(54, 6, "block count", blocks % 1_000_000)?
        .text(60, 13, "system code", IMPLEMENTATION)?
        .finish())
}

/// `HDR1` of a freshly labelled tape: marks it as holding no file yet.
pub fn encode_prelabel_hdr1(vid: &str) -> Result<Label, AulError> {
    encode_hdr1_like("HDR1", PRELABEL, vid, 0, 0)
}

pub fn encode_hdr1(label: &FileLabel) -> Result<Label, AulError> {
    encode_hdr1_like(
        "HDR1",
        &format!("{:X}", label.file_id),
        &label.vid,
        label.fseq,
        0,
    )
}

pub fn encode_eof1(label: &FileLabel) -> Result<Label, AulError> {
    encode_hdr1_like(
        "EOF1",
        &format!("{:X}", label.file_id),
        &label.vid,
        label.fseq,
        label.block_count,
    )
}

/// What HDR1/EOF1 say; `file_id` is None for a PRELABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hdr1 {
    pub file_id: Option<u64>,
    pub vid: String,
    pub fseq_mod: u64,
    pub block_count: u64,
}

fn parse_hdr1_like(bytes: &[u8], name: &'static str) -> Result<Hdr1, AulError> {
    let r = LabelReader::new(bytes, name)?;
    let file_id = match r.text(4, 17) {
        PRELABEL => None,
        _ => Some(r.hex(4, 17, "file id")?),
    };
    Ok(Hdr1 {
        file_id,
        vid: r.text(21, 6).to_string(),
        fseq_mod: r.number(31, 4, "fSeq")?,
        block_count: r.number(54, 6, "block count")?,
    })
}

pub fn parse_hdr1(bytes: &[u8]) -> Result<Hdr1, AulError> {
    parse_hdr1_like(bytes, "HDR1")
}

pub fn parse_eof1(bytes: &[u8]) -> Result<Hdr1, AulError> {
    parse_hdr1_like(bytes, "EOF1")
}

fn encode_hdr2_like(id: &str, block_size: u64) -> Result<Label, AulError> {
    // The standard's 5-digit block length cannot hold 256 KiB; CASTOR writes
    // zeros then, and the real size lives in UHL1.
    let short = if block_size <= 99_999 { block_size } else { 0 };
    Ok(LabelWriter::new(id)
        .text(4, 1, "record format", "F")?
        .number(5, 5, "block length", short)?
        .number(10, 5, "record length", short)?
        .text(50, 2, "recording technique", "P ")?
        .finish())
}

pub fn encode_hdr2(label: &FileLabel) -> Result<Label, AulError> {
    encode_hdr2_like("HDR2", label.block_size)
}

pub fn encode_eof2(label: &FileLabel) -> Result<Label, AulError> {
    encode_hdr2_like("EOF2", label.block_size)
}

pub fn parse_hdr2(bytes: &[u8]) -> Result<(), AulError> {
    LabelReader::new(bytes, "HDR2")?
        .number(5, 5, "block length")
        .map(drop)
}

pub fn parse_eof2(bytes: &[u8]) -> Result<(), AulError> {
    LabelReader::new(bytes, "EOF2")?
        .number(5, 5, "block length")
        .map(drop)
}

fn encode_uhl1_like(id: &str, label: &FileLabel) -> Result<Label, AulError> {
    Ok(LabelWriter::new(id)
        .number(4, 10, "fSeq", label.fseq)?
        .number(14, 10, "block size", label.block_size)?
        .number(24, 20, "file id", label.file_id)?
        .text(44, 6, "VSN", &label.vid)?
        .finish())
}

pub fn encode_uhl1(label: &FileLabel) -> Result<Label, AulError> {
    encode_uhl1_like("UHL1", label)
}

pub fn encode_utl1(label: &FileLabel) -> Result<Label, AulError> {
    encode_uhl1_like("UTL1", label)
}

/// What UHL1/UTL1 say: the full fSeq, block size and file id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uhl1 {
    pub fseq: u64,
    pub block_size: u64,
    pub file_id: u64,
    pub vid: String,
}

fn parse_uhl1_like(bytes: &[u8], name: &'static str) -> Result<Uhl1, AulError> {
    let r = LabelReader::new(bytes, name)?;
    Ok(Uhl1 {
        fseq: r.number(4, 10, "fSeq")?,
        block_size: r.number(14, 10, "block size")?,
        file_id: r.number(24, 20, "file id")?,
        vid: r.text(44, 6).to_string(),
    })
}

pub fn parse_uhl1(bytes: &[u8]) -> Result<Uhl1, AulError> {
    parse_uhl1_like(bytes, "UHL1")
}

pub fn parse_utl1(bytes: &[u8]) -> Result<Uhl1, AulError> {
    parse_uhl1_like(bytes, "UTL1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> FileLabel {
        FileLabel {
            vid: "V00042".into(),
            fseq: 123_456,
            file_id: 0xDEAD_BEEF,
            block_size: 256 * 1024,
            block_count: 1_234_567,
        }
    }

    #[test]
    fn vol1_round_trip() {
        let vol1 = Vol1 {
            vid: "V00001".into(),
            owner: "tapeserver".into(),
            lbp: LbpMethod::Crc32c,
        };
        let bytes = encode_vol1(&vol1).unwrap();
        assert_eq!(&bytes[..10], b"VOL1V00001");
        assert_eq!(&bytes[77..80], b"023");
        assert_eq!(parse_vol1(&bytes).unwrap(), vol1);
    }

    #[test]
    fn file_labels_round_trip() {
        let l = label();
        let hdr1 = parse_hdr1(&encode_hdr1(&l).unwrap()).unwrap();
        assert_eq!(hdr1.file_id, Some(0xDEAD_BEEF));
        assert_eq!(hdr1.fseq_mod, 3456);
        assert_eq!(hdr1.block_count, 0);
        let eof1 = parse_eof1(&encode_eof1(&l).unwrap()).unwrap();
        assert_eq!(eof1.block_count, 234_567);
        assert_eq!(eof1.vid, "V00042");
        parse_hdr2(&encode_hdr2(&l).unwrap()).unwrap();
        parse_eof2(&encode_eof2(&l).unwrap()).unwrap();
        let uhl1 = parse_uhl1(&encode_uhl1(&l).unwrap()).unwrap();
        assert_eq!(
            uhl1,
            Uhl1 {
                fseq: 123_456,
                block_size: 256 * 1024,
                file_id: 0xDEAD_BEEF,
                vid: "V00042".into()
            }
        );
        assert_eq!(parse_utl1(&encode_utl1(&l).unwrap()).unwrap(), uhl1);
    }

    #[test]
    fn prelabel_has_no_file_id() {
        let hdr1 = parse_hdr1(&encode_prelabel_hdr1("V00001").unwrap()).unwrap();
        assert_eq!(hdr1.file_id, None);
    }

    #[test]
    fn wrong_label_kind_is_rejected() {
        let bytes = encode_hdr1(&label()).unwrap();
        assert!(matches!(
            parse_eof1(&bytes),
            Err(AulError::WrongLabel {
                expected: "EOF1",
                ..
            })
        ));
        assert!(matches!(
            parse_uhl1(&bytes),
            Err(AulError::WrongLabel { .. })
        ));
    }

    #[test]
    fn short_label_is_rejected() {
        assert_eq!(parse_vol1(b"VOL1V00001"), Err(AulError::WrongLength(10)));
    }

    #[test]
    fn non_ascii_is_rejected() {
        let mut bytes = encode_uhl1(&label()).unwrap();
        bytes[30] = 0xff;
        assert_eq!(
            parse_uhl1(&bytes),
            Err(AulError::NotAscii {
                label: "UHL1",
                offset: 30
            })
        );
    }

    #[test]
    fn garbage_numbers_are_rejected() {
        let mut bytes = encode_uhl1(&label()).unwrap();
        bytes[5] = b'x';
        assert!(matches!(
            parse_uhl1(&bytes),
            Err(AulError::BadField { field: "fSeq", .. })
        ));
        let mut bytes = encode_hdr1(&label()).unwrap();
        bytes[4..21].copy_from_slice(b"NOT-HEX-AT-ALL!!!");
        assert!(matches!(
            parse_hdr1(&bytes),
            Err(AulError::BadField {
                field: "file id",
                ..
            })
        ));
    }

    #[test]
    fn data_block_is_not_a_label() {
        let data = [0u8; 80];
        assert!(parse_vol1(&data).is_err());
    }

    #[test]
    fn bad_vid_and_lbp_are_rejected() {
        let vol1 = Vol1 {
            vid: "toolong1".into(),
            owner: String::new(),
            lbp: LbpMethod::None,
        };
        assert!(encode_vol1(&vol1).is_err());
        let mut bytes = encode_vol1(&Vol1 {
            vid: "V1".into(),
            ..vol1
        })
        .unwrap();
        bytes[77..79].copy_from_slice(b"9Z");
        assert!(matches!(
            parse_vol1(&bytes),
            Err(AulError::BadField {
                field: "LBP method",
                ..
            })
        ));
    }

    #[test]
    fn too_large_fseq_is_refused_not_truncated() {
        let l = FileLabel {
            fseq: 10_000_000_000,
            ..label()
        };
        assert!(encode_uhl1(&l).is_err());
    }
}
