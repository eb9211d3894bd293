//! The file-backed drive loading a corrupt cartridge. A template cartridge
//! holds labels, data blocks and file marks, flushed; the input damages its
//! files (flip bytes, cut, append) and the drive loads it, reads it to its
//! end, locates and spaces. Loading may refuse the cartridge; nothing may
//! panic, hang or allocate without bound.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tapeserver::tape::drive::{ReadOutcome, TapeDrive};
use tapeserver::tape::file_drive::{FileDrive, create_cartridge};

const FILES: [&str; 4] = ["data", "index", "flushed", "cartridge.json"];

struct Template {
    _dir: tempfile::TempDir,
    cartridge: PathBuf,
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let cartridge = dir.path().join("V00001");
        create_cartridge(&cartridge, "V00001", 1 << 20).expect("cartridge");
        let device = dir.path().join("drive");
        std::fs::create_dir(&device).expect("drive directory");
        std::os::unix::fs::symlink(&cartridge, FileDrive::cartridge_link(&device))
            .expect("link");
        let mut drive = FileDrive::new("fuzz", &device);
        drive.load().expect("load");
        for file in 0..3u8 {
            for block in 0..3u8 {
                let payload = vec![file ^ block; 100 + 37 * block as usize];
                drive.write_block(&payload).expect("write");
            }
            drive.write_filemarks(1, true).expect("file mark");
        }
        drive.flush().expect("flush");
        drive.unload().expect("unload");
        std::fs::remove_file(FileDrive::cartridge_link(&device)).expect("unlink");
        Template {
            _dir: dir,
            cartridge,
        }
    })
}

fn damage(cartridge: &Path, ops: &[u8]) {
    for op in ops.chunks_exact(4) {
        let path = cartridge.join(FILES[op[0] as usize % FILES.len()]);
        let Ok(mut bytes) = std::fs::read(&path) else {
            continue;
        };
        let at = if bytes.is_empty() {
            0
        } else {
            u16::from_le_bytes([op[2], op[3]]) as usize % bytes.len()
        };
        match op[1] % 4 {
            0 | 1 if !bytes.is_empty() => bytes[at] ^= op[3] | 1,
            2 => bytes.truncate(at),
            _ => bytes.extend(std::iter::repeat_n(op[3], op[2] as usize)),
        }
        let _ = std::fs::write(&path, &bytes);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&locate_to, ops)) = data.split_first() else {
        return;
    };
    let t = template();
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let cartridge = dir.path().join("V00001");
    let device = dir.path().join("drive");
    if std::fs::create_dir(&cartridge).is_err() || std::fs::create_dir(&device).is_err() {
        return;
    }
    for name in FILES {
        let _ = std::fs::copy(t.cartridge.join(name), cartridge.join(name));
    }
    damage(&cartridge, ops);
    let _ = std::os::unix::fs::symlink(&cartridge, FileDrive::cartridge_link(&device));
    let mut drive = FileDrive::new("fuzz", &device);
    if drive.load().is_err() {
        return;
    }
    let mut buf = vec![0u8; 4096];
    // A cartridge of at most a few dozen blocks: reading must end.
    for _ in 0..10_000 {
        match drive.read_block(&mut buf) {
            Ok(ReadOutcome::EndOfData) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = drive.locate(u64::from(locate_to));
    let _ = drive.space_filemarks(i64::from(locate_to as i8));
    let _ = drive.read_block(&mut buf);
    let _ = drive.unload();
});
