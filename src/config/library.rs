//! Checks of the `[library]` section: what each kind of library needs.

use std::path::PathBuf;

use super::{ConfigError, LibraryConfig, LibraryKind};

fn is_endpoint(e: &str) -> bool {
    ["tcp://", "ipc://"]
        .iter()
        .any(|p| e.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

impl LibraryConfig {
    pub(super) fn validate(
        &self,
        bad: &impl Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        if let Some(path) = &self.path
            && !path.is_absolute()
        {
            return Err(bad(
                "library.path",
                format!("expected an absolute path, got {}", path.display()),
            ));
        }
        if let Some(e) = self.controllers.iter().find(|e| !is_endpoint(e)) {
            return Err(bad(
                "library.controllers",
                format!("expected tcp://HOST:PORT or ipc://PATH endpoints, got {e:?}"),
            ));
        }
        if let Some(c) = self.changers.iter().find(|c| c.trim().is_empty()) {
            return Err(bad(
                "library.changers",
                format!("expected devices or iSCSI URLs, got {c:?}"),
            ));
        }
        let served_elsewhere = !self.controllers.is_empty();
        match self.kind {
            LibraryKind::Emulated if self.path.is_none() && !served_elsewhere => Err(bad(
                "library.path",
                "an emulated library needs its directory".into(),
            )),
            LibraryKind::Scsi if self.changers.is_empty() && !served_elsewhere => Err(bad(
                "library.changers",
                "a SCSI library needs at least one changer path (or `controllers`)".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Where the emulated library lives, if this is one.
    pub fn emulated_root(&self) -> Option<&PathBuf> {
        match self.kind {
            LibraryKind::Emulated => self.path.as_ref(),
            LibraryKind::Scsi => None,
        }
    }
}
