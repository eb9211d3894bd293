use super::*;
use crate::tape::drive::lbp_seal;

fn drive_with_cartridge(capacity: u64) -> (tempfile::TempDir, FileDrive) {
    let tmp = tempfile::tempdir().unwrap();
    let cart = tmp.path().join("cartridges/V00001");
    create_cartridge(&cart, "V00001", capacity).unwrap();
    let device = tmp.path().join("drives/d0");
    std::fs::create_dir_all(&device).unwrap();
    std::os::unix::fs::symlink(&cart, FileDrive::cartridge_link(&device)).unwrap();
    let mut drive = FileDrive::new("d0", &device);
    drive.load().unwrap();
    (tmp, drive)
}

fn read(drive: &mut FileDrive) -> (ReadOutcome, Vec<u8>) {
    let mut buf = vec![0u8; 4096];
    let outcome = drive.read_block(&mut buf).unwrap();
    let len = if let ReadOutcome::Data(n) = outcome {
        n
    } else {
        0
    };
    buf.truncate(len);
    (outcome, buf)
}

#[test]
fn blocks_and_file_marks_read_back() {
    let (_tmp, mut d) = drive_with_cartridge(1 << 30);
    d.write_block(b"one").unwrap();
    d.write_filemarks(1, false).unwrap();
    d.write_block(b"two").unwrap();
    assert_eq!(d.position().unwrap(), 3);
    d.rewind().unwrap();
    assert_eq!(read(&mut d), (ReadOutcome::Data(3), b"one".to_vec()));
    assert_eq!(read(&mut d).0, ReadOutcome::FileMark);
    assert_eq!(read(&mut d).1, b"two");
    assert_eq!(read(&mut d).0, ReadOutcome::EndOfData);
}

#[test]
fn locate_is_by_block_id() {
    let (_tmp, mut d) = drive_with_cartridge(1 << 30);
    for i in 0..10u8 {
        d.write_block(&[i; 10]).unwrap();
    }
    d.locate(7).unwrap();
    assert_eq!(read(&mut d).1, vec![7u8; 10]);
    assert!(matches!(
        d.locate(11),
        Err(DriveError::BeyondEndOfData { end: 10, .. })
    ));
}

#[test]
fn space_file_marks_both_ways() {
    let (_tmp, mut d) = drive_with_cartridge(1 << 30);
    // blocks: 0 a, 1 TM, 2 b, 3 TM, 4 c
    d.write_block(b"a").unwrap();
    d.write_filemarks(1, false).unwrap();
    d.write_block(b"b").unwrap();
    d.write_filemarks(1, false).unwrap();
    d.write_block(b"c").unwrap();
    d.rewind().unwrap();
    d.space_filemarks(2).unwrap();
    assert_eq!(d.position().unwrap(), 4);
    d.space_filemarks(-1).unwrap();
    assert_eq!(d.position().unwrap(), 3);
    assert_eq!(read(&mut d).0, ReadOutcome::FileMark);
    assert!(d.space_filemarks(5).is_err());
}

#[test]
fn writing_in_the_middle_truncates() {
    let (_tmp, mut d) = drive_with_cartridge(1 << 30);
    d.write_block(b"a").unwrap();
    d.write_filemarks(1, false).unwrap();
    d.write_block(b"b").unwrap();
    d.write_filemarks(1, true).unwrap();
    d.locate(1).unwrap();
    d.write_block(b"replaced").unwrap();
    d.rewind().unwrap();
    assert_eq!(read(&mut d).1, b"a");
    assert_eq!(read(&mut d).1, b"replaced");
    assert_eq!(read(&mut d).0, ReadOutcome::EndOfData);
    d.rewind().unwrap();
    assert!(
        d.space_filemarks(1).is_err(),
        "the file marks after block 1 are gone"
    );
}

#[test]
fn corrupted_data_is_detected() {
    let (tmp, mut d) = drive_with_cartridge(1 << 30);
    d.write_block(b"precious").unwrap();
    d.flush().unwrap();
    let data = tmp.path().join("cartridges/V00001/data");
    std::fs::write(&data, b"preciouS").unwrap();
    d.rewind().unwrap();
    let mut buf = [0u8; 64];
    assert!(matches!(
        d.read_block(&mut buf),
        Err(DriveError::Crc { block_id: 0, .. })
    ));
}

#[test]
fn lbp_appends_and_checks_crc() {
    let (_tmp, mut d) = drive_with_cartridge(1 << 30);
    d.set_lbp(true);
    let mut block = b"protected".to_vec();
    lbp_seal(&mut block);
    d.write_block(&block).unwrap();
    let mut bad = block.clone();
    bad[0] ^= 1;
    assert!(matches!(
        d.write_block(&bad),
        Err(DriveError::LbpCheck { .. })
    ));
    d.rewind().unwrap();
    let (outcome, read_back) = read(&mut d);
    assert_eq!(outcome, ReadOutcome::Data(block.len()));
    assert_eq!(read_back, block);
}

#[test]
fn state_survives_reload_and_torn_tail_is_dropped() {
    let (tmp, mut d) = drive_with_cartridge(1 << 30);
    d.write_block(b"kept").unwrap();
    d.write_filemarks(1, true).unwrap();
    d.unload().unwrap();
    // Simulate a crash that wrote an index entry but lost its payload.
    let index = tmp.path().join("cartridges/V00001/index");
    let entry = IndexEntry {
        offset: 4,
        len: 1000,
        crc: 0,
        kind: KIND_DATA,
    };
    let mut raw = std::fs::read(&index).unwrap();
    raw.extend_from_slice(&entry.encode());
    std::fs::write(&index, raw).unwrap();
    d.load().unwrap();
    assert_eq!(read(&mut d).1, b"kept");
    assert_eq!(read(&mut d).0, ReadOutcome::FileMark);
    assert_eq!(read(&mut d).0, ReadOutcome::EndOfData);
    d.rewind().unwrap();
    d.space_filemarks(1).unwrap();
    assert_eq!(d.position().unwrap(), 2);
}

#[test]
fn capacity_gives_early_warning_then_end_of_medium() {
    let (_tmp, mut d) = drive_with_cartridge(10 << 20);
    let block = vec![0u8; 1 << 20];
    let mut outcomes = Vec::new();
    loop {
        match d.write_block(&block) {
            Ok(o) => outcomes.push(o),
            Err(DriveError::EndOfMedium { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(outcomes.len(), 10);
    assert_eq!(outcomes[0], WriteOutcome::Written);
    assert_eq!(outcomes[9], WriteOutcome::EarlyWarning);
}

#[test]
fn second_process_handle_on_the_same_drive_is_refused() {
    let (tmp, _d) = drive_with_cartridge(1 << 30);
    let mut other = FileDrive::new("d0", &tmp.path().join("drives/d0"));
    assert!(matches!(other.load(), Err(DriveError::Busy { .. })));
}

#[test]
fn no_cartridge_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = FileDrive::new("d0", tmp.path());
    assert!(matches!(d.load(), Err(DriveError::NoCartridge { .. })));
}

#[test]
fn small_buffer_is_an_error_not_a_truncation() {
    let (_tmp, mut d) = drive_with_cartridge(1 << 30);
    d.write_block(&[1u8; 100]).unwrap();
    d.rewind().unwrap();
    let mut buf = [0u8; 10];
    assert!(matches!(
        d.read_block(&mut buf),
        Err(DriveError::BlockTooLarge { len: 100, .. })
    ));
}
