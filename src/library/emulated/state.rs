//! The emulated library's persistent state: which cartridge is in which
//! element, and the moves in flight. `library.json` is the one source of
//! truth; it is only read and written under the library lock, and always
//! replaced atomically, so a process killed at any point leaves either the
//! state before a step or the state after it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::scsi::smc::{ElementAddressAssignment, ElementType};

/// First element address of each type (the layout tgt and many robots use).
pub const FIRST_PICKER: u16 = 1;
pub const FIRST_PORT: u16 = 10;
pub const FIRST_DRIVE: u16 = 500;
pub const FIRST_SLOT: u16 = 1000;
/// Pickers sit below the first port: at most this many changer paths.
pub const MAX_PATHS: usize = (FIRST_PORT - FIRST_PICKER) as usize;
/// Drives sit below the first slot.
pub const MAX_DRIVES: usize = (FIRST_SLOT - FIRST_DRIVE) as usize;

/// A cartridge in an element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cartridge {
    /// The volume tag on its barcode label (`V00001L6`).
    pub barcode: String,
    /// The storage element it last left (SMC's SVALID source address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub address: u16,
    pub cartridge: Option<Cartridge>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveSlot {
    pub address: u16,
    /// The serial number the drive reports (DVCID), here its name.
    pub serial: String,
    /// The file-backed drive's device directory, linked to the cartridge
    /// while one is loaded.
    pub device: PathBuf,
    pub cartridge: Option<Cartridge>,
}

/// A move between taking the cartridge out of `source` and putting it
/// into `destination`: the cartridge is in `picker`, and both ends are
/// reserved so that no other move uses them meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub picker: u16,
    pub source: u16,
    pub destination: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// INQUIRY identity; the same on every path (it is one library).
    pub vendor: String,
    pub product: String,
    pub serial: String,
    /// How long a move takes (robots take tens of seconds): a move between
    /// neighbours.
    pub move_time_ms: u64,
    /// A move from the far end of the slots to the drives; moves between
    /// take their share of the distance (0: every move takes
    /// `move_time_ms`).
    #[serde(default)]
    pub move_time_far_ms: u64,
    /// Changer path names, in order; path i drives picker i.
    pub paths: Vec<String>,
    pub pickers: Vec<Slot>,
    pub ports: Vec<Slot>,
    pub drives: Vec<DriveSlot>,
    pub slots: Vec<Slot>,
    #[serde(default)]
    pub moves: Vec<Move>,
}

impl State {
    pub fn new(serial: &str, paths: usize, move_time_ms: u64) -> Self {
        let paths = paths.clamp(1, MAX_PATHS);
        Self {
            vendor: "TAPESRVR".into(),
            product: "EMULATED LIBRARY".into(),
            serial: serial.into(),
            move_time_ms,
            move_time_far_ms: 0,
            paths: (0..paths).map(|i| format!("changer{i}")).collect(),
            pickers: (0..paths)
                .map(|i| Slot {
                    address: FIRST_PICKER + i as u16,
                    cartridge: None,
                })
                .collect(),
            ports: vec![Slot {
                address: FIRST_PORT,
                cartridge: None,
            }],
            drives: Vec::new(),
            slots: Vec::new(),
            moves: Vec::new(),
        }
    }

    /// The picker a path moves cartridges with.
    pub fn picker_of(&self, path: &str) -> Option<u16> {
        let i = self.paths.iter().position(|p| p == path)?;
        self.pickers.get(i).map(|p| p.address)
    }

    pub fn assignment(&self) -> ElementAddressAssignment {
        let range = |first: u16, n: usize| (first, n as u16);
        ElementAddressAssignment {
            transport: range(FIRST_PICKER, self.pickers.len()),
            storage: range(FIRST_SLOT, self.slots.len()),
            import_export: range(FIRST_PORT, self.ports.len()),
            data_transfer: range(FIRST_DRIVE, self.drives.len()),
        }
    }

    /// Where an element lies from the drives, 0 to 1: the drives, the
    /// ports and the pickers at 0, the slots along the library in order.
    fn reach(&self, address: u16) -> f64 {
        match self.slots.iter().position(|s| s.address == address) {
            Some(i) => (i + 1) as f64 / self.slots.len() as f64,
            None => 0.0,
        }
    }

    /// How long the robot takes from `source` to `destination`.
    pub fn move_time(&self, source: u16, destination: u16) -> std::time::Duration {
        let near = self.move_time_ms as f64;
        let far = (self.move_time_far_ms as f64).max(near);
        let share = (self.reach(source) - self.reach(destination)).abs();
        std::time::Duration::from_secs_f64((near + (far - near) * share) / 1000.0)
    }

    pub fn kind_of(&self, address: u16) -> Option<ElementType> {
        let has = |slots: &[Slot]| slots.iter().any(|s| s.address == address);
        if has(&self.pickers) {
            Some(ElementType::Transport)
        } else if has(&self.ports) {
            Some(ElementType::ImportExport)
        } else if self.drives.iter().any(|d| d.address == address) {
            Some(ElementType::DataTransfer)
        } else if has(&self.slots) {
            Some(ElementType::Storage)
        } else {
            None
        }
    }

    /// The content of any element.
    pub fn content(&mut self, address: u16) -> Option<&mut Option<Cartridge>> {
        if let Some(d) = self.drives.iter_mut().find(|d| d.address == address) {
            return Some(&mut d.cartridge);
        }
        self.pickers
            .iter_mut()
            .chain(self.ports.iter_mut())
            .chain(self.slots.iter_mut())
            .find(|s| s.address == address)
            .map(|s| &mut s.cartridge)
    }

    /// Whether a move in flight holds this element as its source or destination.
    pub fn reserved(&self, address: u16) -> bool {
        self.moves
            .iter()
            .any(|m| m.source == address || m.destination == address)
    }

    /// Every cartridge's barcode with its element, pickers included.
    pub fn cartridges(&self) -> Vec<(u16, String)> {
        let slots = self
            .pickers
            .iter()
            .chain(&self.ports)
            .chain(&self.slots)
            .filter_map(|s| Some((s.address, s.cartridge.as_ref()?.barcode.clone())));
        let drives = self
            .drives
            .iter()
            .filter_map(|d| Some((d.address, d.cartridge.as_ref()?.barcode.clone())));
        slots.chain(drives).collect()
    }

    /// Adds a storage slot at the end (an expansion frame) and returns it.
    pub fn add_slot(&mut self) -> u16 {
        let address = FIRST_SLOT + self.slots.len() as u16;
        self.slots.push(Slot {
            address,
            cartridge: None,
        });
        address
    }

    /// A free storage slot that no move holds.
    pub fn free_slot(&self) -> Option<u16> {
        self.slots
            .iter()
            .find(|s| s.cartridge.is_none() && !self.reserved(s.address))
            .map(|s| s.address)
    }

    /// Undoes a move whose mover died: the cartridge goes back where it came
    /// from (reserved for it, so empty) or, failing that, to a free slot.
    pub fn roll_back(&mut self, m: &Move) -> Option<u16> {
        self.moves.retain(|x| x != m);
        let cartridge = self.content(m.picker)?.take()?;
        let home = if self.content(m.source).is_some_and(|c| c.is_none()) {
            m.source
        } else {
            match self.free_slot() {
                Some(slot) => slot,
                None => self.add_slot(),
            }
        };
        if let Some(content) = self.content(home) {
            *content = Some(cartridge);
        }
        Some(home)
    }
}
