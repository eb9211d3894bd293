//! The emulated library of an installation: made (or joined), its new
//! cartridges labelled and registered, each in its pool; and
//! `tapeserverd init-library` for a config that names one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, DriveConfig, DriveKind};
use crate::library::direct::DirectChanger;
use crate::library::emulated::{EmulatedChanger, EmulatedLibrary, Layout};
use crate::library::scsi_changer::ScsiChanger;
use crate::library::{DriveRef, MediaChanger, barcode_for, vid_of};
use crate::scheduler;
use crate::tape::{FileDrive, TapeDrive, format};

use super::InitError;
use crate::daemon::frontend::DEFAULT_POOL;

/// How a new emulated library is shaped.
pub struct LibraryShape {
    pub changer_paths: u32,
    pub move_time: Duration,
    /// A move across the whole library (ZERO: as `move_time`).
    pub move_time_far: Duration,
    pub capacity: u64,
    /// The new cartridges' pools, in order (empty: all `default`).
    pub pools: Vec<(String, u32)>,
}

/// Creates the emulated library at `library` (or adds `drives` to it),
/// labels the new cartridges `new_barcodes` in the first drive, and
/// registers every cartridge it holds in the default pool of `db`.
pub(super) fn build_library(
    library: &Path,
    drives: &[DriveConfig],
    new_barcodes: &[String],
    shape: &LibraryShape,
    db: &mut dyn scheduler::Scheduler,
) -> Result<(), InitError> {
    let Some(first) = drives.first() else {
        return Err(InitError::Count);
    };
    let with_media = drives.iter().any(|d| d.model.is_some());
    let drive_devices: Vec<(String, PathBuf)> = drives
        .iter()
        .map(|d| (d.name.clone(), d.device.clone()))
        .collect();
    let emulated = EmulatedLibrary::create(
        library,
        &Layout {
            paths: shape.changer_paths as usize,
            move_time_ms: shape.move_time.as_millis() as u64,
            move_time_far_ms: shape.move_time_far.as_millis() as u64,
            drives: &drive_devices,
            barcodes: new_barcodes,
            capacity: shape.capacity,
        },
    )
    .map_err(crate::library::ChangerError::from)?;
    // Labelling moves cartridges directly on one path: no daemon runs yet.
    let changer = DirectChanger::new(
        ScsiChanger::new(Box::new(EmulatedChanger::new(emulated, "changer0"))),
        vec![DriveRef {
            name: first.name.clone(),
            ..DriveRef::default()
        }],
        crate::config::DEFAULT_MOVE_TIMEOUT,
    );
    db.add_pool(DEFAULT_POOL)?;
    for (pool, _) in &shape.pools {
        if pool != DEFAULT_POOL {
            db.add_pool(pool)?;
        }
    }
    // The pool of each new cartridge, by its place among them.
    let pool_of = |vid: &str| -> &str {
        let mut at = new_barcodes.iter().position(|b| vid_of(b) == vid);
        for (pool, n) in &shape.pools {
            match at {
                Some(i) if i < *n as usize => return pool,
                Some(i) => at = Some(i - *n as usize),
                None => break,
            }
        }
        DEFAULT_POOL
    };
    for barcode in new_barcodes {
        let vid = vid_of(barcode);
        changer.mount(&vid, &first.name)?;
        let mut drive = FileDrive::new(&first.name, &first.device);
        drive.load().map_err(|source| InitError::Drive {
            vid: vid.clone(),
            source,
        })?;
        format::label_tape(&mut drive, &vid, "tapeserver").map_err(|source| InitError::Label {
            vid: vid.clone(),
            source,
        })?;
        drive.unload().map_err(|source| InitError::Drive {
            vid: vid.clone(),
            source,
        })?;
        changer.dismount(&vid, &first.name)?;
    }
    let status = changer.status()?;
    let vids = status
        .slots
        .iter()
        .filter_map(|(_, v)| v.clone())
        .chain(status.drives.iter().filter_map(|(_, v)| v.clone()));
    for vid in vids {
        let capacity = crate::tape::file_drive::read_cartridge_meta(
            &EmulatedLibrary::cartridge_dir(library, &vid),
        )
        .map(|m| m.capacity)
        .unwrap_or(shape.capacity);
        db.add_tape(&vid, pool_of(&vid), capacity)?;
        // A media type only when asked for (init --media): the default
        // `L6` tags of an emulated library say nothing a site chose.
        if with_media
            && let Some(m) = new_barcodes
                .iter()
                .find(|b| vid_of(b) == vid)
                .and_then(|b| crate::tape::media::Media::of_volume_tag(b))
        {
            db.set_tape_media(&vid, Some(&m.code()))?;
        }
    }
    Ok(())
}

/// `tapeserverd init-library --config FILE`: the emulated library a config
/// names, made where it is missing (its drives, `tapes` labelled cartridges
/// registered in the config's catalogue): what the package's postinst runs
/// so that its config starts out of the box.
pub fn init_library(config: &Config, tapes: u32, capacity: u64) -> Result<(), InitError> {
    let Some(library) = config.library.emulated_root() else {
        return Err(InitError::Invalid(
            "the config names no emulated library ([library] kind = \"emulated\" and path)".into(),
        ));
    };
    if EmulatedLibrary::exists(library) {
        return Err(InitError::Invalid(format!(
            "an emulated library already exists at {}",
            library.display()
        )));
    }
    if tapes == 0 {
        return Err(InitError::Count);
    }
    for drive in &config.drives {
        if drive.kind != DriveKind::File {
            return Err(InitError::Invalid(format!(
                "drive {}: an emulated library's drives are file drives (kind = \"file\")",
                drive.name
            )));
        }
    }
    let barcodes: Vec<String> = (1..=tapes)
        .map(|i| barcode_for(&format!("V{i:05}")))
        .collect();
    let mut db = scheduler::open_with(
        &config.scheduler.url,
        config.scheduler.password_file.as_deref(),
    )?;
    let done = build_library(
        library,
        &config.drives,
        &barcodes,
        &LibraryShape {
            changer_paths: 2,
            move_time: Duration::ZERO,
            move_time_far: Duration::ZERO,
            capacity,
            pools: Vec::new(),
        },
        &mut *db,
    );
    if done.is_err() {
        let _ = std::fs::remove_dir_all(library);
    }
    done
}
