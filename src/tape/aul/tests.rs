//! The labels against CTA's: fixtures built field by field from CTA's
//! `taped/file/Structures.hpp` layout as its `fill()` methods fill them,
//! and the exact strings CTA's `StructuresTest.cpp` asserts.

use super::*;

/// Concatenates fields, each padded with spaces to its width, as CTA's
/// `setString` does; the widths are CTA's struct members, in order.
fn cta(fields: &[(&str, usize)]) -> Label {
    let mut out = String::new();
    for (value, width) in fields {
        assert!(value.len() <= *width, "{value:?} wider than {width}");
        out.push_str(&format!("{value:<width$}"));
    }
    out.into_bytes()
        .try_into()
        .expect("CTA labels are 80 bytes")
}

const CTA_DATE: &str = "022088";

fn date() -> LabelDate {
    LabelDate {
        year: 2022,
        day: 88,
    }
}

fn writer() -> Writer {
    Writer {
        site: "CERN".into(),
        host: "TESTMOVER".into(),
        drive: DriveInfo {
            vendor: "TEST".into(),
            model: "TEST DRIVE".into(),
            serial: "XXYYTEST".into(),
        },
        date: date(),
        compression: true,
    }
}

fn label() -> FileLabel {
    FileLabel {
        vid: "test".into(),
        fseq: 12345,
        file_id: 0xAABBCC,
        block_size: 262_144,
        block_count: 7654,
    }
}

/// CTA's VOL1::fill("TEST", CRC32C): label, VSN, accessibility,
/// reserved1, implID, ownerID, reserved2, LBPMethod, lblStandard.
pub(crate) fn cta_vol1() -> Label {
    cta(&[
        ("VOL1", 4),
        ("TEST", 6),
        ("", 1),
        ("", 13),
        ("", 13),
        ("CTA", 14),
        ("", 26),
        ("02", 2),
        ("3", 1),
    ])
}

/// CTA's HDR1/EOF1 fill: label, fileId, VSN, fSec, fSeq, genNum,
/// verNumOfGen, creationDate, expirationDate, accessibility, blockCount,
/// sysCode, reserved.
pub(crate) fn cta_hdr1_like(id: &str, file_id: &str, vsn: &str, fseq: &str, blocks: &str) -> Label {
    cta(&[
        (id, 4),
        (file_id, 17),
        (vsn, 6),
        ("0001", 4),
        (fseq, 4),
        ("0001", 4),
        ("00", 2),
        (CTA_DATE, 6),
        (CTA_DATE, 6),
        ("", 1),
        (blocks, 6),
        ("CTA 5.10.10.1", 13),
        ("", 7),
    ])
}

/// CTA's HDR2/EOF2 fill: label, recordFormat, blockLength, recordLength,
/// tapeDensity, reserved1, recTechnique, reserved2, aulId, reserved3.
pub(crate) fn cta_hdr2_like(id: &str, length: &str, compression: bool) -> Label {
    cta(&[
        (id, 4),
        ("F", 1),
        (length, 5),
        (length, 5),
        ("", 1),
        ("", 18),
        (if compression { "P" } else { "" }, 2),
        ("", 14),
        ("00", 2),
        ("", 28),
    ])
}

/// CTA's UHL1/UTL1 fill as its unit test calls it: fSeq, block size,
/// record length, site, mover host, drive vendor, model (first 8 bytes), serial.
pub(crate) fn cta_uhl1_like(id: &str) -> Label {
    cta_uhl1_at(id, 12345)
}

/// As `cta_uhl1_like`, for any fSeq.
pub(crate) fn cta_uhl1_at(id: &str, fseq: u64) -> Label {
    let fseq = format!("{fseq:010}");
    cta(&[
        (id, 4),
        (&fseq, 10),
        ("0000262144", 10),
        ("0000262144", 10),
        ("CERN", 8),
        ("TESTMOVER", 10),
        ("TEST", 8),
        ("TEST DRI", 8),
        ("XXYYTEST", 12),
    ])
}

fn without_system_code(label: &Label) -> Vec<u8> {
    [&label[..60], &label[73..]].concat()
}

#[test]
fn vol1_is_ctas_byte_for_byte() {
    let ours = encode_vol1(&Vol1 {
        vid: "TEST".into(),
        owner: "CTA".into(),
        lbp: LbpMethod::Crc32c,
    })
    .unwrap();
    assert_eq!(ours, cta_vol1());
    assert_eq!(&ours[4..10], b"TEST  ");
    let read = parse_vol1(&cta_vol1()).unwrap();
    assert_eq!((read.vid.as_str(), read.lbp), ("TEST", LbpMethod::Crc32c));
}

#[test]
fn vol1_lbp_codes_read_as_cta_reads_them() {
    for (code, expected) in [
        ("  ", Some(LbpMethod::None)),
        ("00", Some(LbpMethod::None)),
        ("01", Some(LbpMethod::ReedSolomon)),
        ("02", Some(LbpMethod::Crc32c)),
        ("03", None),
        ("XY", None),
    ] {
        let mut raw = cta_vol1();
        raw[77..79].copy_from_slice(code.as_bytes());
        assert_eq!(parse_vol1(&raw).ok().map(|v| v.lbp), expected, "{code:?}");
    }
}

#[test]
fn hdr1_and_eof1_are_ctas_but_for_the_system_code() {
    let hdr1 = encode_hdr1(&label(), &writer()).unwrap();
    let cta_hdr1 = cta_hdr1_like("HDR1", "AABBCC", "test", "2345", "000000");
    assert_eq!(without_system_code(&hdr1), without_system_code(&cta_hdr1));
    assert_eq!(&hdr1[4..21], b"AABBCC           ");
    assert_eq!(&hdr1[31..35], b"2345");
    assert_eq!(&hdr1[21..27], b"test  ");
    assert!(hdr1[60..73].iter().any(|&b| b != b' '), "a system code");
    let eof1 = encode_eof1(&label(), &writer()).unwrap();
    let cta_eof1 = cta_hdr1_like("EOF1", "AABBCC", "test", "2345", "007654");
    assert_eq!(without_system_code(&eof1), without_system_code(&cta_eof1));
    assert_eq!(&eof1[54..60], b"007654");
    for raw in [cta_hdr1, cta_eof1] {
        let read =
            parse_hdr1_like(&raw, if &raw[..4] == b"HDR1" { "HDR1" } else { "EOF1" }).unwrap();
        assert_eq!(read.file_id, Some(0xAABBCC));
        assert_eq!((read.vid.as_str(), read.fseq_mod), ("test", 2345));
    }
}

#[test]
fn prelabel_hdr1_is_ctas() {
    let ours = encode_prelabel_hdr1("TEST", date()).unwrap();
    let theirs = cta_hdr1_like("HDR1", "PRELABEL", "TEST", "0001", "000000");
    assert_eq!(without_system_code(&ours), without_system_code(&theirs));
    assert_eq!(&ours[4..21], b"PRELABEL         ");
    assert_eq!(parse_hdr1(&theirs).unwrap().file_id, None);
}

#[test]
fn hdr2_and_eof2_are_ctas() {
    let mut w = writer();
    let ours = encode_hdr2(&label(), &w).unwrap();
    assert_eq!(ours, cta_hdr2_like("HDR2", "00000", true));
    assert_eq!(
        &ours[50..52],
        b"00",
        "buffer offset, not the recording technique"
    );
    let small = FileLabel {
        block_size: 32760,
        ..label()
    };
    w.compression = false;
    assert_eq!(
        encode_eof2(&small, &w).unwrap(),
        cta_hdr2_like("EOF2", "32760", false)
    );
    assert_eq!(parse_hdr2(&cta_hdr2_like("HDR2", "32760", true)), Ok(32760));
    assert_eq!(parse_eof2(&cta_hdr2_like("EOF2", "00000", true)), Ok(0));
}

#[test]
fn uhl1_and_utl1_are_ctas() {
    let uhl1 = encode_uhl1(&label(), &writer()).unwrap();
    assert_eq!(uhl1, cta_uhl1_like("UHL1"));
    assert_eq!(&uhl1[14..24], b"0000262144");
    assert_eq!(&uhl1[4..14], b"0000012345");
    assert_eq!(
        encode_utl1(&label(), &writer()).unwrap(),
        cta_uhl1_like("UTL1")
    );
    let read = parse_utl1(&cta_uhl1_like("UTL1")).unwrap();
    assert_eq!((read.fseq, read.block_size), (12345, 262_144));
    assert_eq!(
        (read.site.as_str(), read.host.as_str()),
        ("CERN", "TESTMOVER")
    );
    assert_eq!(read.drive.serial, "XXYYTEST");
    assert_eq!(read.legacy_file_id, None);
}

/// The labels this project wrote before it matched CTA still read.
#[test]
fn labels_from_before_the_cta_layout_still_read() {
    let mut old_vol1 = cta_vol1();
    old_vol1[24..34].copy_from_slice(b"TAPESERVER");
    assert_eq!(parse_vol1(&old_vol1).unwrap().vid, "TEST");
    let old_hdr1 = cta(&[
        ("HDR1", 4),
        ("AABBCC", 17),
        ("V00042", 6),
        ("0001", 4),
        ("2345", 4),
        ("0001", 4),
        ("00", 2),
        ("", 13),
        ("000000", 6),
        ("TAPESERVER", 13),
        ("", 7),
    ]);
    assert_eq!(parse_hdr1(&old_hdr1).unwrap().file_id, Some(0xAABBCC));
    let old_hdr2 = cta(&[
        ("HDR2", 4),
        ("F", 1),
        ("00000", 5),
        ("00000", 5),
        ("", 35),
        ("P", 2),
        ("", 28),
    ]);
    assert_eq!(parse_hdr2(&old_hdr2), Ok(0));
    let old_uhl1 = cta(&[
        ("UHL1", 4),
        ("0000012345", 10),
        ("0000262144", 10),
        ("00000000000011189196", 20),
        ("V00042", 6),
        ("", 30),
    ]);
    let read = parse_uhl1(&old_uhl1).unwrap();
    assert_eq!((read.fseq, read.block_size), (12345, 262_144));
    assert_eq!(read.legacy_file_id, Some(11_189_196));
}

#[test]
fn label_dates_are_cyyddd() {
    for (days, expected) in [
        (19_080, "022088"),
        (20_088, "024366"),
        (11_016, "000060"),
        (10_956, " 99365"),
        (20_454, "026001"),
        (47_541, "100060"),
    ] {
        assert_eq!(LabelDate::from_days_since_epoch(days).cyyddd(), expected);
    }
    let today = LabelDate::today();
    assert!(today.year >= 2026 && (1..=366).contains(&today.day));
}

#[test]
fn writer_fields_are_cut_and_upper_cased_as_cta_does() {
    let w = Writer::new(
        "cern",
        "tpsrv01.cern.ch",
        DriveInfo {
            vendor: "IBM".into(),
            model: "ULTRIUM-TD9".into(),
            serial: "\u{1}0123456789ABCDEF".into(),
        },
    );
    assert_eq!((w.site.as_str(), w.host.as_str()), ("CERN", "TPSRV01"));
    let uhl1 = encode_uhl1(&label(), &w).unwrap();
    assert_eq!(&uhl1[60..68], b"ULTRIUM-");
    assert_eq!(&uhl1[68..80], b"?0123456789A");
    assert_eq!(default_site("tpsrv01.cern.ch"), "CERN");
    assert_eq!(default_site("localhost"), "LOCAL");
}

#[test]
fn wrong_label_kind_is_rejected() {
    let bytes = encode_hdr1(&label(), &writer()).unwrap();
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
    let mut bytes = encode_uhl1(&label(), &writer()).unwrap();
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
    let mut bytes = encode_uhl1(&label(), &writer()).unwrap();
    bytes[5] = b'x';
    assert!(matches!(
        parse_uhl1(&bytes),
        Err(AulError::BadField { field: "fSeq", .. })
    ));
    let mut bytes = encode_hdr1(&label(), &writer()).unwrap();
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
    assert!(parse_vol1(&[0u8; 80]).is_err());
}

#[test]
fn bad_vid_and_label_standard_are_rejected() {
    let vol1 = Vol1 {
        vid: "toolong1".into(),
        owner: String::new(),
        lbp: LbpMethod::None,
    };
    assert!(encode_vol1(&vol1).is_err());
    let mut raw = cta_vol1();
    raw[79] = b'4';
    assert!(matches!(
        parse_vol1(&raw),
        Err(AulError::BadField {
            field: "label standard",
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
    assert!(encode_uhl1(&l, &writer()).is_err());
}
