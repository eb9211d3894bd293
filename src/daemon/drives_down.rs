//! The drives an operator put down (`tpconfig DRIVE down`) stay down across
//! a restart of the daemon: the set is kept in `STATE_DIR/drives-down`, one
//! name per line, written atomically when an operator changes it. A drive
//! put down by a fault comes back up at a restart (its recovery decides).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn file(state_dir: &Path) -> PathBuf {
    state_dir.join("drives-down")
}

/// The drives an operator left down.
pub fn load(state_dir: &Path) -> BTreeSet<String> {
    match std::fs::read_to_string(file(state_dir)) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the drives an operator left down: every drive starts up");
            BTreeSet::new()
        }
    }
}

/// Records that `drive` is down (or no longer) by an operator's word.
pub fn set(state_dir: &Path, drive: &str, down: bool) {
    let mut drives = load(state_dir);
    let changed = if down {
        drives.insert(drive.to_string())
    } else {
        drives.remove(drive)
    };
    if !changed {
        return;
    }
    let text: String = drives.iter().map(|d| format!("{d}\n")).collect();
    if let Err(e) = crate::util::write_atomically(&file(state_dir), text.as_bytes()) {
        tracing::error!(drive, error = %e, "cannot record the operator's drive state: it holds until a restart");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drive_put_down_is_remembered_until_put_up() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).is_empty());
        set(dir.path(), "drive1", true);
        set(dir.path(), "drive0", true);
        assert_eq!(
            load(dir.path()),
            ["drive0", "drive1"].map(String::from).into()
        );
        set(dir.path(), "drive1", false);
        assert_eq!(load(dir.path()), ["drive0"].map(String::from).into());
    }
}
