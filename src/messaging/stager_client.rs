//! The client of the stager channel: one method per request, each checking
//! that the reply answers it (same request id, the matching kind) and
//! turning a refusal into `ClientError::Refused` with its code.

use std::time::Duration;

use super::client::{ClientError, next_request_id, request_answered};
use crate::proto::stager::{
    ArchiveReply, ArchiveRequest, BulkStageRequest, DeleteRequest, EvictRequest, EvictResult,
    FileStatus, LsTapeReply, LsTapeRequest, PathStatus, PathStatusRequest, RecallReply,
    RecallRequest, RecallStatus, RecallStatusRequest, StageCancelRequest, StageDeleteRequest,
    StageFile, StageReleaseRequest, StageStatusReply, StageStatusRequest, StagerReply,
    StagerRequest, StatusRequest, TapeInfo, TapesRequest, stager_reply, stager_request,
};

/// Paths one request may name (files by path, evict, stage): a stage of a
/// whole dataset is one call.
pub const MAX_PATHS: usize = 100_000;

/// A stager client holds the daemons' endpoints and tries them in turn: a
/// request that was never delivered goes to the next one; a read that got
/// no answer too; a request that queues work and got no answer does not
/// (it may have been queued: retrying elsewhere could queue it twice).
pub struct StagerClient {
    endpoints: Vec<String>,
    timeout: Duration,
}

fn name(kind: &stager_reply::Kind) -> &'static str {
    match kind {
        stager_reply::Kind::Error(_) => "an error",
        stager_reply::Kind::Archive(_) => "an archive reply",
        stager_reply::Kind::Recall(_) => "a recall reply",
        stager_reply::Kind::Status(_) => "a status reply",
        stager_reply::Kind::Tapes(_) => "a tapes reply",
        stager_reply::Kind::LsTape(_) => "an ls-tape reply",
        stager_reply::Kind::RecallStatus(_) => "a recall status reply",
        stager_reply::Kind::Delete(_) => "a delete reply",
        stager_reply::Kind::PathStatus(_) => "a path status reply",
        stager_reply::Kind::Evict(_) => "an evict reply",
        stager_reply::Kind::BulkStage(_) => "a stage reply",
        stager_reply::Kind::StageStatus(_) => "a stage status reply",
        stager_reply::Kind::StageCancel(_) => "a stage cancel reply",
        stager_reply::Kind::StageDelete(_) => "a stage delete reply",
        stager_reply::Kind::StageRelease(_) => "a release reply",
    }
}

/// Unwraps the reply kind a request expects, or says what came instead.
macro_rules! expect {
    ($reply:expr, $variant:ident, $expected:literal) => {
        match $reply {
            stager_reply::Kind::$variant(value) => Ok(value),
            other => Err(ClientError::Unexpected {
                expected: $expected,
                got: name(&other),
            }),
        }
    };
}

impl StagerClient {
    pub fn new(endpoint: &str, timeout: Duration) -> Self {
        Self::with_endpoints(vec![endpoint.to_string()], timeout)
    }

    pub fn with_endpoints(endpoints: Vec<String>, timeout: Duration) -> Self {
        Self { endpoints, timeout }
    }

    fn call(&self, kind: stager_request::Kind) -> Result<stager_reply::Kind, ClientError> {
        let queues_work = matches!(
            kind,
            stager_request::Kind::Archive(_)
                | stager_request::Kind::Recall(_)
                | stager_request::Kind::BulkStage(_)
                | stager_request::Kind::Evict(_)
        );
        let request_id = next_request_id();
        let req = StagerRequest {
            request_id,
            kind: Some(kind),
        };
        let mut last = ClientError::Empty;
        let mut answered = None;
        for endpoint in &self.endpoints {
            match request_answered(
                &endpoint.clone(),
                super::client::SERVICE_STAGER,
                self.timeout,
                &req,
                request_id,
                |r: &StagerReply| r.request_id,
            ) {
                Ok(reply) => {
                    answered = Some(reply);
                    break;
                }
                Err(e)
                    if e.undelivered()
                        || (!queues_work && matches!(e, ClientError::Timeout { .. })) =>
                {
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        let reply: StagerReply = match answered {
            Some(reply) => reply,
            None => return Err(last),
        };
        match reply.kind {
            Some(stager_reply::Kind::Error(e)) => Err(ClientError::Refused(e.into())),
            Some(kind) => Ok(kind),
            None => Err(ClientError::Empty),
        }
    }

    /// Queues `paths` for migration: to `pool` (empty: the default pool) or,
    /// `class` given, as that storage class's copies.
    pub fn archive(
        &self,
        paths: Vec<String>,
        pool: String,
        class: String,
    ) -> Result<ArchiveReply, ClientError> {
        let reply = self.call(stager_request::Kind::Archive(ArchiveRequest {
            paths,
            pool,
            class,
        }))?;
        expect!(reply, Archive, "archive")
    }

    pub fn recall(&self, file_id: u64, destination: String) -> Result<RecallReply, ClientError> {
        let reply = self.call(stager_request::Kind::Recall(RecallRequest {
            file_id,
            destination,
        }))?;
        expect!(reply, Recall, "recall")
    }

    /// Files by id; no ids: every file. Long lists go as several requests:
    /// the server answers at most 1000 ids, or one page, per request.
    pub fn status(&self, file_ids: &[u64]) -> Result<Vec<FileStatus>, ClientError> {
        if !file_ids.is_empty() {
            let mut files = Vec::with_capacity(file_ids.len());
            for chunk in file_ids.chunks(IDS_PER_REQUEST) {
                let reply = self.call(stager_request::Kind::Status(StatusRequest {
                    file_ids: chunk.to_vec(),
                    ..Default::default()
                }))?;
                files.extend(expect!(reply, Status, "status")?.files);
            }
            return Ok(files);
        }
        let mut files = Vec::new();
        let mut after = 0;
        loop {
            let reply = self.call(stager_request::Kind::Status(StatusRequest {
                after_id: after,
                ..Default::default()
            }))?;
            let page = expect!(reply, Status, "status")?;
            files.extend(page.files);
            match next_page(after, page.next_after) {
                Some(next) => after = next,
                None => return Ok(files),
            }
        }
    }

    /// Recalls by id; no ids: every recall, page by page.
    pub fn recalls(&self, recall_ids: &[u64]) -> Result<Vec<RecallStatus>, ClientError> {
        if !recall_ids.is_empty() {
            let mut recalls = Vec::with_capacity(recall_ids.len());
            for chunk in recall_ids.chunks(IDS_PER_REQUEST) {
                let reply = self.call(stager_request::Kind::RecallStatus(RecallStatusRequest {
                    recall_ids: chunk.to_vec(),
                    ..Default::default()
                }))?;
                recalls.extend(expect!(reply, RecallStatus, "recall status")?.recalls);
            }
            return Ok(recalls);
        }
        let mut recalls = Vec::new();
        let mut after = 0;
        loop {
            let reply = self.call(stager_request::Kind::RecallStatus(RecallStatusRequest {
                after_id: after,
                ..Default::default()
            }))?;
            let page = expect!(reply, RecallStatus, "recall status")?;
            recalls.extend(page.recalls);
            match next_page(after, page.next_after) {
                Some(next) => after = next,
                None => return Ok(recalls),
            }
        }
    }

    /// Deletes files (their ids, a deleted one included, come back); long
    /// lists go as several requests.
    pub fn delete(&self, file_ids: &[u64]) -> Result<Vec<u64>, ClientError> {
        let mut deleted = Vec::with_capacity(file_ids.len());
        for chunk in file_ids.chunks(IDS_PER_REQUEST) {
            let reply = self.call(stager_request::Kind::Delete(DeleteRequest {
                file_ids: chunk.to_vec(),
            }))?;
            deleted.extend(expect!(reply, Delete, "delete")?.file_ids);
        }
        Ok(deleted)
    }

    /// Files by path, with whether each disk copy is there.
    pub fn path_status(&self, paths: Vec<String>) -> Result<Vec<PathStatus>, ClientError> {
        let reply = self.call(stager_request::Kind::PathStatus(PathStatusRequest {
            paths,
        }))?;
        expect!(reply, PathStatus, "path status").map(|r| r.paths)
    }

    /// Drops the disk copies of files on tape and not pinned.
    pub fn evict(&self, paths: Vec<String>) -> Result<Vec<EvictResult>, ClientError> {
        let reply = self.call(stager_request::Kind::Evict(EvictRequest { paths }))?;
        expect!(reply, Evict, "evict").map(|r| r.results)
    }

    /// A bulk stage request for `requester`; its id.
    pub fn bulk_stage(
        &self,
        files: Vec<StageFile>,
        requester: &str,
    ) -> Result<String, ClientError> {
        let reply = self.call(stager_request::Kind::BulkStage(BulkStageRequest {
            files,
            requester: requester.to_string(),
        }))?;
        expect!(reply, BulkStage, "stage").map(|r| r.id)
    }

    pub fn stage_status(&self, id: &str, requester: &str) -> Result<StageStatusReply, ClientError> {
        let reply = self.call(stager_request::Kind::StageStatus(StageStatusRequest {
            id: id.to_string(),
            requester: requester.to_string(),
        }))?;
        expect!(reply, StageStatus, "stage status")
    }

    pub fn stage_cancel(
        &self,
        id: &str,
        requester: &str,
        paths: Vec<String>,
    ) -> Result<(), ClientError> {
        let reply = self.call(stager_request::Kind::StageCancel(StageCancelRequest {
            id: id.to_string(),
            requester: requester.to_string(),
            paths,
        }))?;
        expect!(reply, StageCancel, "stage cancel").map(|_| ())
    }

    pub fn stage_delete(&self, id: &str, requester: &str) -> Result<(), ClientError> {
        let reply = self.call(stager_request::Kind::StageDelete(StageDeleteRequest {
            id: id.to_string(),
            requester: requester.to_string(),
        }))?;
        expect!(reply, StageDelete, "stage delete").map(|_| ())
    }

    pub fn stage_release(
        &self,
        id: &str,
        requester: &str,
        paths: Vec<String>,
    ) -> Result<(), ClientError> {
        let reply = self.call(stager_request::Kind::StageRelease(StageReleaseRequest {
            id: id.to_string(),
            requester: requester.to_string(),
            paths,
        }))?;
        expect!(reply, StageRelease, "release").map(|_| ())
    }

    pub fn tapes(&self) -> Result<Vec<TapeInfo>, ClientError> {
        let reply = self.call(stager_request::Kind::Tapes(TapesRequest {}))?;
        expect!(reply, Tapes, "tapes").map(|t| t.tapes)
    }

    /// Every file of a tape, page by page.
    pub fn ls_tape(&self, vid: &str) -> Result<LsTapeReply, ClientError> {
        let mut all = LsTapeReply {
            vid: vid.to_string(),
            ..Default::default()
        };
        let mut after = 0;
        loop {
            let reply = self.call(stager_request::Kind::LsTape(LsTapeRequest {
                vid: vid.to_string(),
                after_fseq: after,
                ..Default::default()
            }))?;
            let page = expect!(reply, LsTape, "ls-tape")?;
            all.files.extend(page.files);
            match next_page(after, page.next_after) {
                Some(next) => after = next,
                None => return Ok(all),
            }
        }
    }
}

/// Ids per status request (the server's cap).
const IDS_PER_REQUEST: usize = 1000;

/// Where the next page starts; None when the listing is done (or a server
/// answers a page that does not move forward, which would loop forever).
fn next_page(after: u64, next_after: u64) -> Option<u64> {
    (next_after > after).then_some(next_after)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::messaging::refusal::ErrorCode;
    use crate::proto::errors::Error as WireError;

    /// A server on a temporary socket that answers each request with
    /// `answer(request)`.
    fn serve(
        answer: impl Fn(StagerRequest) -> StagerReply + Send + 'static,
    ) -> (tempfile::TempDir, String) {
        let tmp = tempfile::tempdir().unwrap();
        let endpoint = format!("ipc://{}", tmp.path().join("stager.sock").display());
        let ctx = zmq::Context::new();
        let router = ctx.socket(zmq::ROUTER).unwrap();
        router.bind(&endpoint).unwrap();
        std::thread::spawn(move || {
            let _ctx = ctx;
            while let Ok(mut frames) = router.recv_multipart(0) {
                let Some(body) = frames.pop() else { continue };
                let request = StagerRequest::decode(body.as_slice()).unwrap();
                frames.push(answer(request).encode_to_vec());
                let _ = router.send_multipart(frames, 0);
            }
        });
        (tmp, endpoint)
    }

    fn tapes(request_id: u64) -> StagerReply {
        StagerReply {
            request_id,
            kind: Some(stager_reply::Kind::Tapes(Default::default())),
            service: crate::messaging::client::SERVICE_STAGER.into(),
        }
    }

    /// Pointed at the admin socket, a stager says so (the reply names its
    /// service) instead of failing to decode it.
    #[test]
    fn a_reply_from_another_service_is_named() {
        let (_tmp, endpoint) = serve(|r| {
            let mut reply = tapes(r.request_id);
            reply.service = crate::messaging::client::SERVICE_ADMIN.into();
            reply
        });
        let err = StagerClient::new(&endpoint, Duration::from_secs(10))
            .tapes()
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("is the daemon's admin socket (tpstat, tpconfig, tplabel, readtp), not the daemon's stager socket (stager): check the endpoint"),
            "{err}"
        );
    }

    #[test]
    fn an_answer_to_another_request_is_an_error() {
        let (_tmp, endpoint) = serve(|r| tapes(r.request_id + 1));
        let client = StagerClient::new(&endpoint, Duration::from_secs(10));
        assert!(matches!(
            client.tapes(),
            Err(ClientError::WrongRequest { .. })
        ));
    }

    #[test]
    fn an_answer_of_another_kind_is_an_error_naming_both() {
        let (_tmp, endpoint) = serve(|r| tapes(r.request_id));
        let client = StagerClient::new(&endpoint, Duration::from_secs(10));
        assert!(client.tapes().is_ok());
        let err = client.status(&[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tapeserverd answered a status request with a tapes reply"
        );
    }

    #[test]
    fn a_refusal_keeps_its_code_and_sentence() {
        let (_tmp, endpoint) = serve(|r| StagerReply {
            request_id: r.request_id,
            kind: Some(stager_reply::Kind::Error(WireError {
                code: ErrorCode::NotFound as i32,
                message: "no file with id 9".into(),
                subject: String::new(),
            })),
            service: String::new(),
        });
        let client = StagerClient::new(&endpoint, Duration::from_secs(10));
        match client.recall(9, "/x".into()) {
            Err(ClientError::Refused(r)) => {
                assert_eq!(
                    (r.code, r.message.as_str()),
                    (ErrorCode::NotFound, "no file with id 9")
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
