//! The forker: a single-threaded helper process, forked by the parent
//! before it starts any thread or ZMQ context, that forks session processes
//! on request, reports their pids, reaps them and reports how they ended.
//!
//! It dies with the parent (PDEATHSIG) and kills its sessions when the
//! parent's end of the link closes; sessions die with the forker, so a
//! crashed daemon never leaves a session writing to a drive it no longer
//! tracks.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::messaging::framing::{FrameError, read_frame, write_frame};
use crate::proto::forker::{
    ForkFailed, ForkSession, ForkerReply, ForkerRequest, SessionExited, SessionForked,
    SessionKilled, forker_reply, forker_request,
};
use crate::proto::session::SessionSpec;

#[derive(Debug, thiserror::Error)]
pub enum ForkerError {
    #[error("cannot create the forker link: {0}")]
    Link(std::io::Error),
    #[error("refusing to fork: the process already runs {0} threads")]
    Threaded(usize),
    #[error("fork failed: {0}")]
    Fork(nix::Error),
    #[error("forker link: {0}")]
    Frame(#[from] FrameError),
    #[error("the parent died before the forker started")]
    Orphaned,
    #[error("the forker sent {0}")]
    Unexpected(String),
}

/// The parent's end of the forker link: the typed client of the forker.
/// Every fork request gets an id; a reply must answer a request still
/// pending, for the drive it was made for.
pub struct ForkerHandle {
    pub link: UnixStream,
    pub pid: Pid,
    next_request: u64,
    /// Fork requests not answered yet: request id to drive.
    pending: HashMap<u64, String>,
}

/// What the forker tells the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForkerEvent {
    Forked { drive: String, pid: i32 },
    ForkFailed { drive: String, error: String },
    Exited { pid: i32, code: i32 },
    Killed { pid: i32, signal: i32 },
}

impl ForkerHandle {
    fn new(link: UnixStream, pid: Pid) -> Self {
        Self {
            link,
            pid,
            next_request: 0,
            pending: HashMap::new(),
        }
    }

    /// Asks for a session on `spec.drive`; its answer comes as an event.
    pub fn fork_session(&mut self, spec: SessionSpec) -> Result<(), ForkerError> {
        self.next_request += 1;
        let request_id = self.next_request;
        let drive = spec.drive.clone();
        let msg = ForkerRequest {
            kind: Some(forker_request::Kind::Fork(ForkSession {
                request_id,
                spec: Some(spec),
            })),
        };
        write_frame(&mut self.link, &msg)?;
        self.pending.insert(request_id, drive);
        Ok(())
    }

    /// Checks a fork reply answers a pending request for that drive.
    fn answered(&mut self, request_id: u64, drive: &str) -> Result<(), ForkerError> {
        match self.pending.remove(&request_id) {
            Some(asked) if asked == drive => Ok(()),
            Some(asked) => Err(ForkerError::Unexpected(format!(
                "fork request {request_id} was for drive {asked}, the answer names {drive}"
            ))),
            None => Err(ForkerError::Unexpected(format!(
                "an answer to fork request {request_id} (drive {drive}), which is not pending"
            ))),
        }
    }

    /// Reads one event (call when the link is readable). None: the forker is gone.
    pub fn read_event(&mut self) -> Result<Option<ForkerEvent>, ForkerError> {
        let Some(reply) = read_frame::<ForkerReply>(&mut self.link)? else {
            return Ok(None);
        };
        let event = match reply.kind {
            Some(forker_reply::Kind::Forked(f)) => {
                self.answered(f.request_id, &f.drive)?;
                ForkerEvent::Forked {
                    drive: f.drive,
                    pid: f.pid,
                }
            }
            Some(forker_reply::Kind::Failed(f)) => {
                self.answered(f.request_id, &f.drive)?;
                ForkerEvent::ForkFailed {
                    drive: f.drive,
                    error: f.error,
                }
            }
            Some(forker_reply::Kind::Exited(e)) => ForkerEvent::Exited {
                pid: e.pid,
                code: e.code,
            },
            Some(forker_reply::Kind::Killed(k)) => ForkerEvent::Killed {
                pid: k.pid,
                signal: k.signal,
            },
            None => return Err(ForkerError::Unexpected("an empty message".into())),
        };
        Ok(Some(event))
    }

    /// Asks the forker to kill its sessions and exit.
    pub fn stop(&mut self) -> Result<(), ForkerError> {
        let msg = ForkerRequest {
            kind: Some(forker_request::Kind::Stop(
                crate::proto::forker::StopForker {},
            )),
        };
        Ok(write_frame(&mut self.link, &msg)?)
    }
}

/// Threads of this process, from /proc (fork is only safe with one).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}

/// Forks the forker. Must run before the process creates any thread.
pub fn spawn() -> Result<ForkerHandle, ForkerError> {
    let threads = thread_count();
    if threads > 1 {
        return Err(ForkerError::Threaded(threads));
    }
    let (parent_end, child_end) = UnixStream::pair().map_err(ForkerError::Link)?;
    let parent = nix::unistd::getpid();
    // SAFETY: the process is single-threaded (checked above), so the child
    // gets a consistent copy of every lock and allocator state.
    match unsafe { nix::unistd::fork() }.map_err(ForkerError::Fork)? {
        ForkResult::Parent { child } => Ok(ForkerHandle::new(parent_end, child)),
        ForkResult::Child => {
            drop(parent_end);
            let code = match run(child_end, parent) {
                Ok(()) => 0,
                Err(e) => {
                    tracing::error!(error = %e, "forker failed");
                    1
                }
            };
            std::process::exit(code);
        }
    }
}

/// Terminal and service-manager signals are for the parent alone: the forker
/// and its sessions stop when the parent tells them (or dies).
fn ignore_stop_signals() {
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: installing SIG_IGN runs no handler code; no other thread exists.
        unsafe {
            let _ = nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigIgn);
        }
    }
}

fn run(mut link: UnixStream, parent: Pid) -> Result<(), ForkerError> {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // The parent may have died before the death signal was armed.
    if nix::unistd::getppid() != parent {
        return Err(ForkerError::Orphaned);
    }
    ignore_stop_signals();
    let (sigchld_rx, sigchld_tx) = UnixStream::pair().map_err(ForkerError::Link)?;
    // The write end goes to the signal handler; its number stays known so
    // a session can close it.
    let inherited = Inherited {
        link: link.as_raw_fd(),
        sigchld_rx: sigchld_rx.as_raw_fd(),
        sigchld_tx: sigchld_tx.as_raw_fd(),
    };
    signal_hook::low_level::pipe::register(libc::SIGCHLD, sigchld_tx).map_err(ForkerError::Link)?;
    let mut children: Vec<Pid> = Vec::new();
    tracing::info!(pid = std::process::id(), "forker started");
    loop {
        let (link_ready, sigchld_ready) = {
            let mut fds = [
                PollFd::new(link.as_fd(), PollFlags::POLLIN),
                PollFd::new(sigchld_rx.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::from(1000u16)) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(ForkerError::Link(e.into())),
            }
            let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]))
        };
        if sigchld_ready {
            let mut drain = [0u8; 64];
            let _ = std::io::Read::read(&mut &sigchld_rx, &mut drain);
        }
        // Reap on every wake: a SIGCHLD may have been coalesced.
        reap(&mut link, &mut children)?;
        if !link_ready {
            continue;
        }
        let request: Option<ForkerRequest> = read_frame(&mut link)?;
        match request.and_then(|r| r.kind) {
            None | Some(forker_request::Kind::Stop(_)) => {
                tracing::info!(sessions = children.len(), "forker stopping");
                for child in &children {
                    let _ = kill(*child, Signal::SIGKILL);
                }
                for child in &children {
                    let _ = waitpid(*child, None);
                }
                return Ok(());
            }
            Some(forker_request::Kind::Fork(fork)) => {
                let reply = fork_session(fork, &inherited, &mut children);
                write_frame(&mut link, &reply)?;
            }
        }
    }
}

/// The forker's descriptors a forked session must not keep: its link to the
/// parent and both ends of its SIGCHLD pipe.
struct Inherited {
    link: RawFd,
    sigchld_rx: RawFd,
    sigchld_tx: RawFd,
}

impl Inherited {
    /// In the session: closes them and stops handling SIGCHLD the forker's way.
    fn drop_in_child(&self) {
        // SAFETY: restoring the default disposition runs no code of ours;
        // the child is single-threaded (the forker never starts a thread).
        unsafe {
            let _ = nix::sys::signal::signal(Signal::SIGCHLD, nix::sys::signal::SigHandler::SigDfl);
        }
        for fd in [self.link, self.sigchld_rx, self.sigchld_tx] {
            // The forker's objects owning these are never dropped here: the
            // session ends in process::exit, so each is closed exactly once.
            let _ = nix::unistd::close(fd);
        }
    }
}

fn fork_session(fork: ForkSession, inherited: &Inherited, children: &mut Vec<Pid>) -> ForkerReply {
    let Some(spec) = fork.spec else {
        return ForkerReply {
            kind: Some(forker_reply::Kind::Failed(ForkFailed {
                request_id: fork.request_id,
                drive: String::new(),
                error: "fork request without a session spec".into(),
            })),
        };
    };
    let drive = spec.drive.clone();
    let forker = nix::unistd::getpid();
    // SAFETY: the forker is single-threaded: it never starts a thread.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            // The session must not hold the forker's link or SIGCHLD pipe.
            inherited.drop_in_child();
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            // The forker may have died before the death signal was armed.
            if nix::unistd::getppid() != forker {
                std::process::exit(1);
            }
            let code = crate::session::run(spec);
            std::process::exit(code);
        }
        Ok(ForkResult::Parent { child }) => {
            children.push(child);
            tracing::info!(drive = %drive, pid = child.as_raw(), "session forked");
            ForkerReply {
                kind: Some(forker_reply::Kind::Forked(SessionForked {
                    request_id: fork.request_id,
                    drive,
                    pid: child.as_raw(),
                })),
            }
        }
        Err(e) => ForkerReply {
            kind: Some(forker_reply::Kind::Failed(ForkFailed {
                request_id: fork.request_id,
                drive,
                error: format!("fork failed: {e}"),
            })),
        },
    }
}

/// Reaps every finished session and reports how it ended.
fn reap(link: &mut UnixStream, children: &mut Vec<Pid>) -> Result<(), ForkerError> {
    loop {
        let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(()),
            Ok(status) => status,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(ForkerError::Link(e.into())),
        };
        let kind = match status {
            WaitStatus::Exited(pid, code) => {
                children.retain(|c| *c != pid);
                forker_reply::Kind::Exited(SessionExited {
                    pid: pid.as_raw(),
                    code,
                })
            }
            WaitStatus::Signaled(pid, signal, _) => {
                children.retain(|c| *c != pid);
                forker_reply::Kind::Killed(SessionKilled {
                    pid: pid.as_raw(),
                    signal: signal as i32,
                })
            }
            _ => continue,
        };
        write_frame(link, &ForkerReply { kind: Some(kind) })?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_forked(link: &mut UnixStream, request_id: u64, drive: &str) {
        let reply = ForkerReply {
            kind: Some(forker_reply::Kind::Forked(SessionForked {
                request_id,
                drive: drive.into(),
                pid: 42,
            })),
        };
        write_frame(link, &reply).unwrap();
    }

    #[test]
    fn a_fork_reply_must_answer_a_pending_request_for_its_drive() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let mut handle = ForkerHandle::new(ours, Pid::from_raw(1));
        let spec = SessionSpec {
            drive: "d0".into(),
            ..Default::default()
        };
        handle.fork_session(spec).unwrap();
        let asked: ForkerRequest = read_frame(&mut theirs).unwrap().unwrap();
        let Some(forker_request::Kind::Fork(fork)) = asked.kind else {
            panic!("a fork request");
        };
        reply_forked(&mut theirs, fork.request_id + 1, "d0");
        assert!(matches!(
            handle.read_event(),
            Err(ForkerError::Unexpected(m)) if m.contains("not pending")
        ));
        reply_forked(&mut theirs, fork.request_id, "d0");
        assert_eq!(
            handle.read_event().unwrap(),
            Some(ForkerEvent::Forked {
                drive: "d0".into(),
                pid: 42
            })
        );
        reply_forked(&mut theirs, fork.request_id, "d0");
        assert!(handle.read_event().is_err(), "a request is answered once");
        drop(theirs);
        assert_eq!(handle.read_event().unwrap(), None, "the forker is gone");
    }
}
