//! `tlcd run`: the controller as its own daemon, for a library several
//! tape servers share. It serves until SIGTERM or SIGINT, then releases
//! the lease so a standby takes over at once.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    #[error(transparent)]
    Controller(#[from] super::ControllerError),
    #[error("cannot set up signal handling: {0}")]
    Signals(std::io::Error),
}

/// Runs the controller with the settings `tlcd`'s config gave
/// (`settings::controller_config`).
pub fn run(controller: super::ControllerConfig) -> Result<(), StandaloneError> {
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
    let (signalled, on_signal) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _ = signalled.send(signal);
            }
        })
        .map_err(StandaloneError::Signals)?;
    let handle = super::start(controller)?;
    // Without NOTIFY_SOCKET (not under systemd) these do nothing.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    // Under a systemd watchdog, tell it we live only while the state
    // thread answers: a hung active controller would keep its lease.
    let tick = sd_notify::watchdog_enabled()
        .map(|every| every / 2)
        .unwrap_or(Duration::from_secs(3600));
    loop {
        match on_signal.recv_timeout(tick) {
            Ok(signal) => {
                tracing::info!(signal, "tlcd stopping");
                break;
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if handle.alive(tick) {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                } else {
                    tracing::error!("the controller's state thread does not answer");
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    handle.stop();
    tracing::info!("tlcd stopped: lease released");
    Ok(())
}
