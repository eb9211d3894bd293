//! The client of the admin channel (tpstat, tpconfig, tplabel, readtp):
//! one method per request, each checking that the reply answers it.

use std::time::Duration;

use super::client::{ClientError, next_request_id, request_answered};
use crate::proto::admin::{
    AdminReply, AdminRequest, CloseMount, ConfigureDrive, DriveStatus, LabelTape, ListDrives,
    ListMounts, MountInfo, ReadTape, admin_reply, admin_request,
};

pub struct AdminClient {
    endpoint: String,
    timeout: Duration,
    /// Label and readtp answer when their session ends.
    operation_timeout: Duration,
}

fn name(kind: &admin_reply::Kind) -> &'static str {
    match kind {
        admin_reply::Kind::Error(_) => "an error",
        admin_reply::Kind::Drives(_) => "a drive list",
        admin_reply::Kind::Done(_) => "a done reply",
        admin_reply::Kind::Mounts(_) => "a mount list",
    }
}

macro_rules! expect {
    ($reply:expr, $variant:ident, $expected:literal) => {
        match $reply {
            admin_reply::Kind::$variant(value) => Ok(value),
            other => Err(ClientError::Unexpected {
                expected: $expected,
                got: name(&other),
            }),
        }
    };
}

impl AdminClient {
    pub fn new(endpoint: &str, timeout: Duration, operation_timeout: Duration) -> Self {
        Self {
            endpoint: endpoint.to_string(),
            timeout,
            operation_timeout,
        }
    }

    fn call(
        &self,
        kind: admin_request::Kind,
        timeout: Duration,
    ) -> Result<admin_reply::Kind, ClientError> {
        let request_id = next_request_id();
        let req = AdminRequest {
            request_id,
            kind: Some(kind),
        };
        let reply: AdminReply = request_answered(
            &self.endpoint,
            super::client::SERVICE_ADMIN,
            timeout,
            &req,
            request_id,
            |r: &AdminReply| r.request_id,
        )?;
        match reply.kind {
            Some(admin_reply::Kind::Error(e)) => Err(ClientError::Refused(e.into())),
            Some(kind) => Ok(kind),
            None => Err(ClientError::Empty),
        }
    }

    pub fn drives(&self) -> Result<Vec<DriveStatus>, ClientError> {
        let reply = self.call(admin_request::Kind::ListDrives(ListDrives {}), self.timeout)?;
        expect!(reply, Drives, "list drives").map(|l| l.drives)
    }

    pub fn configure(&self, drive: &str, up: bool) -> Result<String, ClientError> {
        let reply = self.call(
            admin_request::Kind::ConfigureDrive(ConfigureDrive {
                drive: drive.to_string(),
                up,
            }),
            self.timeout,
        )?;
        expect!(reply, Done, "configure drive")
    }

    pub fn label(
        &self,
        drive: &str,
        vid: &str,
        force: bool,
        new: Option<(String, u64)>,
    ) -> Result<String, ClientError> {
        let (pool, capacity) = new.unwrap_or_default();
        let request = LabelTape {
            drive: drive.to_string(),
            vid: vid.to_string(),
            force,
            pool,
            capacity,
        };
        // A drive waiting for the library to say what it holds (the daemon
        // just started, a session just ended) is free in a moment: asked
        // again until it is, for as long as a request may take.
        let deadline = std::time::Instant::now() + self.timeout;
        let reply = loop {
            match self.call(
                admin_request::Kind::LabelTape(request.clone()),
                self.operation_timeout,
            ) {
                Err(ClientError::Refused(r))
                    if r.code == super::refusal::ErrorCode::Unavailable
                        && r.message.contains("waiting for the library")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => break other?,
            }
        };
        expect!(reply, Done, "label")
    }

    pub fn readtp(
        &self,
        vid: &str,
        first_fseq: u64,
        last_fseq: u64,
        dest_dir: &str,
    ) -> Result<String, ClientError> {
        let reply = self.call(
            admin_request::Kind::ReadTape(ReadTape {
                vid: vid.to_string(),
                first_fseq,
                last_fseq,
                dest_dir: dest_dir.to_string(),
            }),
            self.operation_timeout,
        )?;
        expect!(reply, Done, "readtp")
    }

    pub fn mounts(&self) -> Result<Vec<MountInfo>, ClientError> {
        let reply = self.call(admin_request::Kind::ListMounts(ListMounts {}), self.timeout)?;
        expect!(reply, Mounts, "list mounts").map(|m| m.mounts)
    }

    pub fn close_mount(&self, mount_id: u64) -> Result<String, ClientError> {
        let reply = self.call(
            admin_request::Kind::CloseMount(CloseMount { mount_id }),
            self.timeout,
        )?;
        expect!(reply, Done, "close mount")
    }
}
