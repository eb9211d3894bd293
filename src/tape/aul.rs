//! ANSI/IBM standard labels (AUL) laid out field by field as CTA (and
//! CASTOR before it) writes them, so each can read the other's tapes:
//! 80-byte ASCII records, space-filled, text left-aligned, numbers
//! zero-padded. A labelled tape starts `VOL1 HDR1(PRELABEL) TM`; each file
//! is `HDR1 HDR2 UHL1 TM data TM EOF1 EOF2 UTL1 TM`.
//!
//! Offsets (0-based): VOL1 VSN 4-9, implementation id 24-36 (blank),
//! owner 37-50, LBP method 77-78, label standard 79. HDR1/EOF1 file id
//! 4-20 (upper-case hex), VSN 21-26, section 27-30, fSeq mod 10000 31-34,
//! generation 35-38, version 39-40, creation and expiry dates 41-46 and
//! 47-52 (`cyyddd`), block count 54-59, system code 60-72. HDR2/EOF2
//! record format 4, block and record length 5-9 and 10-14 (`00000` from
//! 100000 up), recording technique 34-35, buffer offset 50-51 (`00`).
//! UHL1/UTL1 fSeq 4-13, block size 14-23, record length 24-33, site 34-41,
//! host 42-51, drive vendor 52-59, model 60-67, serial 68-79.
//!
//! Reading also accepts the labels this project wrote before it matched
//! CTA: UHL1/UTL1 with the file id at 24-43 and the VSN at 44-49, HDR2
//! with `P ` at 50, blank dates and an implementation id in VOL1.

use super::drive::DriveInfo;

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

/// What the header and trailer labels of one tape file say about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLabel {
    pub vid: String,
    pub fseq: u64,
    pub file_id: u64,
    pub block_size: u64,
    /// Data blocks of the file; written in EOF1 (mod 1,000,000), 0 in HDR1.
    pub block_count: u64,
}

/// A label date, `cyyddd`: century (blank 19xx, `0` 20xx, `1` 21xx), year
/// in the century, day of the year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelDate {
    pub year: u32,
    /// 1 to 366.
    pub day: u32,
}

impl LabelDate {
    /// Today in UTC (CTA uses local time; UTC needs no time-zone data and
    /// differs by at most a day).
    pub fn today() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self::from_days_since_epoch(secs / 86_400)
    }

    /// The civil date of a day count (Howard Hinnant's `civil_from_days`).
    pub fn from_days_since_epoch(days: u64) -> Self {
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy_from_march = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy_from_march + 2) / 153;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u32;
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        // Day of the year from the day of the March-based year.
        let day = if month >= 3 {
            doy_from_march + 60 + i64::from(leap)
        } else {
            doy_from_march - 305
        } as u32;
        Self { year, day }
    }

    fn cyyddd(self) -> String {
        let century = match self.year / 100 {
            19 => ' ',
            c => char::from_digit(c.saturating_sub(20) % 10, 10).unwrap_or('0'),
        };
        format!("{century}{:02}{:03}", self.year % 100, self.day)
    }
}

/// Who wrote a file, where and when: what CTA records besides the file's
/// own fields (HDR1 dates and system code, UHL1 site, host and drive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    pub site: String,
    pub host: String,
    pub drive: DriveInfo,
    pub date: LabelDate,
    /// The drive compresses (HDR2 recording technique `P `).
    pub compression: bool,
}

impl Writer {
    /// Site and host as CTA writes them: upper case, the host without its domain.
    pub fn new(site: &str, host: &str, drive: DriveInfo) -> Self {
        let short = host.split('.').next().unwrap_or(host);
        Self {
            site: site.to_ascii_uppercase(),
            host: short.to_ascii_uppercase(),
            drive,
            date: LabelDate::today(),
            compression: false,
        }
    }
}

/// The site name CTA derives from a host name: its domain without the
/// top level, upper case ("tps01.cern.ch" is CERN); LOCAL without a domain.
pub fn default_site(host: &str) -> String {
    let parts: Vec<&str> = host.split('.').filter(|p| !p.is_empty()).collect();
    match parts.len() {
        0 | 1 => "LOCAL".into(),
        n => parts[n - 2].to_ascii_uppercase(),
    }
}

/// The system code written in HDR1/EOF1, as CTA writes "CTA <version>".
fn system_code() -> String {
    let mut code = format!("TAPESRV {}", env!("CARGO_PKG_VERSION"));
    code.truncate(13);
    code
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

    /// Left-aligned text, space padded; too long or not printable is an error.
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

    /// Descriptive text, cut to the field as CTA does; unprintable bytes become '?'.
    fn cut(&mut self, at: usize, width: usize, value: &str) -> &mut Self {
        for (i, b) in value.bytes().take(width).enumerate() {
            self.bytes[at + i] = if (0x20..0x7f).contains(&b) { b } else { b'?' };
        }
        self
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

    fn raw(&self, at: usize, width: usize) -> &'a str {
        // Checked printable ASCII in `new`, so this is valid UTF-8.
        std::str::from_utf8(&self.bytes[at..at + width]).unwrap_or_default()
    }

    fn text(&self, at: usize, width: usize) -> &'a str {
        self.raw(at, width).trim_end()
    }

    fn is_blank(&self, at: usize, width: usize) -> bool {
        self.bytes[at..at + width].iter().all(|&b| b == b' ')
    }

    fn is_digits(&self, at: usize, width: usize) -> bool {
        self.bytes[at..at + width].iter().all(u8::is_ascii_digit)
    }

    fn number(&self, at: usize, width: usize, field: &'static str) -> Result<u64, AulError> {
        let raw = self.raw(at, width);
        if !self.is_digits(at, width) {
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

pub fn encode_vol1(vol1: &Vol1) -> Result<Label, AulError> {
    check_vid(&vol1.vid)?;
    Ok(LabelWriter::new("VOL1")
        .text(4, 6, "VSN", &vol1.vid)?
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
    if r.raw(79, 1) != "3" {
        return Err(r.bad("label standard", r.raw(79, 1)));
    }
    let lbp = LbpMethod::parse(r.raw(77, 2)).ok_or_else(|| r.bad("LBP method", r.raw(77, 2)))?;
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
    date: LabelDate,
) -> Result<Label, AulError> {
    let date = date.cyyddd();
    Ok(LabelWriter::new(id)
        .text(4, 17, "file id", file_id)?
        .text(21, 6, "file set id", vid)?
        .number(27, 4, "file section", 1)?
        .number(31, 4, "fSeq", fseq % 10_000)?
        .number(35, 4, "generation", 1)?
        .number(39, 2, "generation version", 0)?
        .text(41, 6, "creation date", &date)?
        .text(47, 6, "expiration date", &date)?
        .number(54, 6, "block count", blocks % 1_000_000)?
        .cut(60, 13, &system_code())
        .finish())
}

/// `HDR1` of a freshly labelled tape: no file yet (CTA writes fSeq 1).
pub fn encode_prelabel_hdr1(vid: &str, date: LabelDate) -> Result<Label, AulError> {
    encode_hdr1_like("HDR1", PRELABEL, vid, 1, 0, date)
}

pub fn encode_hdr1(label: &FileLabel, writer: &Writer) -> Result<Label, AulError> {
    let id = format!("{:X}", label.file_id);
    encode_hdr1_like("HDR1", &id, &label.vid, label.fseq, 0, writer.date)
}

pub fn encode_eof1(label: &FileLabel, writer: &Writer) -> Result<Label, AulError> {
    let id = format!("{:X}", label.file_id);
    encode_hdr1_like(
        "EOF1",
        &id,
        &label.vid,
        label.fseq,
        label.block_count,
        writer.date,
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

fn encode_hdr2_like(id: &str, block_size: u64, compression: bool) -> Result<Label, AulError> {
    // The standard's 5-digit block length cannot hold 256 KiB; CTA writes
    // zeros then, and the real size lives in UHL1.
    let short = if block_size < 100_000 { block_size } else { 0 };
    let mut w = LabelWriter::new(id);
    w.text(4, 1, "record format", "F")?
        .number(5, 5, "block length", short)?
        .number(10, 5, "record length", short)?
        .text(50, 2, "buffer offset", "00")?;
    if compression {
        w.text(34, 2, "recording technique", "P ")?;
    }
    Ok(w.finish())
}

pub fn encode_hdr2(label: &FileLabel, writer: &Writer) -> Result<Label, AulError> {
    encode_hdr2_like("HDR2", label.block_size, writer.compression)
}

pub fn encode_eof2(label: &FileLabel, writer: &Writer) -> Result<Label, AulError> {
    encode_hdr2_like("EOF2", label.block_size, writer.compression)
}

/// What HDR2/EOF2 say: the block length, 0 when it does not fit 5 digits.
fn parse_hdr2_like(bytes: &[u8], name: &'static str) -> Result<u64, AulError> {
    let r = LabelReader::new(bytes, name)?;
    if r.raw(4, 1) != "F" {
        return Err(r.bad("record format", r.raw(4, 1)));
    }
    r.number(5, 5, "block length")
}

pub fn parse_hdr2(bytes: &[u8]) -> Result<u64, AulError> {
    parse_hdr2_like(bytes, "HDR2")
}

pub fn parse_eof2(bytes: &[u8]) -> Result<u64, AulError> {
    parse_hdr2_like(bytes, "EOF2")
}

fn encode_uhl1_like(id: &str, label: &FileLabel, writer: &Writer) -> Result<Label, AulError> {
    Ok(LabelWriter::new(id)
        .number(4, 10, "fSeq", label.fseq)?
        .number(14, 10, "block size", label.block_size)?
        .number(24, 10, "record length", label.block_size)?
        .cut(34, 8, &writer.site)
        .cut(42, 10, &writer.host)
        .cut(52, 8, &writer.drive.vendor)
        .cut(60, 8, &writer.drive.model)
        .cut(68, 12, &writer.drive.serial)
        .finish())
}

pub fn encode_uhl1(label: &FileLabel, writer: &Writer) -> Result<Label, AulError> {
    encode_uhl1_like("UHL1", label, writer)
}

pub fn encode_utl1(label: &FileLabel, writer: &Writer) -> Result<Label, AulError> {
    encode_uhl1_like("UTL1", label, writer)
}

/// What UHL1/UTL1 say: the full fSeq and block size, and who wrote the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uhl1 {
    pub fseq: u64,
    pub block_size: u64,
    pub site: String,
    pub host: String,
    pub drive: DriveInfo,
    /// Only this project's labels from before it matched CTA held the file id here.
    pub legacy_file_id: Option<u64>,
}

fn parse_uhl1_like(bytes: &[u8], name: &'static str) -> Result<Uhl1, AulError> {
    let r = LabelReader::new(bytes, name)?;
    let fseq = r.number(4, 10, "fSeq")?;
    let block_size = r.number(14, 10, "block size")?;
    // The old layout: 20 digits of file id, the VSN, then nothing. CTA's
    // puts a site name at 34 and a drive vendor, model and serial at 52.
    if r.is_digits(24, 20) && r.is_blank(50, 30) {
        return Ok(Uhl1 {
            fseq,
            block_size,
            site: String::new(),
            host: String::new(),
            drive: DriveInfo {
                vendor: String::new(),
                model: String::new(),
                serial: String::new(),
            },
            legacy_file_id: Some(r.number(24, 20, "file id")?),
        });
    }
    r.number(24, 10, "record length")?;
    Ok(Uhl1 {
        fseq,
        block_size,
        site: r.text(34, 8).to_string(),
        host: r.text(42, 10).to_string(),
        drive: DriveInfo {
            vendor: r.text(52, 8).to_string(),
            model: r.text(60, 8).to_string(),
            serial: r.text(68, 12).to_string(),
        },
        legacy_file_id: None,
    })
}

pub fn parse_uhl1(bytes: &[u8]) -> Result<Uhl1, AulError> {
    parse_uhl1_like(bytes, "UHL1")
}

pub fn parse_utl1(bytes: &[u8]) -> Result<Uhl1, AulError> {
    parse_uhl1_like(bytes, "UTL1")
}

#[cfg(test)]
pub(crate) mod tests;
