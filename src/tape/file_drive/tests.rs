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
    raw.extend_from_slice(&entry.encode(2));
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

/// Hole 1: filesystems zero-fill an unwritten tail after a power loss.
#[test]
fn zero_filled_index_tail_keeps_every_flushed_block() {
    let (tmp, mut d) = drive_with_cartridge(1 << 30);
    for i in 0..5u8 {
        d.write_block(&[i; 100]).unwrap();
    }
    d.write_filemarks(1, true).unwrap();
    d.unload().unwrap();
    let index = tmp.path().join("cartridges/V00001/index");
    let mut raw = std::fs::read(&index).unwrap();
    raw.extend_from_slice(&[0u8; 24 * 3]);
    std::fs::write(&index, raw).unwrap();
    d.load().unwrap();
    for i in 0..5u8 {
        assert_eq!(read(&mut d).1, vec![i; 100], "block {i} survives");
    }
    assert_eq!(read(&mut d).0, ReadOutcome::FileMark);
    assert_eq!(read(&mut d).0, ReadOutcome::EndOfData);
}

/// Hole 10: a marks file emptied by a crash in the middle of its rewrite,
/// with the lost mark more than 64 blocks before the end.
#[test]
fn marks_file_lost_in_a_rewrite_is_rebuilt_in_full() {
    let (tmp, mut d) = drive_with_cartridge(1 << 30);
    d.write_block(b"a").unwrap();
    d.write_filemarks(1, false).unwrap();
    for _ in 0..100 {
        d.write_block(b"b").unwrap();
    }
    d.flush().unwrap();
    d.unload().unwrap();
    let marks = tmp.path().join("cartridges/V00001/marks");
    if marks.exists() {
        std::fs::write(&marks, b"").unwrap();
    }
    d.load().unwrap();
    d.space_filemarks(1).unwrap();
    assert_eq!(d.position().unwrap(), 2, "the mark at block 1 is known");
}

#[test]
fn damage_below_the_flushed_mark_refuses_the_cartridge() {
    let (tmp, mut d) = drive_with_cartridge(1 << 30);
    for i in 0..4u8 {
        d.write_block(&[i; 10]).unwrap();
    }
    d.flush().unwrap();
    d.unload().unwrap();
    let index = tmp.path().join("cartridges/V00001/index");
    let mut raw = std::fs::read(&index).unwrap();
    raw[24 + 3] ^= 0x40;
    std::fs::write(&index, &raw).unwrap();
    match d.load() {
        Err(DriveError::BadCartridge { reason, .. }) => {
            assert!(
                reason.contains("block 1") && reason.contains("damaged"),
                "{reason}"
            )
        }
        other => panic!("a damaged cartridge loaded: {:?}", other.map(|_| ())),
    }
    assert_eq!(
        std::fs::read(&index).unwrap(),
        raw,
        "a refused cartridge is left as it was"
    );
}

#[test]
fn rewriting_from_the_beginning_lowers_the_flushed_mark_first() {
    let (tmp, mut d) = drive_with_cartridge(1 << 30);
    for i in 0..4u8 {
        d.write_block(&[i; 10]).unwrap();
    }
    d.flush().unwrap();
    // A relabel writes from block 0 and the session dies before its flush:
    // the four flushed blocks are legitimately gone, and the cartridge
    // must still load (a mark still saying four blocks would refuse it).
    d.rewind().unwrap();
    d.write_block(b"VOL1").unwrap();
    drop(d);
    let mut again = FileDrive::new("d0", &tmp.path().join("drives/d0"));
    again.load().unwrap();
    let (outcome, data) = read(&mut again);
    assert!(
        outcome == ReadOutcome::EndOfData || data == b"VOL1",
        "{outcome:?}"
    );
}

/// Cartridges written before index entries had checksums still load.
#[test]
fn first_format_cartridges_are_upgraded_on_load() {
    let tmp = tempfile::tempdir().unwrap();
    let cart = tmp.path().join("cartridges/V00001");
    std::fs::create_dir_all(&cart).unwrap();
    let blocks: [Option<&[u8]>; 4] = [Some(b"one"), None, Some(b"three"), None];
    let (mut data, mut index, mut marks) = (Vec::new(), Vec::new(), Vec::new());
    for (id, block) in blocks.iter().enumerate() {
        let mut entry = [0u8; 24];
        entry[0..8].copy_from_slice(&(data.len() as u64).to_le_bytes());
        match block {
            Some(payload) => {
                entry[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
                entry[12..16].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
                entry[16] = KIND_DATA;
                data.extend_from_slice(payload);
            }
            None => {
                entry[16] = KIND_FILEMARK;
                marks.extend_from_slice(&(id as u64).to_le_bytes());
            }
        }
        index.extend_from_slice(&entry);
    }
    std::fs::write(cart.join("data"), &data).unwrap();
    std::fs::write(cart.join("index"), &index).unwrap();
    std::fs::write(cart.join("marks"), &marks).unwrap();
    std::fs::write(
        cart.join("cartridge.json"),
        br#"{"vid":"V00001","capacity":1073741824,"early_warning":4194304}"#,
    )
    .unwrap();
    let device = tmp.path().join("drives/d0");
    std::fs::create_dir_all(&device).unwrap();
    std::os::unix::fs::symlink(&cart, FileDrive::cartridge_link(&device)).unwrap();
    let mut d = FileDrive::new("d0", &device);
    d.load().unwrap();
    assert_eq!(read(&mut d).1, b"one");
    assert_eq!(read(&mut d).0, ReadOutcome::FileMark);
    assert_eq!(read(&mut d).1, b"three");
    d.rewind().unwrap();
    d.space_filemarks(2).unwrap();
    assert_eq!(d.position().unwrap(), 4);
    assert_eq!(
        read_cartridge_meta(&cart).unwrap().index_format,
        INDEX_FORMAT
    );
    assert!(!cart.join("marks").exists());
    d.unload().unwrap();
    d.load().unwrap();
    assert_eq!(read(&mut d).1, b"one", "the upgraded cartridge loads again");
}
