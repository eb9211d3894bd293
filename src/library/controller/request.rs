//! One client request in the controller and its state: waiting for a
//! fresh inventory, or moving on a path; what the last failed move was, and
//! how many were tried.

use std::time::Instant;

use super::events::{Op, Peer};
use super::worker::path_failed;
use crate::library::ChangerError;
use crate::proto::tlc::{Done, tlc_reply};
use crate::scsi::{RetryClass, ScsiError};

/// Moves tried for one request before it fails.
pub(super) const MAX_ATTEMPTS: u32 = 3;

pub enum Phase {
    Waiting,
    Moving {
        path: usize,
        job: u64,
        /// The volume tag moved, to record the move without a re-read.
        tag: Option<String>,
        /// "moving A00001L6 from slot 1000 to drive element 500"
        what: String,
        /// What the client is told when the move succeeds.
        success: String,
    },
}

/// Why the last move failed.
pub(super) struct Failure {
    pub(super) message: String,
    /// Retrying the same move cannot help.
    pub(super) fatal: bool,
    pub(super) source: u16,
    pub(super) destination: u16,
}

pub struct Request {
    pub id: String,
    pub op: Op,
    pub waiters: Vec<Peer>,
    pub deadline: Instant,
    /// A refresh is answered by a read dispatched after this many reads.
    pub after_read: u64,
    pub phase: Phase,
    pub(super) attempts: u32,
    pub(super) last: Option<Failure>,
    /// Set when the move completed: what to answer.
    pub(super) result: Option<String>,
}

pub(super) enum Step {
    Keep,
    Finish(Result<tlc_reply::Result, ChangerError>),
}

pub(super) fn done(message: String) -> tlc_reply::Result {
    tlc_reply::Result::Done(Done { message })
}

impl Request {
    pub fn new(id: String, op: Op, peer: Peer, deadline: Instant, after_read: u64) -> Self {
        Self {
            id,
            op,
            waiters: vec![peer],
            deadline,
            after_read,
            phase: Phase::Waiting,
            attempts: 0,
            last: None,
            result: None,
        }
    }

    /// Whether `op` asks for the same thing (a client that retries with a
    /// new id after a restart joins the request under way).
    pub fn same_work(&self, op: &Op) -> bool {
        matches!(self.op, Op::Mount { .. } | Op::Dismount { .. }) && self.op == *op
    }

    /// The move this request was waiting for ended.
    pub fn moved(
        &mut self,
        device: &str,
        source: u16,
        destination: u16,
        ok: bool,
        error: Option<ScsiError>,
    ) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting);
        let Phase::Moving { what, success, .. } = phase else {
            return;
        };
        if ok {
            tracing::info!(request = %self.id, path = device, source, destination, "{what}: done");
            self.result = Some(success);
            return;
        }
        let (message, fatal) = match &error {
            Some(e @ ScsiError::Check { sense, .. }) => (
                format!("{what} failed on {device}: {sense}"),
                !path_failed(e) && e.retry_class() == RetryClass::Fatal,
            ),
            Some(e) => (format!("{what} failed: {e}"), false),
            None => (format!("{what} failed on {device}"), false),
        };
        tracing::warn!(request = %self.id, path = device, error = %message, "move failed: reading the element status before any retry");
        self.last = Some(Failure {
            message,
            fatal,
            source,
            destination,
        });
    }

    /// The move's path did not answer in time.
    pub fn gave_up(&mut self, device: &str, source: u16, destination: u16, why: &str) {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting);
        if let Phase::Moving { what, .. } = phase {
            self.last = Some(Failure {
                message: format!("{what} on {device}: {why}"),
                fatal: false,
                source,
                destination,
            });
        }
    }
}
