//! Reads the state of the file-backed virtual library that preceded the
//! emulated SCSI library, so an existing installation keeps its cartridges:
//! same slot addresses, same drives, same cartridge directories.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::state::{Cartridge, DriveSlot, FIRST_DRIVE, Slot, State};

#[derive(Deserialize)]
struct OldSlot {
    address: u16,
    vid: Option<String>,
}

#[derive(Deserialize)]
struct OldDrive {
    name: String,
    device: PathBuf,
    vid: Option<String>,
    source: Option<u16>,
}

#[derive(Deserialize)]
struct OldState {
    slots: Vec<OldSlot>,
    drives: Vec<OldDrive>,
}

/// The old state as an emulated library with two changer paths, or None
/// when `raw` is not the old format either.
pub fn convert(raw: &[u8], root: &Path) -> Option<State> {
    let old: OldState = serde_json::from_slice(raw).ok()?;
    let serial = format!(
        "EMU{:08X}",
        crc32c::crc32c(root.as_os_str().as_encoded_bytes())
    );
    let mut state = State::new(&serial, 2, 0);
    let cartridge = |vid: String, source| Cartridge {
        barcode: crate::library::barcode_for(&vid),
        source,
    };
    state.slots = old
        .slots
        .into_iter()
        .map(|s| Slot {
            address: s.address,
            cartridge: s.vid.map(|v| cartridge(v, None)),
        })
        .collect();
    state.drives = old
        .drives
        .into_iter()
        .enumerate()
        .map(|(i, d)| DriveSlot {
            address: FIRST_DRIVE + i as u16,
            serial: d.name,
            device: d.device,
            cartridge: d.vid.map(|v| cartridge(v, d.source)),
        })
        .collect();
    Some(state)
}
