//! Requests in the controller and how they advance: each waits for a fresh
//! inventory, is planned against it (nothing to do, a clear refusal, or
//! one move), waits for its elements and a free path, and after a failed
//! or timed-out move waits for the element status to be read again before
//! it is planned anew, possibly on another path.

use std::time::Instant;

use super::events::{Job, Op};
use super::request::{MAX_ATTEMPTS, Phase, Step, done};
use super::state::StateThread;
use crate::library::ChangerError;
use crate::library::inventory::Plan;
use crate::proto::tlc::tlc_reply;

impl StateThread {
    /// Advances every request as far as it can go now.
    pub(super) fn pump(&mut self) {
        if !self.active() {
            return;
        }
        let mut i = 0;
        while i < self.requests.len() {
            match self.step(i) {
                Step::Keep => i += 1,
                Step::Finish(result) => self.finish(i, result),
            }
        }
        let waiting = self
            .requests
            .iter()
            .any(|r| matches!(r.phase, Phase::Waiting));
        if waiting
            && !self.fresh()
            && !self.reading_now()
            && let Some(path) = self.idle_path()
        {
            self.dispatch(path, Job::Inventory);
        }
        if !self.any_usable_path() {
            let why = self.describe_paths();
            let mut i = 0;
            while i < self.requests.len() {
                let r = &self.requests[i];
                if matches!(r.phase, Phase::Waiting) && r.op != Op::Status {
                    self.finish(i, Err(ChangerError::NoPath(why.clone())));
                } else {
                    i += 1;
                }
            }
        }
    }

    fn step(&mut self, i: usize) -> Step {
        let r = &mut self.requests[i];
        if let Some(message) = r.result.take() {
            return Step::Finish(Ok(done(message)));
        }
        if matches!(r.phase, Phase::Moving { .. }) {
            return Step::Keep;
        }
        if Instant::now() >= r.deadline {
            let why = match &r.last {
                Some(f) => f.message.clone(),
                None => "no changer path was free".into(),
            };
            return Step::Finish(Err(ChangerError::Busy(format!(
                "gave up after {}: {why}",
                humantime::format_duration(self.settings.move_timeout)
            ))));
        }
        match &r.op {
            Op::Status => {
                let answer_now = self.fresh()
                    || !self.any_usable_path()
                    || (self.inventory.is_some()
                        && !self.reading_now()
                        && self.idle_path().is_none());
                if answer_now {
                    Step::Finish(Ok(tlc_reply::Result::Status(self.status())))
                } else {
                    Step::Keep
                }
            }
            Op::Refresh => {
                if self.last_read > r.after_read {
                    let cartridges = self
                        .inventory
                        .as_ref()
                        .map_or(0, |inv| inv.elements.iter().filter(|e| e.full).count());
                    Step::Finish(Ok(done(format!(
                        "element status read again: {cartridges} cartridges"
                    ))))
                } else {
                    Step::Keep
                }
            }
            Op::Path { .. } => Step::Finish(Err(ChangerError::Busy(
                "path requests are answered at once".into(),
            ))),
            Op::Mount { .. } | Op::Dismount { .. } | Op::Move { .. } => {
                if self.fresh() {
                    self.plan(i)
                } else {
                    Step::Keep
                }
            }
        }
    }

    fn plan(&mut self, i: usize) -> Step {
        let Some(inv) = self.inventory.as_ref() else {
            return Step::Keep;
        };
        let reserved = self.reserved();
        let r = &self.requests[i];
        let planned = match &r.op {
            Op::Mount { vid, drive } => inv
                .drive_element(drive)
                .and_then(|el| inv.plan_mount(vid, &drive.name, el))
                .map(|p| (p, format!("{vid} is in {}", drive.name))),
            Op::Dismount { vid, drive } => inv
                .drive_element(drive)
                .and_then(|el| inv.plan_dismount(vid, &drive.name, el, &reserved))
                .map(|p| (p, format!("{vid} is out of {}", drive.name))),
            Op::Move {
                source,
                destination,
            } => Ok((
                Plan::Move {
                    source: *source,
                    destination: *destination,
                },
                String::new(),
            )),
            _ => return Step::Keep,
        };
        let read_since_arrival = self.last_read > r.after_read;
        let (source, destination, success) = match planned {
            Err(ChangerError::Busy(_)) => return Step::Keep,
            // Refused only on what the library said after the request came:
            // an operator may have moved cartridges by hand.
            Err(_) if !read_since_arrival => {
                self.mark_stale();
                return Step::Keep;
            }
            Err(e) => return Step::Finish(Err(e)),
            Ok((Plan::Done, message)) => return Step::Finish(Ok(done(message))),
            Ok((
                Plan::Move {
                    source,
                    destination,
                },
                message,
            )) => (source, destination, message),
        };
        if let Some(f) = &r.last
            && (r.attempts >= MAX_ATTEMPTS
                || (f.fatal && (f.source, f.destination) == (source, destination)))
        {
            return Step::Finish(Err(ChangerError::Controller(f.message.clone())));
        }
        if reserved.contains(&source) || reserved.contains(&destination) {
            return Step::Keep;
        }
        let Some(path) = self.idle_path() else {
            return Step::Keep;
        };
        let tag = inv.element(source).and_then(|e| e.volume_tag.clone());
        let what = format!(
            "moving {} from {} to {}",
            tag.as_deref().unwrap_or("the cartridge"),
            inv.describe(source),
            inv.describe(destination)
        );
        let success = if success.is_empty() {
            format!("{what}: done")
        } else {
            success
        };
        let timeout = self.settings.move_timeout;
        let job = self.dispatch(
            path,
            Job::Move {
                source,
                destination,
                timeout,
            },
        );
        tracing::info!(request = %self.requests[i].id, path = %self.paths[path].device, "{what}");
        let r = &mut self.requests[i];
        r.attempts += 1;
        r.phase = Phase::Moving {
            path,
            job,
            tag,
            what,
            success,
        };
        Step::Keep
    }
}
