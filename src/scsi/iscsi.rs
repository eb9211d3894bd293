//! iSCSI through libiscsi, loaded when first needed (so building needs no
//! system package; a site exporting its library over iSCSI installs
//! `libiscsi7`). URLs are `iscsi://HOST[:PORT]/TARGET_IQN/LUN`.
//!
//! Only the synchronous calls are used, one context per transport, from
//! one thread at a time. Data-in goes straight into the caller's buffer
//! (so a CHECK CONDITION that also carries data, a tape read of a short
//! block, keeps both); the task's status, residual and data-in sit at fixed
//! offsets of libiscsi 1.19's `struct scsi_task` (checked against the
//! installed header in the tests); a CHECK CONDITION's sense arrives in the
//! task's own data-in after a 2-byte length.

use std::ffi::{CStr, CString, c_char, c_int, c_uchar, c_void};
use std::sync::OnceLock;
use std::time::Duration;

use super::{Completion, Data, ScsiTransport, TransportError};

const LIBRARY: &str = "libiscsi.so.7";
const INITIATOR: &str = "iqn.2026-11.org.tapeserver:initiator";
const ISCSI_SESSION_NORMAL: c_int = 2;
const ISCSI_HEADER_DIGEST_NONE_CRC32C: c_int = 1;
const SCSI_XFER_NONE: c_int = 0;
const SCSI_XFER_READ: c_int = 1;
const SCSI_XFER_WRITE: c_int = 2;
/// `enum scsi_residual`: fewer bytes moved than expected.
const SCSI_RESIDUAL_UNDERFLOW: c_int = 1;
/// Offsets into `struct scsi_task` (libiscsi 1.19, x86_64 and aarch64).
const TASK_STATUS: usize = 0;
const TASK_RESIDUAL_STATUS: usize = 32;
const TASK_RESIDUAL: usize = 40;
const TASK_DATAIN_SIZE: usize = 64;
const TASK_DATAIN_DATA: usize = 72;

#[repr(C)]
struct IscsiData {
    size: usize,
    data: *mut c_uchar,
}

type Ctx = c_void;
type Task = c_void;

/// The libiscsi functions this transport calls.
struct Api {
    create_context: unsafe extern "C" fn(*const c_char) -> *mut Ctx,
    destroy_context: unsafe extern "C" fn(*mut Ctx) -> c_int,
    set_targetname: unsafe extern "C" fn(*mut Ctx, *const c_char) -> c_int,
    set_session_type: unsafe extern "C" fn(*mut Ctx, c_int) -> c_int,
    set_header_digest: unsafe extern "C" fn(*mut Ctx, c_int) -> c_int,
    set_timeout: unsafe extern "C" fn(*mut Ctx, c_int) -> c_int,
    full_connect_sync: unsafe extern "C" fn(*mut Ctx, *const c_char, c_int) -> c_int,
    logout_sync: unsafe extern "C" fn(*mut Ctx) -> c_int,
    get_error: unsafe extern "C" fn(*mut Ctx) -> *const c_char,
    create_task: unsafe extern "C" fn(c_int, *mut c_uchar, c_int, c_int) -> *mut Task,
    free_task: unsafe extern "C" fn(*mut Task),
    command_sync: unsafe extern "C" fn(*mut Ctx, c_int, *mut Task, *mut IscsiData) -> *mut Task,
    add_data_in_buffer: unsafe extern "C" fn(*mut Task, c_int, *mut c_uchar) -> c_int,
    _library: libloading::Library,
}

static API: OnceLock<Result<Api, String>> = OnceLock::new();

fn api() -> Result<&'static Api, TransportError> {
    API.get_or_init(|| {
        // SAFETY: loading libiscsi runs its (trivial) initialisers only.
        let library = unsafe { libloading::Library::new(LIBRARY) }
            .map_err(|e| format!("cannot load {LIBRARY} (install libiscsi7): {e}"))?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the symbol is a libiscsi function whose C prototype
                // the field's type spells out; the library stays loaded in
                // the Api that holds the pointer.
                unsafe { *library.get($name).map_err(|e| format!("{LIBRARY}: {e}"))? }
            };
        }
        Ok(Api {
            create_context: sym!(b"iscsi_create_context\0"),
            destroy_context: sym!(b"iscsi_destroy_context\0"),
            set_targetname: sym!(b"iscsi_set_targetname\0"),
            set_session_type: sym!(b"iscsi_set_session_type\0"),
            set_header_digest: sym!(b"iscsi_set_header_digest\0"),
            set_timeout: sym!(b"iscsi_set_timeout\0"),
            full_connect_sync: sym!(b"iscsi_full_connect_sync\0"),
            logout_sync: sym!(b"iscsi_logout_sync\0"),
            get_error: sym!(b"iscsi_get_error\0"),
            create_task: sym!(b"scsi_create_task\0"),
            free_task: sym!(b"scsi_free_scsi_task\0"),
            command_sync: sym!(b"iscsi_scsi_command_sync\0"),
            add_data_in_buffer: sym!(b"scsi_task_add_data_in_buffer\0"),
            _library: library,
        })
    })
    .as_ref()
    .map_err(|e| TransportError::Unavailable(e.clone()))
}

/// An iSCSI URL's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IscsiUrl {
    pub portal: String,
    pub target: String,
    pub lun: i32,
}

impl IscsiUrl {
    pub fn parse(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("iscsi://")?;
        let (portal, rest) = rest.split_once('/')?;
        let (target, lun) = rest.rsplit_once('/')?;
        let portal = if portal.contains(':') {
            portal.to_string()
        } else {
            format!("{portal}:3260")
        };
        (!portal.starts_with(':') && !target.is_empty()).then_some(())?;
        Some(Self {
            portal,
            target: target.to_string(),
            lun: lun.parse().ok().filter(|l| *l >= 0)?,
        })
    }
}

pub struct IscsiTransport {
    url: String,
    lun: i32,
    ctx: *mut Ctx,
}

// SAFETY: the context is only ever used through &mut self, by one thread at
// a time; libiscsi keeps no thread-local state for a context.
unsafe impl Send for IscsiTransport {}

impl IscsiTransport {
    /// Logs in to the target (a new session per transport).
    pub fn connect(url: &str) -> Result<Self, TransportError> {
        let parts = IscsiUrl::parse(url).ok_or_else(|| TransportError::Open {
            path: url.to_string(),
            source: std::io::Error::other("expected iscsi://HOST[:PORT]/TARGET_IQN/LUN"),
        })?;
        let api = api()?;
        let c = |s: &str| CString::new(s).map_err(|e| TransportError::Unavailable(e.to_string()));
        let (initiator, target, portal) = (c(INITIATOR)?, c(&parts.target)?, c(&parts.portal)?);
        // SAFETY: a NUL-terminated name; NULL (checked) on failure.
        let ctx = unsafe { (api.create_context)(initiator.as_ptr()) };
        if ctx.is_null() {
            return Err(TransportError::Unavailable(
                "iscsi_create_context failed".into(),
            ));
        }
        let transport = Self {
            url: url.to_string(),
            lun: parts.lun,
            ctx,
        };
        // SAFETY: `ctx` is a live context; the strings outlive the calls,
        // which copy them.
        let rc = unsafe {
            (api.set_targetname)(ctx, target.as_ptr());
            (api.set_session_type)(ctx, ISCSI_SESSION_NORMAL);
            (api.set_header_digest)(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
            (api.full_connect_sync)(ctx, portal.as_ptr(), parts.lun)
        };
        if rc != 0 {
            return Err(TransportError::Failed {
                path: url.to_string(),
                reason: format!("login: {}", transport.error()),
            });
        }
        Ok(transport)
    }

    fn error(&self) -> String {
        let Ok(api) = api() else {
            return String::new();
        };
        // SAFETY: a live context; the returned string belongs to it and is
        // copied before anything else is called.
        let msg = unsafe { (api.get_error)(self.ctx) };
        if msg.is_null() {
            return "unknown error".into();
        }
        // SAFETY: libiscsi returns a NUL-terminated string.
        unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned()
    }
}

impl ScsiTransport for IscsiTransport {
    fn execute(
        &mut self,
        cdb: &[u8],
        data: Data<'_>,
        timeout: Duration,
    ) -> Result<Completion, TransportError> {
        let api = api()?;
        let mut cdb_copy = cdb.to_vec();
        let (dir, expected) = match &data {
            Data::None => (SCSI_XFER_NONE, 0),
            Data::In(buf) => (SCSI_XFER_READ, buf.len()),
            Data::Out(buf) => (SCSI_XFER_WRITE, buf.len()),
        };
        // SAFETY: the CDB is copied by libiscsi into the task.
        let task = unsafe {
            (api.create_task)(
                cdb.len() as c_int,
                cdb_copy.as_mut_ptr(),
                dir,
                expected as c_int,
            )
        };
        if task.is_null() {
            return Err(TransportError::Unavailable(
                "scsi_create_task failed".into(),
            ));
        }
        let mut data = data;
        let mut out = None;
        match &mut data {
            Data::In(buf) => {
                // SAFETY: `buf` outlives the synchronous command below and
                // the task, which is freed before this function returns.
                let rc =
                    unsafe { (api.add_data_in_buffer)(task, buf.len() as c_int, buf.as_mut_ptr()) };
                if rc != 0 {
                    // SAFETY: the task is ours and unused.
                    unsafe { (api.free_task)(task) };
                    return Err(TransportError::Unavailable(
                        "scsi_task_add_data_in_buffer failed".into(),
                    ));
                }
            }
            Data::Out(buf) => {
                out = Some(IscsiData {
                    size: buf.len(),
                    // libiscsi only reads the data-out buffer.
                    data: buf.as_ptr().cast_mut(),
                });
            }
            Data::None => {}
        }
        let out_ptr = out
            .as_mut()
            .map_or(std::ptr::null_mut(), |o| o as *mut IscsiData);
        // SAFETY: a live context and task; the data buffers outlive the
        // synchronous call. The timeout (seconds) applies to this command.
        let done = unsafe {
            (api.set_timeout)(
                self.ctx,
                timeout.as_secs().clamp(1, i32::MAX as u64) as c_int,
            );
            (api.command_sync)(self.ctx, self.lun, task, out_ptr)
        };
        let result = if done.is_null() {
            Err(TransportError::Failed {
                path: self.url.clone(),
                reason: self.error(),
            })
        } else {
            // SAFETY: `task` is a live scsi_task; the offsets are those of
            // libiscsi 1.19's struct (checked against its header in tests),
            // and datain points at `size` bytes owned by the task.
            Ok(unsafe { completion(task.cast::<u8>(), expected) })
        };
        // SAFETY: the task is ours and no longer used.
        unsafe { (api.free_task)(task) };
        result
    }

    fn path(&self) -> &str {
        &self.url
    }
}

/// Reads the status, residual and sense of a completed task whose data
/// went to the caller's buffer (`expected` bytes asked for).
///
/// # Safety
/// `task` must point at a completed libiscsi 1.19 `struct scsi_task`.
unsafe fn completion(task: *const u8, expected: usize) -> Completion {
    // SAFETY: the caller's promise; fields read unaligned-safe.
    let (status, residual_status, residual, size, ptr) = unsafe {
        (
            task.add(TASK_STATUS).cast::<c_int>().read_unaligned(),
            task.add(TASK_RESIDUAL_STATUS)
                .cast::<c_int>()
                .read_unaligned(),
            task.add(TASK_RESIDUAL).cast::<usize>().read_unaligned(),
            task.add(TASK_DATAIN_SIZE).cast::<c_int>().read_unaligned(),
            task.add(TASK_DATAIN_DATA)
                .cast::<*const u8>()
                .read_unaligned(),
        )
    };
    let transferred = if residual_status == SCSI_RESIDUAL_UNDERFLOW {
        expected.saturating_sub(residual)
    } else {
        expected
    };
    let status = status as u8;
    let mut sense = Vec::new();
    if status == super::CHECK_CONDITION {
        let datain: &[u8] = if ptr.is_null() || size <= 0 {
            &[]
        } else {
            // SAFETY: libiscsi owns `size` bytes at `ptr` until the task is freed.
            unsafe { std::slice::from_raw_parts(ptr, size as usize) }
        };
        // Sense after a 2-byte length.
        let len = datain
            .get(..2)
            .map_or(0, |l| u16::from_be_bytes([l[0], l[1]]) as usize);
        sense = datain
            .get(2..(2 + len).min(datain.len()))
            .unwrap_or_default()
            .to_vec();
    }
    Completion {
        status,
        sense,
        transferred,
    }
}

impl Drop for IscsiTransport {
    fn drop(&mut self) {
        if let Ok(api) = api() {
            // SAFETY: the context is ours; after this it is never used.
            unsafe {
                (api.logout_sync)(self.ctx);
                (api.destroy_context)(self.ctx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed() {
        assert_eq!(
            IscsiUrl::parse("iscsi://127.0.0.1:3261/iqn.2026-11.org.example:lib/2"),
            Some(IscsiUrl {
                portal: "127.0.0.1:3261".into(),
                target: "iqn.2026-11.org.example:lib".into(),
                lun: 2
            })
        );
        assert_eq!(
            IscsiUrl::parse("iscsi://host/iqn.x:y/0").unwrap().portal,
            "host:3260"
        );
        for bad in [
            "/dev/sg3",
            "iscsi://host/iqn",
            "iscsi:///iqn/0",
            "iscsi://h/iqn/x",
        ] {
            assert_eq!(IscsiUrl::parse(bad), None, "{bad}");
        }
    }

    /// The offsets this transport reads match libiscsi's header (installed
    /// by scripts/test with libiscsi-dev).
    #[test]
    fn task_offsets_match_the_libiscsi_header() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("task.c");
        std::fs::write(
            &src,
            r#"#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
int main(void) {
    printf("%zu %zu %zu %zu %zu\n", offsetof(struct scsi_task, status),
           offsetof(struct scsi_task, residual_status),
           offsetof(struct scsi_task, residual),
           offsetof(struct scsi_task, datain) + offsetof(struct scsi_data, size),
           offsetof(struct scsi_task, datain) + offsetof(struct scsi_data, data));
    printf("%d %d %d %d\n", ISCSI_SESSION_NORMAL, ISCSI_HEADER_DIGEST_NONE_CRC32C, SCSI_XFER_WRITE,
           SCSI_RESIDUAL_UNDERFLOW);
    return 0;
}"#,
        )
        .unwrap();
        let bin = dir.path().join("task");
        let cc = std::process::Command::new("cc")
            .arg(&src)
            .arg("-o")
            .arg(&bin)
            .status()
            .expect("a C compiler");
        assert!(
            cc.success(),
            "libiscsi-dev's headers (installed by scripts/test)"
        );
        let out = std::process::Command::new(&bin).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!(
                "{TASK_STATUS} {TASK_RESIDUAL_STATUS} {TASK_RESIDUAL} {TASK_DATAIN_SIZE} {TASK_DATAIN_DATA}\n{ISCSI_SESSION_NORMAL} {ISCSI_HEADER_DIGEST_NONE_CRC32C} {SCSI_XFER_WRITE} {SCSI_RESIDUAL_UNDERFLOW}\n"
            )
        );
    }
}
