//! The on-tape layout of files, on top of any `TapeDrive` with LBP on:
//! labelling, writing a file's header and trailer labels, checking where to
//! append, and checking a file's labels before reading it.

use super::aul::{self, AulError, FileLabel, LABEL_LEN, Label, LabelDate, LbpMethod, Vol1, Writer};
use super::drive::{DriveError, LBP_CRC_LEN, ReadOutcome, TapeDrive, lbp_seal};

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(transparent)]
    Drive(#[from] DriveError),
    #[error("tape {vid}: {what}: {source}")]
    Label {
        vid: String,
        what: &'static str,
        source: AulError,
    },
    #[error("tape {vid}: {what}")]
    Mismatch { vid: String, what: String },
}

/// Where the catalogue says the last file of a tape is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastFile {
    pub fseq: u64,
    pub file_id: u64,
    /// Block id of the last file's HDR1.
    pub block_id: u64,
}

/// Writes an 80-byte label with its LBP CRC.
fn write_label(drive: &mut dyn TapeDrive, label: &Label) -> Result<(), DriveError> {
    let mut block = Vec::with_capacity(LABEL_LEN + LBP_CRC_LEN);
    block.extend_from_slice(label);
    lbp_seal(&mut block);
    drive.write_block(&block).map(drop)
}

/// Reads one block expected to be a label; None for a file mark or end of data.
fn read_label(
    drive: &mut dyn TapeDrive,
    vid: &str,
    what: &'static str,
) -> Result<Vec<u8>, FormatError> {
    let mut buf = vec![0u8; 64 * 1024 + LBP_CRC_LEN];
    match drive.read_block(&mut buf) {
        Ok(ReadOutcome::Data(n)) => {
            buf.truncate(n.saturating_sub(LBP_CRC_LEN));
            Ok(buf)
        }
        Ok(ReadOutcome::FileMark) => {
            Err(mismatch(vid, format!("expected {what}, found a file mark")))
        }
        Ok(ReadOutcome::EndOfData) => {
            Err(mismatch(vid, format!("expected {what}, found end of data")))
        }
        Err(DriveError::BlockTooLarge { len, .. }) => Err(mismatch(
            vid,
            format!("expected {what}, found a {len}-byte data block"),
        )),
        Err(e) => Err(e.into()),
    }
}

fn expect_filemark(drive: &mut dyn TapeDrive, vid: &str, after: &str) -> Result<(), FormatError> {
    let mut buf = vec![0u8; 64 * 1024 + LBP_CRC_LEN];
    match drive.read_block(&mut buf) {
        Ok(ReadOutcome::FileMark) => Ok(()),
        Ok(other) => Err(mismatch(
            vid,
            format!("expected a file mark after {after}, found {other:?}"),
        )),
        Err(DriveError::BlockTooLarge { .. }) => Err(mismatch(
            vid,
            format!("expected a file mark after {after}, found data"),
        )),
        Err(e) => Err(e.into()),
    }
}

fn mismatch(vid: &str, what: String) -> FormatError {
    FormatError::Mismatch {
        vid: vid.to_string(),
        what,
    }
}

fn label_err<'a>(vid: &'a str, what: &'static str) -> impl FnOnce(AulError) -> FormatError + 'a {
    move |source| FormatError::Label {
        vid: vid.to_string(),
        what,
        source,
    }
}

/// Labels a blank or reused cartridge: `VOL1 HDR1(PRELABEL) TM`, flushed.
pub fn label_tape(drive: &mut dyn TapeDrive, vid: &str, owner: &str) -> Result<(), FormatError> {
    let vol1 = aul::encode_vol1(&Vol1 {
        vid: vid.to_string(),
        owner: owner.to_string(),
        lbp: LbpMethod::Crc32c,
    })
    .map_err(label_err(vid, "VOL1"))?;
    let hdr1 =
        aul::encode_prelabel_hdr1(vid, LabelDate::today()).map_err(label_err(vid, "HDR1"))?;
    drive.set_lbp(true);
    drive.rewind()?;
    write_label(drive, &vol1)?;
    write_label(drive, &hdr1)?;
    drive.write_filemarks(1, true)?;
    Ok(())
}

/// Rewinds and reads VOL1, whatever the cartridge is; the drive is then at block 1.
pub fn read_vol1(drive: &mut dyn TapeDrive) -> Result<Vol1, FormatError> {
    drive.set_lbp(true);
    drive.rewind()?;
    let block = read_label(drive, "?", "VOL1")?;
    aul::parse_vol1(&block).map_err(label_err("?", "VOL1"))
}

/// What a file's header labels say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub file_id: u64,
    pub fseq: u64,
    pub block_size: u64,
}

/// What a file's trailer labels say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileTrailer {
    pub file_id: u64,
    pub fseq: u64,
    /// Data blocks, modulo 1,000,000 (EOF1's six digits).
    pub block_count: u64,
}

/// Reads `HDR1 HDR2 UHL1 TM` wherever the drive is, checking them against
/// each other and the VID as CTA does: the file id comes from HDR1 (hex),
/// the full fSeq and block size from UHL1.
pub fn read_header_labels(drive: &mut dyn TapeDrive, vid: &str) -> Result<FileHeader, FormatError> {
    let hdr1 = aul::parse_hdr1(&read_label(drive, vid, "HDR1")?).map_err(label_err(vid, "HDR1"))?;
    aul::parse_hdr2(&read_label(drive, vid, "HDR2")?).map_err(label_err(vid, "HDR2"))?;
    let uhl1 = aul::parse_uhl1(&read_label(drive, vid, "UHL1")?).map_err(label_err(vid, "UHL1"))?;
    let Some(file_id) = hdr1.file_id else {
        return Err(mismatch(vid, "HDR1 is a PRELABEL, not a file's".into()));
    };
    if hdr1.vid != vid {
        return Err(mismatch(vid, format!("HDR1 names volume {}", hdr1.vid)));
    }
    if hdr1.fseq_mod != uhl1.fseq % 10_000 || uhl1.legacy_file_id.is_some_and(|id| id != file_id) {
        return Err(mismatch(
            vid,
            format!("HDR1 and UHL1 disagree at fSeq {}", uhl1.fseq),
        ));
    }
    expect_filemark(drive, vid, "UHL1")?;
    Ok(FileHeader {
        file_id,
        fseq: uhl1.fseq,
        block_size: uhl1.block_size,
    })
}

/// Reads `EOF1 EOF2 UTL1 TM` after a file's data file mark.
pub fn read_trailer_labels(
    drive: &mut dyn TapeDrive,
    vid: &str,
) -> Result<FileTrailer, FormatError> {
    let eof1 = aul::parse_eof1(&read_label(drive, vid, "EOF1")?).map_err(label_err(vid, "EOF1"))?;
    aul::parse_eof2(&read_label(drive, vid, "EOF2")?).map_err(label_err(vid, "EOF2"))?;
    let utl1 = aul::parse_utl1(&read_label(drive, vid, "UTL1")?).map_err(label_err(vid, "UTL1"))?;
    let Some(file_id) = eof1.file_id else {
        return Err(mismatch(vid, "EOF1 names no file".into()));
    };
    if eof1.fseq_mod != utl1.fseq % 10_000 || utl1.legacy_file_id.is_some_and(|id| id != file_id) {
        return Err(mismatch(
            vid,
            format!("EOF1 and UTL1 disagree at fSeq {}", utl1.fseq),
        ));
    }
    expect_filemark(drive, vid, "UTL1")?;
    Ok(FileTrailer {
        file_id,
        fseq: utl1.fseq,
        block_count: eof1.block_count,
    })
}

/// Rewinds and checks that the cartridge is the expected VID.
pub fn check_vol1(drive: &mut dyn TapeDrive, vid: &str) -> Result<Vol1, FormatError> {
    drive.set_lbp(true);
    drive.rewind()?;
    let block = read_label(drive, vid, "VOL1")?;
    let vol1 = aul::parse_vol1(&block).map_err(label_err(vid, "VOL1"))?;
    if vol1.vid != vid {
        return Err(mismatch(
            vid,
            format!("VOL1 says the cartridge is {}", vol1.vid),
        ));
    }
    Ok(vol1)
}

/// Positions for writing the file after `last` (None: the tape is empty in
/// the catalogue). The tape's own labels must agree with the catalogue: a
/// mismatch means the catalogue and tape disagree and nothing is written.
pub fn position_for_append(
    drive: &mut dyn TapeDrive,
    vid: &str,
    last: Option<LastFile>,
) -> Result<(), FormatError> {
    check_vol1(drive, vid)?;
    let Some(last) = last else {
        // Block 1 must be the PRELABEL HDR1: anything else is data the
        // catalogue does not know about.
        let block = read_label(drive, vid, "HDR1 PRELABEL")?;
        let hdr1 = aul::parse_hdr1(&block).map_err(label_err(vid, "HDR1 PRELABEL"))?;
        if let Some(id) = hdr1.file_id {
            return Err(mismatch(
                vid,
                format!("the catalogue has no file on this tape but it starts with file id {id}"),
            ));
        }
        drive.locate(1)?;
        return Ok(());
    };
    drive.locate(last.block_id)?;
    let hdr1 = aul::parse_hdr1(&read_label(drive, vid, "HDR1")?).map_err(label_err(vid, "HDR1"))?;
    if hdr1.file_id != Some(last.file_id) || hdr1.fseq_mod != last.fseq % 10_000 {
        return Err(mismatch(
            vid,
            format!(
                "block {} holds HDR1 of file {:?} fSeq {} but the catalogue's last file is {} fSeq {}",
                last.block_id, hdr1.file_id, hdr1.fseq_mod, last.file_id, last.fseq
            ),
        ));
    }
    drive.space_filemarks(2)?;
    let trailer = read_trailer_labels(drive, vid)?;
    if trailer.fseq != last.fseq || trailer.file_id != last.file_id {
        return Err(mismatch(
            vid,
            format!(
                "trailer of the last file says file {} fSeq {}, the catalogue says file {} fSeq {}",
                trailer.file_id, trailer.fseq, last.file_id, last.fseq
            ),
        ));
    }
    Ok(())
}

/// Positions for writing fSeq 1 of a tape the catalogue reclaimed: VOL1
/// must still name it; what follows (the files deleted before the reclaim)
/// is written over, as a real drive does (writing ends the data there).
pub fn position_over_reclaimed(drive: &mut dyn TapeDrive, vid: &str) -> Result<(), FormatError> {
    check_vol1(drive, vid)?;
    drive.locate(1)?;
    Ok(())
}

/// Writes `HDR1 HDR2 UHL1 TM`; returns the block id of HDR1.
pub fn write_file_header(
    drive: &mut dyn TapeDrive,
    label: &FileLabel,
    writer: &Writer,
) -> Result<u64, FormatError> {
    let vid = label.vid.as_str();
    let block_id = drive.position()?;
    write_label(
        drive,
        &aul::encode_hdr1(label, writer).map_err(label_err(vid, "HDR1"))?,
    )?;
    write_label(
        drive,
        &aul::encode_hdr2(label, writer).map_err(label_err(vid, "HDR2"))?,
    )?;
    write_label(
        drive,
        &aul::encode_uhl1(label, writer).map_err(label_err(vid, "UHL1"))?,
    )?;
    drive.write_filemarks(1, false)?;
    Ok(block_id)
}

/// Writes `TM EOF1 EOF2 UTL1 TM`, without flushing.
pub fn write_file_trailer(
    drive: &mut dyn TapeDrive,
    label: &FileLabel,
    writer: &Writer,
) -> Result<(), FormatError> {
    let vid = label.vid.as_str();
    drive.write_filemarks(1, false)?;
    write_label(
        drive,
        &aul::encode_eof1(label, writer).map_err(label_err(vid, "EOF1"))?,
    )?;
    write_label(
        drive,
        &aul::encode_eof2(label, writer).map_err(label_err(vid, "EOF2"))?,
    )?;
    write_label(
        drive,
        &aul::encode_utl1(label, writer).map_err(label_err(vid, "UTL1"))?,
    )?;
    drive.write_filemarks(1, false)?;
    Ok(())
}

/// After positioning at a file's HDR1: checks `HDR1 HDR2 UHL1 TM` name the
/// expected file; afterwards the drive is at the file's first data block.
/// Returns the header, whose block size is the one the file was written with.
pub fn read_file_header(
    drive: &mut dyn TapeDrive,
    vid: &str,
    fseq: u64,
    file_id: u64,
) -> Result<FileHeader, FormatError> {
    let header = read_header_labels(drive, vid)?;
    if header.file_id != file_id || header.fseq != fseq {
        return Err(mismatch(
            vid,
            format!(
                "expected file {file_id:X} at fSeq {fseq}, the labels say file {:X} at fSeq {}",
                header.file_id, header.fseq
            ),
        ));
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tape::file_drive::create_cartridge;
    use crate::tape::{FileDrive, TapeDrive};

    fn labelled() -> (tempfile::TempDir, FileDrive) {
        let tmp = tempfile::tempdir().unwrap();
        let cart = tmp.path().join("V00001");
        create_cartridge(&cart, "V00001", 1 << 30).unwrap();
        std::os::unix::fs::symlink(&cart, FileDrive::cartridge_link(tmp.path())).unwrap();
        let mut d = FileDrive::new("d0", tmp.path());
        d.load().unwrap();
        label_tape(&mut d, "V00001", "test").unwrap();
        (tmp, d)
    }

    fn write_file(d: &mut FileDrive, fseq: u64, file_id: u64, data: &[u8]) -> u64 {
        let label = FileLabel {
            vid: "V00001".into(),
            fseq,
            file_id,
            block_size: 1024,
            block_count: 1,
        };
        let writer = Writer::new("SITE", "host", d.info());
        let block_id = write_file_header(d, &label, &writer).unwrap();
        let mut block = data.to_vec();
        lbp_seal(&mut block);
        d.write_block(&block).unwrap();
        write_file_trailer(d, &label, &writer).unwrap();
        block_id
    }

    #[test]
    fn append_checks_catalogue_against_tape() {
        let (_tmp, mut d) = labelled();
        position_for_append(&mut d, "V00001", None).unwrap();
        let b1 = write_file(&mut d, 1, 11, b"first");
        assert_eq!(b1, 1);
        let last = LastFile {
            fseq: 1,
            file_id: 11,
            block_id: b1,
        };
        position_for_append(&mut d, "V00001", Some(last)).unwrap();
        let b2 = write_file(&mut d, 2, 12, b"second");
        // Wrong fSeq in the catalogue: refused.
        let wrong = LastFile { fseq: 3, ..last };
        assert!(matches!(
            position_for_append(&mut d, "V00001", Some(wrong)),
            Err(FormatError::Mismatch { .. })
        ));
        // The catalogue thinks the tape is empty: refused.
        assert!(position_for_append(&mut d, "V00001", None).is_err());
        // Reading back the second file by block id.
        d.locate(b2).unwrap();
        read_file_header(&mut d, "V00001", 2, 12).unwrap();
        assert!(
            read_file_header(&mut d, "V00001", 2, 12).is_err(),
            "now at data, not labels"
        );
        d.locate(b2).unwrap();
        assert!(read_file_header(&mut d, "V00001", 2, 99).is_err());
    }

    /// A tape CTA wrote (labels built byte by byte from CTA's layout):
    /// tapeserver finds its last file, reads it and appends after it.
    #[test]
    fn a_tape_written_by_cta_is_read_and_appended_to() {
        use crate::tape::aul::tests::{cta_hdr1_like, cta_hdr2_like, cta_uhl1_at, cta_vol1};
        let tmp = tempfile::tempdir().unwrap();
        let cart = tmp.path().join("TEST");
        create_cartridge(&cart, "TEST", 1 << 30).unwrap();
        std::os::unix::fs::symlink(&cart, FileDrive::cartridge_link(tmp.path())).unwrap();
        let mut d = FileDrive::new("d0", tmp.path());
        d.load().unwrap();
        d.set_lbp(true);
        let raw = |d: &mut FileDrive, bytes: &[u8]| {
            let mut block = bytes.to_vec();
            lbp_seal(&mut block);
            d.write_block(&block).unwrap();
        };
        raw(&mut d, &cta_vol1());
        raw(
            &mut d,
            &cta_hdr1_like("HDR1", "PRELABEL", "TEST", "0001", "000000"),
        );
        d.write_filemarks(1, false).unwrap();
        let hdr1_at = d.position().unwrap();
        raw(
            &mut d,
            &cta_hdr1_like("HDR1", "AABBCC", "TEST", "0007", "000000"),
        );
        raw(&mut d, &cta_hdr2_like("HDR2", "00000", true));
        raw(&mut d, &cta_uhl1_at("UHL1", 7));
        d.write_filemarks(1, false).unwrap();
        raw(&mut d, b"CTA data");
        d.write_filemarks(1, false).unwrap();
        raw(
            &mut d,
            &cta_hdr1_like("EOF1", "AABBCC", "TEST", "0007", "000001"),
        );
        raw(&mut d, &cta_hdr2_like("EOF2", "00000", true));
        raw(&mut d, &cta_uhl1_at("UTL1", 7));
        d.write_filemarks(1, true).unwrap();

        let last = LastFile {
            fseq: 7,
            file_id: 0xAABBCC,
            block_id: hdr1_at,
        };
        position_for_append(&mut d, "TEST", Some(last)).unwrap();
        d.locate(hdr1_at).unwrap();
        let header = read_file_header(&mut d, "TEST", 7, 0xAABBCC).unwrap();
        assert_eq!(header.block_size, 262_144);
        let mut buf = vec![0u8; 1024];
        assert_eq!(
            d.read_block(&mut buf).unwrap(),
            ReadOutcome::Data(8 + LBP_CRC_LEN)
        );
        assert_eq!(&buf[..8], b"CTA data");
    }

    #[test]
    fn wrong_vid_is_refused() {
        let (_tmp, mut d) = labelled();
        assert!(matches!(
            check_vol1(&mut d, "V00002"),
            Err(FormatError::Mismatch { .. })
        ));
    }
}
