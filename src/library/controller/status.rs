//! The library as the active controller sees it, for `tplib status` and
//! for clients that need to know which cartridge is in which drive.

use super::events::{Job, Op};
use super::state::{PathState, StateThread};
use crate::library::inventory::Inventory;
use crate::proto::tlc::{DriveStatus, LibraryStatus, PathStatus, SlotStatus};
use crate::scsi::smc::ElementType;

impl StateThread {
    /// Whether a mount, dismount or move of the drive at `address` waits
    /// or is under way (a path still moving for a request given up on
    /// counts too): its contents are about to change.
    fn changing(&self, inv: &Inventory, address: u16) -> bool {
        let moving = self.paths.iter().filter_map(|p| p.busy.as_ref()).any(|b| {
            matches!(b.kind, Job::Move { source, destination, .. }
                if source == address || destination == address)
        });
        moving
            || self.requests.iter().any(|r| match &r.op {
                Op::Mount { drive, .. } | Op::Dismount { drive, .. } => {
                    inv.drive_element(drive).ok() == Some(address)
                }
                Op::Move {
                    source,
                    destination,
                } => *source == address || *destination == address,
                _ => false,
            })
    }

    pub(super) fn status(&self) -> LibraryStatus {
        let empty = Inventory::default();
        let inv = self.inventory.as_ref().unwrap_or(&empty);
        let slots = |kind| -> Vec<SlotStatus> {
            inv.of_kind(kind)
                .map(|e| SlotStatus {
                    address: u32::from(e.address),
                    vid: inv.vid_in(e.address).unwrap_or_default(),
                })
                .collect()
        };
        LibraryStatus {
            paths: self
                .paths
                .iter()
                .map(|p| {
                    let (state, error) = match &p.state {
                        PathState::Ok => ("ok", String::new()),
                        PathState::Unknown => ("unknown", String::new()),
                        PathState::Offline(e) => ("offline", e.clone()),
                        PathState::Disabled => ("disabled", String::new()),
                    };
                    let id = p.identity.as_ref();
                    PathStatus {
                        device: p.device.clone(),
                        state: state.into(),
                        error,
                        vendor: id.map(|i| i.vendor.clone()).unwrap_or_default(),
                        product: id.map(|i| i.product.clone()).unwrap_or_default(),
                        serial: id.and_then(|i| i.serial.clone()).unwrap_or_default(),
                        moves: p.moves,
                        move_seconds: p.move_seconds,
                    }
                })
                .collect(),
            drives: inv
                .of_kind(ElementType::DataTransfer)
                .map(|e| DriveStatus {
                    name: self
                        .names
                        .iter()
                        .find(|d| inv.drive_element(d).ok() == Some(e.address))
                        .map(|d| d.name.clone())
                        .or_else(|| e.device_id.clone())
                        .unwrap_or_default(),
                    address: u32::from(e.address),
                    serial: e.device_id.clone().unwrap_or_default(),
                    vid: inv.vid_in(e.address).unwrap_or_default(),
                    source: e.source.map_or(0, u32::from),
                    changing: self.changing(inv, e.address),
                })
                .collect(),
            slots: slots(ElementType::Storage),
            import_export: slots(ElementType::ImportExport),
            pickers: slots(ElementType::Transport),
            requests: self
                .requests
                .iter()
                .filter(|r| {
                    matches!(
                        r.op,
                        Op::Mount { .. } | Op::Dismount { .. } | Op::Move { .. }
                    )
                })
                .count() as u32,
        }
    }
}
