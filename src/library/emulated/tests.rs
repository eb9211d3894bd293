use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::scsi::smc::{self, Element, ElementAddressAssignment, ElementType};
use crate::scsi::{Data, ScsiError, ScsiTransport, TransportError, spc};

const T: Duration = Duration::from_secs(30);

fn library(paths: usize) -> (tempfile::TempDir, EmulatedLibrary) {
    let tmp = tempfile::tempdir().unwrap();
    let drives = vec![
        ("d0".to_string(), tmp.path().join("drives/d0")),
        ("d1".to_string(), tmp.path().join("drives/d1")),
    ];
    let barcodes: Vec<String> = ["A00001L6", "A00002L6", "A00003L6"]
        .map(String::from)
        .to_vec();
    let lib = EmulatedLibrary::create(
        tmp.path(),
        &Layout {
            paths,
            move_time_ms: 0,
            move_time_far_ms: 0,
            drives: &drives,
            barcodes: &barcodes,
            capacity: 1 << 30,
        },
    )
    .unwrap();
    (tmp, lib)
}

fn path(lib: &EmulatedLibrary, n: usize) -> EmulatedChanger {
    EmulatedChanger::open(&EmulatedLibrary::path_file(
        lib.root(),
        &format!("changer{n}"),
    ))
    .unwrap()
}

fn status(t: &mut dyn ScsiTransport, kind: ElementType) -> Vec<Element> {
    let mut buf = vec![0u8; 65536];
    let cdb = smc::read_element_status(kind, 0, 0xffff, true, true, buf.len() as u32);
    let n = crate::scsi::run(t, &cdb, Data::In(&mut buf), T).unwrap();
    smc::decode_element_status(&buf[..n])
}

fn move_medium(t: &mut dyn ScsiTransport, from: u16, to: u16) -> Result<usize, ScsiError> {
    crate::scsi::run(t, &smc::move_medium(0, from, to, false), Data::None, T)
}

fn sense_of(r: Result<usize, ScsiError>) -> (u8, u8, u8) {
    let e = r.expect_err("the command should fail");
    let s = e.sense().unwrap_or_else(|| panic!("no sense: {e}"));
    (s.key.code(), s.asc, s.ascq)
}

fn link(dir: &Path, drive: &str) -> Option<PathBuf> {
    std::fs::read_link(FileDrive::cartridge_link(&dir.join("drives").join(drive))).ok()
}

#[test]
fn element_status_lists_barcodes_drive_serials_and_the_address_page() {
    let (_tmp, lib) = library(2);
    let mut t = path(&lib, 0);
    let slots = status(&mut t, ElementType::Storage);
    assert_eq!(slots.len(), 3 + SPARE_SLOTS);
    assert_eq!(slots[0].address, state::FIRST_SLOT);
    assert_eq!(slots[1].volume_tag.as_deref(), Some("A00002L6"));
    assert!(slots[2].full && !slots[3].full);
    let drives = status(&mut t, ElementType::DataTransfer);
    let serials: Vec<_> = drives
        .iter()
        .map(|d| d.device_id.clone().unwrap())
        .collect();
    assert_eq!(serials, ["d0", "d1"]);
    assert_eq!(
        status(&mut t, ElementType::Transport).len(),
        2,
        "one picker per path"
    );
    let mut buf = [0u8; 64];
    let n = crate::scsi::run(
        &mut t,
        &spc::mode_sense_6(0x1d, 64, true),
        Data::In(&mut buf),
        T,
    )
    .unwrap();
    let page = ElementAddressAssignment::decode(spc::mode_page_6(&buf[..n]).unwrap()).unwrap();
    assert_eq!(page.data_transfer, (500, 2));
    assert_eq!(page.storage, (1000, 3 + SPARE_SLOTS as u16));
}

#[test]
fn a_move_into_a_drive_links_the_cartridge_and_a_move_out_unlinks_it() {
    let (tmp, lib) = library(2);
    let mut t = path(&lib, 1);
    move_medium(&mut t, 1001, 500).unwrap();
    assert_eq!(
        link(tmp.path(), "d0"),
        Some(tmp.path().join("cartridges/A00002"))
    );
    let drive = &status(&mut t, ElementType::DataTransfer)[0];
    assert_eq!((drive.full, drive.source), (true, Some(1001)));
    assert_eq!(drive.volume_tag.as_deref(), Some("A00002L6"));
    move_medium(&mut t, 500, 1005).unwrap();
    assert_eq!(link(tmp.path(), "d0"), None);
    let slots = status(&mut t, ElementType::Storage);
    assert_eq!(slots[5].volume_tag.as_deref(), Some("A00002L6"));
    assert_eq!(slots[5].source, Some(1001), "SVALID: where it last left");
}

#[test]
fn bad_moves_get_the_sense_a_library_returns() {
    let (_tmp, lib) = library(1);
    let mut t = path(&lib, 0);
    assert_eq!(sense_of(move_medium(&mut t, 1004, 500)), (5, 0x3b, 0x0e));
    move_medium(&mut t, 1000, 500).unwrap();
    assert_eq!(sense_of(move_medium(&mut t, 1001, 500)), (5, 0x3b, 0x0d));
    assert_eq!(sense_of(move_medium(&mut t, 1001, 4242)), (5, 0x21, 0x01));
    assert_eq!(
        sense_of(move_medium(&mut t, 1001, 1)),
        (5, 0x21, 0x01),
        "into a picker"
    );
    let unknown = crate::scsi::run(&mut t, &[0xee, 0, 0, 0, 0, 0], Data::None, T);
    assert_eq!(sense_of(unknown), (5, 0x20, 0x00));
    let mut buf = [0u8; 64];
    let bad_page = crate::scsi::run(
        &mut t,
        &spc::mode_sense_6(0x2a, 64, true),
        Data::In(&mut buf),
        T,
    );
    assert_eq!(sense_of(bad_page), (5, 0x24, 0x00));
}

#[test]
fn unit_attention_is_reported_once_and_offline_until_cleared() {
    let (_tmp, lib) = library(2);
    let mut t = path(&lib, 0);
    let tur = |t: &mut EmulatedChanger| crate::scsi::run(t, &spc::test_unit_ready(), Data::None, T);
    std::fs::write(
        faults::Faults::file(lib.root(), "changer0", "unit-attention"),
        "",
    )
    .unwrap();
    assert_eq!(sense_of(tur(&mut t)), (6, 0x28, 0x00));
    tur(&mut t).unwrap();
    std::fs::write(faults::Faults::file(lib.root(), "changer0", "offline"), "").unwrap();
    assert_eq!(sense_of(tur(&mut t)), (2, 0x04, 0x12));
    tur(&mut path(&lib, 1)).unwrap();
    std::fs::remove_file(faults::Faults::file(lib.root(), "changer0", "offline")).unwrap();
    tur(&mut t).unwrap();
    std::fs::write(faults::Faults::file(lib.root(), "changer0", "dead"), "").unwrap();
    assert!(matches!(tur(&mut t), Err(ScsiError::Transport(_))));
}

/// Waits until the state shows a move in flight (the test's event).
fn wait_for_move(lib: &EmulatedLibrary) {
    for _ in 0..20_000 {
        if lib.with_state(|s| Ok(!s.moves.is_empty())).unwrap() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("no move started");
}

#[test]
fn moves_on_different_paths_run_at_once() {
    let (tmp, lib) = library(2);
    let hold = faults::Faults::file(lib.root(), "changer0", "hold");
    std::fs::write(&hold, "").unwrap();
    let held = {
        let lib = lib.clone();
        std::thread::spawn(move || move_medium(&mut path(&lib, 0), 1000, 500))
    };
    wait_for_move(&lib);
    // Path 1 completes while path 0's move is still in its picker.
    move_medium(&mut path(&lib, 1), 1001, 501).unwrap();
    assert_eq!(
        link(tmp.path(), "d1"),
        Some(tmp.path().join("cartridges/A00002"))
    );
    let pickers = status(&mut path(&lib, 1), ElementType::Transport);
    assert_eq!(pickers[0].volume_tag.as_deref(), Some("A00001L6"));
    // Nothing may use the held move's ends meanwhile.
    assert_eq!(
        sense_of(move_medium(&mut path(&lib, 1), 1002, 500)),
        (5, 0x3b, 0x0d)
    );
    std::fs::remove_file(&hold).unwrap();
    held.join().unwrap().unwrap();
    assert_eq!(
        link(tmp.path(), "d0"),
        Some(tmp.path().join("cartridges/A00001"))
    );
}

#[test]
fn a_path_going_offline_mid_move_puts_the_cartridge_back() {
    let (tmp, lib) = library(2);
    let hold = faults::Faults::file(lib.root(), "changer0", "hold");
    std::fs::write(&hold, "").unwrap();
    let held = {
        let lib = lib.clone();
        std::thread::spawn(move || move_medium(&mut path(&lib, 0), 1000, 500))
    };
    wait_for_move(&lib);
    std::fs::write(faults::Faults::file(lib.root(), "changer0", "offline"), "").unwrap();
    std::fs::remove_file(&hold).unwrap();
    assert_eq!(sense_of(held.join().unwrap()), (2, 0x04, 0x12));
    let slots = status(&mut path(&lib, 1), ElementType::Storage);
    assert_eq!(slots[0].volume_tag.as_deref(), Some("A00001L6"));
    assert_eq!(link(tmp.path(), "d0"), None);
}

#[test]
fn a_move_that_times_out_after_completing_is_done() {
    let (tmp, lib) = library(1);
    std::fs::write(
        faults::Faults::file(lib.root(), "changer0", "timeout-after-move"),
        "",
    )
    .unwrap();
    let r = move_medium(&mut path(&lib, 0), 1000, 500);
    assert!(
        matches!(r, Err(ScsiError::Transport(TransportError::Timeout { .. }))),
        "{r:?}"
    );
    assert!(link(tmp.path(), "d0").is_some());
    move_medium(&mut path(&lib, 0), 500, 1000).unwrap();
}

/// What a mover killed between its two steps leaves: a recorded move with
/// its cartridge in the picker and nobody holding the picker.
#[test]
fn a_move_whose_mover_died_is_rolled_back_on_the_next_access() {
    let (tmp, lib) = library(2);
    move_medium(&mut path(&lib, 0), 1002, 501).unwrap();
    lib.with_state(|s| {
        let c = s.content(500 + 1).and_then(Option::take);
        *s.content(2).unwrap() = c;
        s.moves.push(state::Move {
            picker: 2,
            source: 501,
            destination: 1006,
        });
        Ok(())
    })
    .unwrap();
    let drives = status(&mut path(&lib, 0), ElementType::DataTransfer);
    assert_eq!(
        drives[1].volume_tag.as_deref(),
        Some("A00003L6"),
        "back in the drive"
    );
    assert_eq!(
        link(tmp.path(), "d1"),
        Some(tmp.path().join("cartridges/A00003"))
    );
    let all = lib.with_state(|s| Ok(s.cartridges())).unwrap();
    assert_eq!(all.len(), 3, "none lost or duplicated: {all:?}");
    assert!(lib.with_state(|s| Ok(s.moves.is_empty())).unwrap());
}

/// Hole 2 of the data-safety review, kept for the emulated library: a link
/// a killed move left never opens the cartridge in a second drive.
#[test]
fn a_stray_drive_link_is_removed_on_the_next_access() {
    use crate::tape::TapeDrive;
    let (tmp, lib) = library(1);
    let (dev0, dev1) = (tmp.path().join("drives/d0"), tmp.path().join("drives/d1"));
    std::os::unix::fs::symlink(
        EmulatedLibrary::cartridge_dir(tmp.path(), "A00001L6"),
        FileDrive::cartridge_link(&dev0),
    )
    .unwrap();
    move_medium(&mut path(&lib, 0), 1000, 501).unwrap();
    assert_eq!(link(tmp.path(), "d0"), None);
    let mut d1 = FileDrive::new("d1", &dev1);
    d1.load().unwrap();
    assert!(FileDrive::new("d0", &dev0).load().is_err());
    d1.unload().unwrap();
}

#[test]
fn the_virtual_library_state_is_converted_with_its_cartridges() {
    let tmp = tempfile::tempdir().unwrap();
    let old = serde_json::json!({
        "slots": [{"address": 1000, "vid": "V00001"}, {"address": 1001, "vid": null}],
        "drives": [{"name": "drive0", "device": tmp.path().join("drives/drive0"), "vid": "V00002", "source": 1001}],
    });
    std::fs::create_dir_all(tmp.path().join("drives/drive0")).unwrap();
    std::fs::write(tmp.path().join("library.json"), old.to_string()).unwrap();
    let lib = EmulatedLibrary::open(tmp.path());
    let mut t = EmulatedChanger::new(lib.clone(), "changer1");
    let drives = status(&mut t, ElementType::DataTransfer);
    assert_eq!(drives[0].volume_tag.as_deref(), Some("V00002L6"));
    assert_eq!(drives[0].device_id.as_deref(), Some("drive0"));
    assert_eq!(
        link(tmp.path(), "drive0"),
        Some(tmp.path().join("cartridges/V00002"))
    );
    let slots = status(&mut t, ElementType::Storage);
    assert_eq!(slots[0].volume_tag.as_deref(), Some("V00001L6"));
}

#[test]
fn a_new_library_keeps_what_an_existing_one_holds() {
    let (tmp, lib) = library(2);
    move_medium(&mut path(&lib, 0), 1000, 500).unwrap();
    let barcodes = vec!["A00001L6".to_string(), "A00009L6".to_string()];
    let drives = vec![("e0".to_string(), tmp.path().join("drives/e0"))];
    EmulatedLibrary::create(
        tmp.path(),
        &Layout {
            paths: 2,
            move_time_ms: 0,
            move_time_far_ms: 0,
            drives: &drives,
            barcodes: &barcodes,
            capacity: 1 << 30,
        },
    )
    .unwrap();
    let all = lib.with_state(|s| Ok(s.cartridges())).unwrap();
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(all.contains(&(500, "A00001L6".to_string())));
    let drives = status(&mut path(&lib, 1), ElementType::DataTransfer);
    assert_eq!(drives.len(), 3);
}

/// A move takes its share of the distance between the robot's nearest and
/// farthest moves: slots lie along the library, drives at its start.
#[test]
fn a_move_takes_the_time_of_its_distance() {
    let mut s = state::State::new("EMU", 1, 3_000);
    s.move_time_far_ms = 15_000;
    for i in 0..4u16 {
        s.slots.push(state::Slot {
            address: 0x1000 + i,
            cartridge: None,
        });
    }
    let drive = 0x0100;
    let secs = |s: &state::State, from, to| s.move_time(from, to).as_secs_f64();
    assert_eq!(secs(&s, 0x1003, drive), 15.0, "the far end to the drives");
    assert_eq!(secs(&s, drive, 0x1001), 9.0, "half way");
    assert_eq!(secs(&s, 0x1001, 0x1002), 6.0, "a quarter of the library");
    assert_eq!(secs(&s, 0x1002, 0x1002), 3.0, "no distance: the fixed cost");
    s.move_time_far_ms = 0;
    assert_eq!(
        secs(&s, 0x1003, drive),
        3.0,
        "without a far figure: always the same"
    );
}
