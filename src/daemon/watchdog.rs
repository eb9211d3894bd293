//! The parent's watchdog: timeouts keyed by the session's state, held as
//! parent state (sessions cannot configure them away) and evaluated on every
//! tick against a clock the caller passes, so they are unit-tested without
//! sleeping. On expiry the loop SIGKILLs the session and a cleaner follows.

use std::time::{Duration, Instant};

use crate::config::WatchdogConfig;
use crate::proto::session::SessionState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub mount: Duration,
    pub positioning: Duration,
    pub no_data_movement: Duration,
    pub heartbeat: Duration,
    pub unmount: Duration,
}

impl From<&WatchdogConfig> for Timeouts {
    fn from(c: &WatchdogConfig) -> Self {
        Self {
            mount: c.mount_timeout.0,
            positioning: c.positioning_timeout.0,
            no_data_movement: c.no_data_movement_timeout.0,
            heartbeat: c.heartbeat_timeout.0,
            unmount: c.unmount_timeout.0,
        }
    }
}

/// What the watchdog needs to know of a session.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub substate: SessionState,
    pub substate_since: Instant,
    /// Last report of any kind (heartbeat or state change).
    pub last_report: Instant,
    /// Last time the cumulative byte counter moved (or the state changed).
    pub last_progress: Instant,
}

/// Why the session must be killed, if it must.
pub fn expired(p: &Progress, t: &Timeouts, now: Instant) -> Option<String> {
    let since = |at: Instant| now.saturating_duration_since(at);
    if since(p.last_report) > t.heartbeat {
        return Some(format!(
            "no heartbeat for {}s",
            since(p.last_report).as_secs()
        ));
    }
    let (limit, what, from) = match p.substate {
        SessionState::Unspecified | SessionState::Starting | SessionState::Mounting => {
            (t.mount, "mounting", p.substate_since)
        }
        SessionState::Positioning => (t.positioning, "positioning", p.substate_since),
        SessionState::Transferring => (t.no_data_movement, "no data moved", p.last_progress),
        SessionState::Unmounting => (t.unmount, "unmounting", p.substate_since),
        SessionState::Finished => return None,
    };
    let elapsed = since(from);
    (elapsed > limit).then(|| {
        format!(
            "{what} for {}s (limit {}s)",
            elapsed.as_secs(),
            limit.as_secs()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        mount: Duration::from_secs(600),
        positioning: Duration::from_secs(300),
        no_data_movement: Duration::from_secs(120),
        heartbeat: Duration::from_secs(60),
        unmount: Duration::from_secs(400),
    };

    /// A session that entered `state` at t0 and reports every second until `now`.
    fn at(state: SessionState, t0: Instant, now: Instant, progress: Instant) -> Option<String> {
        let p = Progress {
            substate: state,
            substate_since: t0,
            last_report: now,
            last_progress: progress,
        };
        expired(&p, &T, now)
    }

    #[test]
    fn each_state_has_its_own_limit() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        for (state, limit) in [
            (SessionState::Starting, 600),
            (SessionState::Mounting, 600),
            (SessionState::Positioning, 300),
            (SessionState::Unmounting, 400),
        ] {
            assert_eq!(
                at(state, t0, t0 + s(limit), t0),
                None,
                "{state:?} at its limit"
            );
            let reason = at(state, t0, t0 + s(limit + 1), t0).expect("expired");
            assert!(reason.contains(&format!("limit {limit}s")), "{reason}");
        }
    }

    #[test]
    fn transferring_times_out_only_without_data_movement() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // Hours in the state, but bytes moved a second ago: fine.
        assert_eq!(
            at(SessionState::Transferring, t0, t0 + s(7200), t0 + s(7199)),
            None
        );
        let reason =
            at(SessionState::Transferring, t0, t0 + s(7200), t0 + s(7000)).expect("stalled");
        assert!(reason.starts_with("no data moved for 200s"), "{reason}");
    }

    #[test]
    fn silence_kills_in_any_state() {
        let t0 = Instant::now();
        let p = Progress {
            substate: SessionState::Transferring,
            substate_since: t0,
            last_report: t0,
            last_progress: t0,
        };
        assert_eq!(expired(&p, &T, t0 + Duration::from_secs(60)), None);
        let reason = expired(&p, &T, t0 + Duration::from_secs(61)).expect("silent");
        assert!(reason.contains("no heartbeat"), "{reason}");
        let finished = Progress {
            substate: SessionState::Finished,
            last_report: t0 + Duration::from_secs(100),
            ..p
        };
        assert_eq!(expired(&finished, &T, t0 + Duration::from_secs(101)), None);
    }
}
