//! How the catalogue shows itself to operators (`tpstat`).

use std::time::Instant;

use super::Catalogue;
use crate::proto::admin::DriveStatus;
use crate::proto::session::{SessionKind, SessionState};

pub fn kind_name(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Unspecified => "unknown",
        SessionKind::Migration => "migration",
        SessionKind::Recall => "recall",
        SessionKind::Cleaner => "cleaner",
        SessionKind::Label => "label",
        SessionKind::Readtp => "readtp",
        SessionKind::Verify => "verify",
    }
}

pub fn substate_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Unspecified | SessionState::Starting => "starting",
        SessionState::Mounting => "mounting",
        SessionState::Positioning => "positioning",
        SessionState::Transferring => "transferring",
        SessionState::Unmounting => "unmounting",
        SessionState::Finished => "finished",
    }
}

impl Catalogue {
    pub fn status(&self, now: Instant) -> Vec<DriveStatus> {
        self.drives
            .values()
            .map(|d| {
                let s = d.session.as_ref();
                let elapsed = s.map_or(0.0, |s| now.duration_since(s.started).as_secs_f64());
                DriveStatus {
                    name: d.config.name.clone(),
                    state: d.state.as_str().into(),
                    vid: s.map(|s| s.vid.clone()).filter(|v| !v.is_empty()),
                    pid: s.and_then(|s| s.pid),
                    session: s.map(|s| kind_name(s.kind).into()),
                    substate: s.map(|s| substate_name(s.substate).into()),
                    bytes: s.map_or(0, |s| s.bytes),
                    files: s.map_or(0, |s| s.files),
                    mb_per_s: s.map_or(0.0, |s| crate::util::mb_per_s(s.bytes, elapsed)),
                    seconds_in_state: now.duration_since(d.since).as_secs_f64(),
                    last_error: d.last_error.clone(),
                }
            })
            .collect()
    }
}
