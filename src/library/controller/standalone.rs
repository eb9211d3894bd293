//! `tlcd run`: the controller as its own daemon, for a library several
//! tape servers share. It serves until SIGTERM or SIGINT, then releases
//! the lease so a standby takes over at once.

use crate::config::tlcd::TlcdConfig;

#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    #[error(transparent)]
    Library(#[from] crate::library::ChangerError),
    #[error(transparent)]
    Controller(#[from] super::ControllerError),
    #[error("cannot set up signal handling: {0}")]
    Signals(std::io::Error),
}

pub fn run(config: &TlcdConfig) -> Result<(), StandaloneError> {
    let controller = config.controller_config()?;
    tracing::info!(
        endpoint = %controller.endpoint,
        listen = ?controller.listen,
        interface = ?controller.interface,
        paths = ?controller.paths,
        lease = %controller.lease.display(),
        move_timeout_s = controller.move_timeout.as_secs(),
        "tlcd starting"
    );
    let mut signals = signal_hook::iterator::Signals::new([libc::SIGTERM, libc::SIGINT])
        .map_err(StandaloneError::Signals)?;
    let handle = super::start(controller)?;
    // Without NOTIFY_SOCKET (not under systemd) this does nothing.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, "tlcd stopping");
    }
    handle.stop();
    tracing::info!("tlcd stopped: lease released");
    Ok(())
}
