//! A session: the child process that runs one mount. It gets everything it
//! needs in its `SessionSpec` (it never reads the config file), opens its
//! own scheduler connections and ZMQ context, and runs the pipeline of
//! threads: tape thread, disk pool, task injector, report packer, status
//! reporter. Its exit code tells the parent what to do with the drive:
//! 0 drive up, 1 drive down, 2 run a cleaner.

pub mod access_order;
pub mod beneath;
pub mod cleaner;
pub mod context;
pub mod disk_read;
pub mod disk_write;
pub mod end;
pub mod injector;
pub mod label;
pub mod memory;
pub mod migration;
pub mod readtp;
pub mod recall;
pub mod report_packer;
pub mod staged_file;
pub mod status_reporter;
pub mod tape_mount;
pub mod tape_read;
pub mod tape_write;
pub mod verify;

use crate::proto::session::{SessionKind, SessionSpec};

pub use context::SessionContext;
pub use tape_mount::{SessionEnd, TapeStats};

/// The signal the daemon sends its sessions when it shuts down: a session
/// keeping its cartridge for more work (lazy dismount) ends at once. Its
/// default action is to ignore it, so a session not yet listening is not
/// killed by it.
pub const FINISH_SIGNAL: i32 = libc::SIGURG;

/// `f`, to run on another thread inside the span current here (the
/// session's): every event of the session's threads then carries its
/// DRIVE, VID, SESSION, MOUNT and PID.
pub(crate) fn in_span<T>(f: impl FnOnce() -> T) -> impl FnOnce() -> T {
    let span = tracing::Span::current();
    move || span.in_scope(f)
}

/// Set once the daemon asked this session to finish.
fn finish_flag() -> &'static std::sync::Arc<std::sync::atomic::AtomicBool> {
    static FLAG: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
        std::sync::OnceLock::new();
    FLAG.get_or_init(Default::default)
}

/// Whether the daemon asked this session to finish: a background session
/// yields its drive at its next file boundary.
pub(crate) fn yield_requested() -> bool {
    finish_flag().load(std::sync::atomic::Ordering::Acquire)
}

/// Runs a session to its end and returns the process exit code.
pub fn run(spec: SessionSpec) -> i32 {
    if let Err(e) = signal_hook::flag::register(FINISH_SIGNAL, finish_flag().clone()) {
        tracing::warn!(error = %e, "cannot listen for the daemon's finish signal");
    }
    if !spec.key_file.is_empty() && !spec.controller_key.is_empty() {
        match crate::messaging::curve::KeyPair::load(std::path::Path::new(&spec.key_file)) {
            Ok(pair) => {
                crate::messaging::curve::set_client_keys(crate::messaging::curve::ClientKeys {
                    server: spec.controller_key.clone(),
                    pair,
                })
            }
            Err(e) => tracing::error!(error = %e, "cannot load this host's CURVE keys"),
        }
    }
    // Keys above are read as root (the key file is 0600); nothing after.
    if !spec.user.is_empty() {
        match crate::privileges::drop_to(&spec.user) {
            Ok(true) => tracing::info!(user = %spec.user, "session runs unprivileged"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "session refuses to run as root");
                return SessionEnd::DriveDown(format!("cannot drop privileges: {e}")).exit_code();
            }
        }
    }
    let kind = SessionKind::try_from(spec.kind)
        .map(|k| k.as_str_name().to_ascii_lowercase())
        .unwrap_or_default();
    let span = tracing::info_span!("session", drive = %spec.drive, vid = %spec.vid, session = %kind, mount = spec.mount_id, pid = std::process::id());
    let _enter = span.enter();
    let kind = SessionKind::try_from(spec.kind);
    let ctx = SessionContext::new(spec);
    let end = match kind {
        Ok(SessionKind::Migration) => migration::run(&ctx),
        Ok(SessionKind::Recall) => recall::run(&ctx),
        Ok(SessionKind::Cleaner) => cleaner::run(&ctx),
        Ok(SessionKind::Label) => label::run(&ctx),
        Ok(SessionKind::Readtp) => readtp::run(&ctx),
        Ok(SessionKind::Verify) => verify::run(&ctx),
        _ => SessionEnd::DriveDown(format!("unknown session kind {}", ctx.spec.kind)),
    };
    if let Some(reason) = end.reason() {
        tracing::error!(reason = %reason, exit = end.exit_code(), "session ends with an error");
    }
    end.exit_code()
}
