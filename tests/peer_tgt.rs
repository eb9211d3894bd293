//! Against a peer no one here wrote: Debian's tgtd emulates an SMC changer
//! and an SSC tape drive over loopback iSCSI. tapeserver's controller
//! (`tlcd`) drives the changer, `tplib` talks to it, and the SCSI drive
//! backend writes a labelled tape and reads it back.

mod common;
#[path = "common/tgt.rs"]
mod tgt;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::bin;
use tapeserver::library::DriveRef;
use tapeserver::library::MediaChanger;
use tapeserver::library::direct::DirectChanger;
use tapeserver::library::scsi_changer::{PathKind, ScsiChanger};
use tapeserver::tape::aul::{FileLabel, Writer};
use tapeserver::tape::drive::{LBP_CRC_LEN, lbp_seal};
use tapeserver::tape::format;
use tapeserver::tape::scsi_drive::ScsiDrive;
use tapeserver::tape::{ReadOutcome, TapeDrive};
use tgt::Tgt;

struct Tlcd {
    child: Child,
    config: std::path::PathBuf,
}

impl Drop for Tlcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tlcd(tgt: &Tgt) -> Tlcd {
    let dir = tgt.path();
    let endpoint = format!("ipc://{}/tlc.sock", dir.display());
    let config = dir.join("tlcd.toml");
    std::fs::write(
        &config,
        format!(
            r#"[library]
kind = "scsi"
changers = ["{changer}"]
move_timeout = "2m"

[controller]
listen = ["{endpoint}"]
lease = "{lease}"
log_level = "debug"

[[drives]]
name = "tgt0"
element = {drive}
"#,
            changer = tgt.changer_url(),
            lease = dir.join("tlc.lease").display(),
            drive = tgt::DRIVE,
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("tlcd.log")).unwrap();
    let child = Command::new(bin("tlcd"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let tlcd = Tlcd { child, config };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tplib(&tlcd, &["ping"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "tlcd did not come up: {}",
            tlcd_log(tgt)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    tlcd
}

fn tlcd_log(tgt: &Tgt) -> String {
    std::fs::read_to_string(tgt.path().join("tlcd.log")).unwrap_or_default()
}

fn tplib(tlcd: &Tlcd, args: &[&str]) -> std::process::Output {
    Command::new(bin("tplib"))
        .arg("--config")
        .arg(&tlcd.config)
        .args(args)
        .output()
        .unwrap()
}

fn status(tlcd: &Tlcd) -> serde_json::Value {
    let out = tplib(tlcd, &["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn refused(tlcd: &Tlcd, args: &[&str]) -> String {
    let out = tplib(tlcd, args);
    assert!(!out.status.success(), "tplib {args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
    err
}

#[test]
fn the_controller_drives_tgts_changer_over_iscsi() {
    if !tgt::available() {
        panic!("tgtd is not installed: scripts/test installs the tgt package");
    }
    let tgt = Tgt::start(&["A00001L6", "A00002L6"]);
    let tlcd = start_tlcd(&tgt);
    let s = status(&tlcd);
    assert_eq!(s["controller"]["role"], "active");
    assert_eq!(s["paths"][0]["state"], "ok", "{s}");
    assert_eq!(s["paths"][0]["vendor"], "IET", "tgt's INQUIRY: {s}");
    assert_eq!(
        s["slots"][0],
        serde_json::json!({"address": 1000, "vid": "A00001"})
    );
    assert_eq!(s["slots"][1]["vid"], "A00002");
    assert_eq!(
        s["slots"].as_array().unwrap().len(),
        usize::from(tgt::SLOTS)
    );
    assert_eq!(s["drives"][0]["name"], "tgt0");
    assert_eq!(s["drives"][0]["address"], 500);
    assert!(s["drives"][0]["vid"].is_null());

    let out = tplib(&tlcd, &["mount", "A00001", "tgt0"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        tlcd_log(&tgt)
    );
    assert_eq!(status(&tlcd)["drives"][0]["vid"], "A00001");
    assert!(
        tplib(&tlcd, &["mount", "A00001", "tgt0"]).status.success(),
        "idempotent"
    );

    // The library's own refusals, named by element and sense.
    let empty = refused(&tlcd, &["move", "1003", "1004"]);
    assert!(
        empty.contains("slot 1003") && empty.contains("3B/0E"),
        "{empty}"
    );
    assert!(empty.contains("Medium source element empty"), "{empty}");
    let full = refused(&tlcd, &["move", "1001", "500"]);
    assert!(
        full.contains("drive element 500") && full.contains("3B/0D"),
        "{full}"
    );
    assert!(full.contains("Medium destination element full"), "{full}");
    // Decided before any move, from the element status.
    let occupied = refused(&tlcd, &["mount", "A00002", "tgt0"]);
    assert!(
        occupied.ends_with("cannot mount A00002 into tgt0: the drive holds A00001"),
        "{occupied}"
    );
    let unknown = refused(&tlcd, &["mount", "ZZZ999", "tgt0"]);
    assert!(
        unknown.ends_with("library has no cartridge ZZZ999"),
        "{unknown}"
    );

    let out = tplib(&tlcd, &["dismount", "A00001", "tgt0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = status(&tlcd);
    assert!(s["drives"][0]["vid"].is_null());
    assert_eq!(
        s["slots"][0]["vid"], "A00001",
        "home to the slot it came from"
    );
    // After the operator's refresh the same picture comes back.
    assert!(tplib(&tlcd, &["refresh"]).status.success());
    assert_eq!(status(&tlcd)["slots"], s["slots"]);
}

#[test]
fn the_scsi_drive_writes_a_labelled_tape_on_tgt_and_reads_it_back_by_file_marks() {
    if !tgt::available() {
        panic!("tgtd is not installed: scripts/test installs the tgt package");
    }
    let tgt = Tgt::start(&["A00002L6"]);
    let changer = DirectChanger::new(
        ScsiChanger::open(&tgt.changer_url(), PathKind::Scsi).unwrap(),
        vec![DriveRef {
            name: "tgt0".into(),
            element: Some(tgt::DRIVE),
            serial: None,
        }],
        Duration::from_secs(120),
    );
    changer.mount("A00002", "tgt0").unwrap();
    let mut drive = ScsiDrive::open("tgt0", &tgt.drive_url());
    // tgt answers the identification the fixture gave it.
    assert_eq!(drive.info().vendor, "IBM");
    assert_eq!(drive.info().model, "ULT3580-TD8");
    drive.load().unwrap();
    format::label_tape(&mut drive, "A00002", "tapeserver").unwrap();

    // One file: HDR1 HDR2 UHL1 TM, data blocks, TM EOF1 EOF2 UTL1 TM.
    format::position_for_append(&mut drive, "A00002", None).unwrap();
    let label = FileLabel {
        vid: "A00002".into(),
        fseq: 1,
        file_id: 0x51,
        block_size: 64 * 1024,
        block_count: 3,
    };
    let writer = Writer::new("SITE", "host", drive.info());
    let hdr1_at = format::write_file_header(&mut drive, &label, &writer).unwrap();
    assert_eq!(hdr1_at, 1, "the first file's HDR1 replaces the PRELABEL");
    let blocks: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            let len = if i == 2 { 1000 } else { 64 * 1024 };
            (0..len)
                .map(|j| (j as u8).wrapping_mul(7).wrapping_add(i))
                .collect()
        })
        .collect();
    for b in &blocks {
        let mut sealed = b.clone();
        lbp_seal(&mut sealed);
        drive.write_block(&sealed).unwrap();
    }
    format::write_file_trailer(&mut drive, &label, &writer).unwrap();
    drive.flush().unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut read_data = |drive: &mut ScsiDrive, expected: &[u8]| {
        let n = match drive.read_block(&mut buf).unwrap() {
            ReadOutcome::Data(n) => n,
            other => panic!("expected data, got {other:?}"),
        };
        assert_eq!(&buf[..n - LBP_CRC_LEN], expected, "bytes back as written");
    };

    // Back, label by label: VOL1, HDR1 HDR2 UHL1 TM, data, TM, trailer.
    format::check_vol1(&mut drive, "A00002").unwrap();
    let header = format::read_file_header(&mut drive, "A00002", 1, 0x51).unwrap();
    assert_eq!(header.block_size, 64 * 1024);
    for b in &blocks {
        read_data(&mut drive, b);
    }
    let mut probe = vec![0u8; 1024];
    assert_eq!(drive.read_block(&mut probe).unwrap(), ReadOutcome::FileMark);
    let trailer = format::read_trailer_labels(&mut drive, "A00002").unwrap();
    assert_eq!(
        (trailer.file_id, trailer.fseq, trailer.block_count),
        (0x51, 1, 3)
    );
    assert_eq!(
        drive.read_block(&mut probe).unwrap(),
        ReadOutcome::EndOfData
    );

    // And by spacing file marks: over the header labels to the data, over
    // the data to the trailer.
    format::check_vol1(&mut drive, "A00002").unwrap();
    drive.space_filemarks(1).unwrap();
    assert_eq!(
        drive.position().unwrap(),
        hdr1_at + 4,
        "counted while spacing"
    );
    read_data(&mut drive, &blocks[0]);
    drive.space_filemarks(1).unwrap();
    let trailer = format::read_trailer_labels(&mut drive, "A00002").unwrap();
    assert_eq!(trailer.block_count, 3);
    assert!(
        drive.space_filemarks(1).is_err(),
        "nothing after the last file"
    );

    // The catalogue's block id finds the file again (LOCATE by spacing).
    drive.locate(hdr1_at).unwrap();
    format::read_file_header(&mut drive, "A00002", 1, 0x51).unwrap();
    // And appending after it checks the tape against the catalogue.
    let last = format::LastFile {
        fseq: 1,
        file_id: 0x51,
        block_id: hdr1_at,
    };
    format::position_for_append(&mut drive, "A00002", Some(last)).unwrap();
    assert_eq!(drive.position().unwrap(), hdr1_at + 3 + 1 + 3 + 1 + 3 + 1);

    drive.unload().unwrap();
    changer.dismount("A00002", "tgt0").unwrap();
    assert_eq!(
        changer.status().unwrap().slots[0].1.as_deref(),
        Some("A00002")
    );
}
