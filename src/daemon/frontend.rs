//! The frontend thread: serves stager requests on its ZMQ ROUTER socket.
//! Every request is checked before anything is queued (an archive of ten
//! paths with one bad path queues nothing); garbage gets an error reply
//! and the thread keeps serving.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prost::Message;

use super::messages::{LoopWaker, ToLoop};
use crate::messaging::refusal::{ErrorCode, Refusal};
use crate::proto::stager::{self, StagerReply, StagerRequest, stager_reply, stager_request};
use crate::scheduler::{LOCAL_OWNER, NewArchiveFile, Page, Permissions, StagerRequests};

pub const DEFAULT_POOL: &str = "default";

/// Where one client may archive from and recall into, and whose files it
/// sees.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    pub archive: Vec<PathBuf>,
    pub recall: Vec<PathBuf>,
    /// The owner of what it archives; it sees and recalls only that
    /// owner's files.
    pub owner: String,
}

/// Every root the frontend holds requests to: the config's (`[paths]`, for
/// local stagers) and each CURVE client's.
#[derive(Debug, Clone, Default)]
pub struct AllRoots {
    pub archive: Vec<PathBuf>,
    pub recall: Vec<PathBuf>,
    /// Per CURVE client (by the name its key was accepted under): its own
    /// roots. A request from a named client not listed here is refused.
    pub clients: std::collections::HashMap<String, Roots>,
}

impl AllRoots {
    /// The roots a config gives: `[paths]`, and each client's own (its
    /// `[paths]` default where it names none).
    pub fn of(config: &crate::config::Config) -> Self {
        let paths = &config.paths;
        Self {
            archive: paths.archive_roots.clone(),
            recall: paths.recall_roots.clone(),
            clients: config
                .security
                .clients
                .iter()
                .map(|c| {
                    let roots = Roots {
                        archive: c
                            .archive_roots
                            .clone()
                            .unwrap_or_else(|| paths.archive_roots.clone()),
                        recall: c
                            .recall_roots
                            .clone()
                            .unwrap_or_else(|| paths.recall_roots.clone()),
                        owner: c.owner().to_string(),
                    };
                    (c.name.clone(), roots)
                })
                .collect(),
        }
    }

    /// Compared canonically, so symlinks and `..` cannot escape them.
    fn canonical(mut self) -> Self {
        self.archive = canonical_roots(&self.archive);
        self.recall = canonical_roots(&self.recall);
        for roots in self.clients.values_mut() {
            roots.archive = canonical_roots(&roots.archive);
            roots.recall = canonical_roots(&roots.recall);
        }
        self
    }
}

pub struct Frontend {
    pub socket: zmq::Socket,
    pub db: Box<dyn StagerRequests>,
    pub roots: AllRoots,
    /// New roots after a reload (SIGHUP), taken between requests.
    pub new_roots: crossbeam_channel::Receiver<AllRoots>,
    /// Tells the loop that work was queued.
    pub wake_loop: LoopWaker,
    pub stop: Arc<AtomicBool>,
    /// Logs of undecodable requests, at most one a second.
    pub bad_input: crate::util::Throttle,
}

/// The loop's handle on the frontend thread: stopped by a flag it checks
/// between polls, joined at shutdown; given new roots on a reload.
pub struct FrontendHandle {
    stop: Arc<AtomicBool>,
    roots: crossbeam_channel::Sender<AllRoots>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FrontendHandle {
    /// Starts the thread "frontend"; `roots` feeds its `new_roots`.
    pub fn spawn(
        frontend: Frontend,
        roots: crossbeam_channel::Sender<AllRoots>,
    ) -> std::io::Result<Self> {
        let stop = frontend.stop.clone();
        let thread = std::thread::Builder::new()
            .name("frontend".into())
            .spawn(move || frontend.run())?;
        Ok(Self {
            stop,
            roots,
            thread: Some(thread),
        })
    }

    /// The roots after a reload: requests from now on are held to them.
    pub fn set_roots(&self, roots: AllRoots) {
        if self.roots.send(roots).is_err() {
            tracing::error!("the frontend thread is gone: new roots not applied");
        }
    }

    /// Stops serving stagers and waits for the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the frontend thread panicked");
        }
    }
}

impl Frontend {
    pub fn run(mut self) {
        self.roots = std::mem::take(&mut self.roots).canonical();
        while !self.stop.load(Ordering::Relaxed) {
            let ready = self.socket.poll(zmq::POLLIN, 200);
            // Taken before the request: one that arrives after a reload is
            // held to the new roots.
            if let Some(roots) = self.new_roots.try_iter().last() {
                self.roots = roots.canonical();
                tracing::info!(archive = ?self.roots.archive, recall = ?self.roots.recall, "new roots applied to stager requests");
            }
            match ready {
                Ok(0) => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "stager socket poll failed");
                    continue;
                }
            }
            let (frames, client) = match self.receive() {
                Ok(received) => received,
                Err(zmq::Error::EAGAIN) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "stager socket receive failed");
                    continue;
                }
            };
            // Envelope (identity, delimiter) then the body; echo the envelope back.
            let Some((body, envelope)) = frames.split_last() else {
                continue;
            };
            let reply = self.handle(body, client.as_deref());
            let mut out: Vec<Vec<u8>> = envelope.to_vec();
            out.push(reply.encode_to_vec());
            if let Err(e) = self.socket.send_multipart(out, zmq::DONTWAIT) {
                tracing::warn!(error = %e, "cannot send a stager reply");
            }
        }
    }

    /// One multipart message, and the name of the CURVE client that sent
    /// it (None on a local endpoint).
    fn receive(&self) -> Result<(Vec<Vec<u8>>, Option<String>), zmq::Error> {
        let mut frames = Vec::new();
        let mut client = None;
        loop {
            let mut msg =
                self.socket
                    .recv_msg(if frames.is_empty() { zmq::DONTWAIT } else { 0 })?;
            if client.is_none() {
                client = msg
                    .gets("User-Id")
                    .filter(|u| !u.is_empty())
                    .map(String::from);
            }
            frames.push(msg.to_vec());
            if !self.socket.get_rcvmore()? {
                return Ok((frames, client));
            }
        }
    }

    /// The roots a request may touch: its client's, or the config's for
    /// local stagers.
    fn roots(&self, client: Option<&str>) -> Result<Roots, Refusal> {
        match client {
            None => Ok(Roots {
                archive: self.roots.archive.clone(),
                recall: self.roots.recall.clone(),
                owner: LOCAL_OWNER.to_string(),
            }),
            Some(name) => self.roots.clients.get(name).cloned().ok_or_else(|| {
                Refusal::new(
                    ErrorCode::PermissionDenied,
                    format!("client {name} has no roots here"),
                )
            }),
        }
    }

    fn handle(&mut self, body: &[u8], client: Option<&str>) -> StagerReply {
        let (request_id, result) = match StagerRequest::decode(body) {
            Ok(StagerRequest {
                request_id,
                kind: Some(kind),
            }) => (
                request_id,
                self.roots(client)
                    .and_then(|roots| self.serve(kind, &roots)),
            ),
            Ok(StagerRequest {
                request_id,
                kind: None,
            }) => (request_id, Err(Refusal::invalid_request("empty request"))),
            Err(e) => {
                if let Some(suppressed) = self.bad_input.allow() {
                    tracing::warn!(bytes = body.len(), error = %e, suppressed, "undecodable stager request");
                }
                (
                    0,
                    Err(Refusal::invalid_request(format!(
                        "undecodable request: {e}"
                    ))),
                )
            }
        };
        // The catalogue failing (a full disk, a lost database) is the
        // server's problem, not the client's: the operator must hear of it.
        if let Err(e) = &result
            && matches!(e.code, ErrorCode::Unavailable | ErrorCode::Internal)
        {
            tracing::error!(request_id, error = %e, "cannot serve a stager request");
        }
        StagerReply {
            request_id,
            kind: Some(result.unwrap_or_else(|e| stager_reply::Kind::Error(e.into()))),
            service: crate::messaging::client::SERVICE_STAGER.into(),
        }
    }

    fn serve(
        &mut self,
        kind: stager_request::Kind,
        roots: &Roots,
    ) -> Result<stager_reply::Kind, Refusal> {
        match kind {
            stager_request::Kind::Archive(req) => {
                self.archive(req, roots).map(stager_reply::Kind::Archive)
            }
            stager_request::Kind::Recall(req) => {
                self.recall(req, roots).map(stager_reply::Kind::Recall)
            }
            stager_request::Kind::Status(req) => self
                .status(req, &roots.owner)
                .map(stager_reply::Kind::Status),
            stager_request::Kind::RecallStatus(req) => self
                .recall_status(req, &roots.owner)
                .map(stager_reply::Kind::RecallStatus),
            stager_request::Kind::Tapes(_) => self.tapes().map(stager_reply::Kind::Tapes),
            stager_request::Kind::LsTape(req) => self
                .ls_tape(req, &roots.owner)
                .map(stager_reply::Kind::LsTape),
        }
    }

    fn archive(
        &mut self,
        req: stager::ArchiveRequest,
        roots: &Roots,
    ) -> Result<stager::ArchiveReply, Refusal> {
        if req.paths.is_empty() {
            return Err(Refusal::invalid_request("no path to archive"));
        }
        let pool = if req.pool.is_empty() {
            DEFAULT_POOL
        } else {
            req.pool.as_str()
        };
        let files = req
            .paths
            .iter()
            .map(|p| check_archive_source(Path::new(p), &roots.archive, &roots.owner))
            .collect::<Result<Vec<_>, _>>()?;
        let ids = self.db.queue_archive(&files, pool)?;
        tracing::info!(files = ids.len(), pool, "archive requests queued");
        self.wake_loop.send(ToLoop::WorkQueued);
        Ok(stager::ArchiveReply {
            files: ids
                .into_iter()
                .zip(files)
                .map(|(file_id, f)| stager::ArchivedFile {
                    file_id,
                    path: f.path,
                    size: f.size,
                })
                .collect(),
        })
    }

    fn recall(
        &mut self,
        req: stager::RecallRequest,
        roots: &Roots,
    ) -> Result<stager::RecallReply, Refusal> {
        let dest = check_recall_destination(Path::new(&req.destination), &roots.recall)?;
        let ticket = self.db.queue_recall(&roots.owner, req.file_id, &dest)?;
        tracing::info!(file_id = req.file_id, recall = ticket.recall_id, vid = %ticket.vid, fseq = ticket.fseq, "recall queued");
        self.wake_loop.send(ToLoop::WorkQueued);
        Ok(stager::RecallReply {
            recall_id: ticket.recall_id,
            vid: ticket.vid,
            fseq: ticket.fseq,
        })
    }

    fn status(
        &mut self,
        req: stager::StatusRequest,
        owner: &str,
    ) -> Result<stager::StatusReply, Refusal> {
        let files = self.db.files_of(owner, &req.file_ids, Page::ALL)?;
        Ok(stager::StatusReply {
            files: files
                .into_iter()
                .map(|f| stager::FileStatus {
                    id: f.id,
                    state: crate::proto::stager::FileState::from(f.state) as i32,
                    vid: f.vid,
                    fseq: f.fseq,
                    error: f.error,
                    path: f.path,
                    size: f.size,
                    crc32c: f.crc32c,
                    block_id: f.block_id,
                })
                .collect(),
        })
    }

    fn recall_status(
        &mut self,
        req: stager::RecallStatusRequest,
        owner: &str,
    ) -> Result<stager::RecallStatusReply, Refusal> {
        let recalls = self.db.recalls_of(owner, &req.recall_ids, Page::ALL)?;
        Ok(stager::RecallStatusReply {
            recalls: recalls
                .into_iter()
                .map(|r| stager::RecallStatus {
                    id: r.id,
                    file_id: r.file_id,
                    destination: r.destination,
                    state: crate::proto::stager::RecallState::from(r.state) as i32,
                    error: r.error,
                    size: r.size,
                })
                .collect(),
        })
    }

    fn tapes(&mut self) -> Result<stager::TapesReply, Refusal> {
        let tapes = self.db.tapes()?;
        Ok(stager::TapesReply {
            tapes: tapes
                .into_iter()
                .map(|t| stager::TapeInfo {
                    vid: t.vid,
                    pool: t.pool,
                    state: crate::proto::stager::TapeState::from(t.state) as i32,
                    capacity: t.capacity,
                    bytes_used: t.bytes_used,
                    last_fseq: t.last_fseq,
                    files: t.files,
                    reason: t.reason,
                    read_mounts: t.read_mounts,
                    write_mounts: t.write_mounts,
                })
                .collect(),
        })
    }

    fn ls_tape(
        &mut self,
        req: stager::LsTapeRequest,
        owner: &str,
    ) -> Result<stager::LsTapeReply, Refusal> {
        let files = self.db.tape_files_of(owner, &req.vid, Page::ALL)?;
        Ok(stager::LsTapeReply {
            vid: req.vid,
            files: files
                .into_iter()
                .map(|f| stager::TapeFileInfo {
                    fseq: f.fseq,
                    block_id: f.block_id,
                    file_id: f.file_id,
                    size: f.size,
                    crc32c: f.crc32c,
                    path: f.path,
                })
                .collect(),
        })
    }
}

fn canonical_roots(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots
        .iter()
        .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
        .collect()
}

fn under_roots(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|root| path.starts_with(root))
}

/// "not under an allowed archive directory (the allowed: /a, /b; set by
/// the daemon's [paths] archive_roots, or this client's own)".
fn outside_roots(shown: &dyn std::fmt::Display, what: &str, roots: &[PathBuf]) -> Refusal {
    let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    Refusal::new(
        ErrorCode::PermissionDenied,
        format!(
            "{shown}: not under an allowed {what} directory (the allowed: {}; set by the daemon's [paths] {what}_roots, or this client's own in [[security.clients]])",
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        ),
    )
}

/// An archive source must be a readable regular file under an allowed root.
pub fn check_archive_source(
    path: &Path,
    roots: &[PathBuf],
    owner: &str,
) -> Result<NewArchiveFile, Refusal> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(Refusal::invalid_argument(format!(
            "{shown}: archive paths must be absolute"
        )));
    }
    let real = std::fs::canonicalize(path).map_err(|e| io_refusal(&shown, "", &e))?;
    if !under_roots(&real, roots) {
        return Err(outside_roots(&shown, "archive", roots));
    }
    // Opened without blocking: a FIFO is refused below, not waited on.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&real)
        .map_err(|e| io_refusal(&shown, "cannot be read: ", &e))?;
    let meta = file.metadata().map_err(|e| io_refusal(&shown, "", &e))?;
    if !meta.is_file() {
        return Err(Refusal::failed_precondition(format!(
            "{shown}: not a regular file"
        )));
    }
    let path = real
        .to_str()
        .ok_or_else(|| Refusal::invalid_argument(format!("{shown}: path is not valid UTF-8")))?
        .to_string();
    Ok(NewArchiveFile {
        path,
        size: meta.len(),
        owner: owner.to_string(),
        permissions: Some(Permissions {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        }),
    })
}

/// A recall destination must be a new file in an existing directory under an allowed root.
pub fn check_recall_destination(dest: &Path, roots: &[PathBuf]) -> Result<String, Refusal> {
    let shown = dest.display();
    if !dest.is_absolute() {
        return Err(Refusal::invalid_argument(format!(
            "{shown}: recall destinations must be absolute"
        )));
    }
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Err(Refusal::invalid_argument(format!(
            "{shown}: not a file path"
        )));
    };
    let real_dir = std::fs::canonicalize(dir).map_err(|e| io_refusal(&dir.display(), "", &e))?;
    if !real_dir.is_dir() {
        return Err(Refusal::invalid_argument(format!(
            "{}: not a directory",
            dir.display()
        )));
    }
    if !under_roots(&real_dir, roots) {
        return Err(outside_roots(&shown, "recall", roots));
    }
    let real = real_dir.join(name);
    if real.symlink_metadata().is_ok() {
        return Err(Refusal::new(
            ErrorCode::AlreadyExists,
            format!("{shown}: already exists (a recall never overwrites)"),
        ));
    }
    real.to_str()
        .map(str::to_string)
        .ok_or_else(|| Refusal::invalid_argument(format!("{shown}: path is not valid UTF-8")))
}

/// An I/O error as one sentence with the code it deserves.
fn io_refusal(shown: &impl std::fmt::Display, what: &str, e: &std::io::Error) -> Refusal {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            Refusal::not_found(format!("{shown}: {what}no such file or directory"))
        }
        std::io::ErrorKind::PermissionDenied => Refusal::new(
            ErrorCode::PermissionDenied,
            format!("{shown}: {what}permission denied"),
        ),
        _ => Refusal::invalid_argument(format!("{shown}: {what}{e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_sources_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let allowed = root.join("allowed");
        std::fs::create_dir(&allowed).unwrap();
        std::fs::write(allowed.join("f"), b"12345").unwrap();
        std::fs::write(root.join("outside"), b"x").unwrap();
        let roots = vec![allowed.clone()];
        assert_eq!(
            check_archive_source(&allowed.join("f"), &roots, "local")
                .unwrap()
                .size,
            5
        );
        let missing = check_archive_source(&allowed.join("nope"), &roots, "local").unwrap_err();
        assert!(missing.message.contains("no such file"), "{missing}");
        assert_eq!(missing.code, ErrorCode::NotFound);
        let outside =
            check_archive_source(&allowed.join("../outside"), &roots, "local").unwrap_err();
        assert!(
            outside.message.contains("not under an allowed"),
            "{outside}"
        );
        assert_eq!(outside.code, ErrorCode::PermissionDenied);
        std::os::unix::fs::symlink(root.join("outside"), allowed.join("link")).unwrap();
        assert!(
            check_archive_source(&allowed.join("link"), &roots, "local").is_err(),
            "symlinks cannot escape"
        );
        assert!(
            check_archive_source(&allowed, &roots, "local")
                .unwrap_err()
                .message
                .contains("not a regular file")
        );
        assert!(
            check_archive_source(Path::new("relative"), &roots, "local")
                .unwrap_err()
                .message
                .contains("absolute")
        );
    }

    #[test]
    fn recall_destinations_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let roots = vec![root.clone()];
        assert!(check_recall_destination(&root.join("new"), &roots).is_ok());
        std::fs::write(root.join("exists"), b"").unwrap();
        assert!(
            check_recall_destination(&root.join("exists"), &roots)
                .unwrap_err()
                .message
                .contains("already exists")
        );
        assert!(check_recall_destination(&root.join("nodir/new"), &roots).is_err());
        assert!(
            check_recall_destination(Path::new("/new"), &roots)
                .unwrap_err()
                .message
                .contains("not under")
        );
    }
}
