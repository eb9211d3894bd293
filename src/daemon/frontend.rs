//! The frontend thread: serves stager requests on its ZMQ ROUTER socket.
//! Every request is checked before anything is queued (an archive of ten
//! paths with one bad path queues nothing); garbage gets an error reply
//! and the thread keeps serving.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prost::Message;

use super::messages::{LoopWaker, ToLoop};
use crate::messaging::refusal::{ErrorCode, Refusal};
use crate::proto::stager::{self, StagerReply, StagerRequest, stager_reply, stager_request};
use crate::scheduler::{LOCAL_OWNER, StagerRequests};

pub(super) mod checks;
mod listings;
mod staging;

pub use checks::{check_archive_source, check_recall_destination};

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
    /// The storage class of an archive that names neither a pool nor a
    /// class (`[scheduler] default_class`; None: the default pool).
    pub default_class: Option<String>,
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
    /// `[scheduler] default_class`.
    pub default_class: Option<String>,
}

impl AllRoots {
    /// The roots a config gives: `[paths]`, and each client's own (its
    /// `[paths]` default where it names none).
    pub fn of(config: &crate::config::Config) -> Self {
        let paths = &config.paths;
        let default_class = config.scheduler.default_class.clone();
        Self {
            archive: paths.archive_roots.clone(),
            recall: paths.recall_roots.clone(),
            default_class: default_class.clone(),
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
                        default_class: default_class.clone(),
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
            let reply = self.answer(body, client.as_deref());
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
                default_class: self.roots.default_class.clone(),
            }),
            Some(name) => self.roots.clients.get(name).cloned().ok_or_else(|| {
                Refusal::new(
                    ErrorCode::PermissionDenied,
                    format!("client {name} has no roots here"),
                )
            }),
        }
    }

    /// The reply to one request body from `client` (its CURVE name; None
    /// on a local endpoint). Never fails: a bad request gets a refusal.
    pub fn answer(&mut self, body: &[u8], client: Option<&str>) -> StagerReply {
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
            stager_request::Kind::Delete(req) => self
                .delete(req, &roots.owner)
                .map(stager_reply::Kind::Delete),
            stager_request::Kind::PathStatus(req) => self
                .path_status(req, roots)
                .map(stager_reply::Kind::PathStatus),
            stager_request::Kind::Evict(req) => {
                self.evict(req, roots).map(stager_reply::Kind::Evict)
            }
            stager_request::Kind::BulkStage(req) => self
                .bulk_stage(req, roots)
                .map(stager_reply::Kind::BulkStage),
            stager_request::Kind::StageStatus(req) => self
                .stage_status(req, roots)
                .map(stager_reply::Kind::StageStatus),
            stager_request::Kind::StageCancel(req) => self
                .stage_cancel(req, roots)
                .map(stager_reply::Kind::StageCancel),
            stager_request::Kind::StageDelete(req) => self
                .stage_delete(req, roots)
                .map(stager_reply::Kind::StageDelete),
            stager_request::Kind::StageRelease(req) => self
                .stage_release(req, roots)
                .map(stager_reply::Kind::StageRelease),
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
            .map(|p| check_archive_source(p, &roots.archive, &roots.owner))
            .collect::<Result<Vec<_>, _>>()?;
        let class = match (
            &roots.default_class,
            req.pool.is_empty(),
            req.class.is_empty(),
        ) {
            (Some(default), true, true) => default.clone(),
            _ => req.class.clone(),
        };
        let ids = if class.is_empty() {
            self.db.queue_archive(&files, pool)?
        } else if !req.pool.is_empty() {
            return Err(Refusal::invalid_argument(
                "give a pool or a storage class, not both",
            ));
        } else {
            self.db.queue_archive_class(&files, &class)?
        };
        tracing::info!(files = ids.len(), pool, class = %class, "archive requests queued");
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
        let dest = check_recall_destination(&req.destination, &roots.recall)?;
        let ticket = self.db.queue_recall(&roots.owner, req.file_id, &dest)?;
        tracing::info!(file_id = req.file_id, recall = ticket.recall_id, vid = %ticket.vid, fseq = ticket.fseq, "recall queued");
        self.wake_loop.send(ToLoop::WorkQueued);
        Ok(stager::RecallReply {
            recall_id: ticket.recall_id,
            vid: ticket.vid,
            fseq: ticket.fseq,
        })
    }
}

fn canonical_roots(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots
        .iter()
        .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
        .collect()
}
