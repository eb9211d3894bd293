//! SG_IO on a Linux SCSI generic device (`/dev/sg*`, or an `st`/`sch`
//! node that takes SG_IO): what a site's changers and drives use.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use super::{Completion, Data, ScsiTransport, TransportError};

/// `struct sg_io_hdr` of `<scsi/sg.h>` (layout checked against the header
/// in the tests).
#[repr(C)]
#[derive(Debug)]
pub struct SgIoHdr {
    pub interface_id: libc::c_int,
    pub dxfer_direction: libc::c_int,
    pub cmd_len: libc::c_uchar,
    pub mx_sb_len: libc::c_uchar,
    pub iovec_count: libc::c_ushort,
    pub dxfer_len: libc::c_uint,
    pub dxferp: *mut libc::c_void,
    pub cmdp: *const libc::c_uchar,
    pub sbp: *mut libc::c_uchar,
    pub timeout: libc::c_uint,
    pub flags: libc::c_uint,
    pub pack_id: libc::c_int,
    pub usr_ptr: *mut libc::c_void,
    pub status: libc::c_uchar,
    pub masked_status: libc::c_uchar,
    pub msg_status: libc::c_uchar,
    pub sb_len_wr: libc::c_uchar,
    pub host_status: libc::c_ushort,
    pub driver_status: libc::c_ushort,
    pub resid: libc::c_int,
    pub duration: libc::c_uint,
    pub info: libc::c_uint,
}

pub const SG_IO: libc::c_ulong = 0x2285;
pub const SG_GET_VERSION_NUM: libc::c_ulong = 0x2282;
pub const SG_DXFER_NONE: libc::c_int = -1;
pub const SG_DXFER_TO_DEV: libc::c_int = -2;
pub const SG_DXFER_FROM_DEV: libc::c_int = -3;
const SENSE_LEN: usize = 64;
/// Host status: the command timed out.
const DID_TIME_OUT: u16 = 0x03;

nix::ioctl_readwrite_bad!(sg_io, SG_IO, SgIoHdr);

pub struct SgTransport {
    path: String,
    file: File,
}

impl SgTransport {
    pub fn open(path: &str) -> Result<Self, TransportError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|source| TransportError::Open {
                path: path.to_string(),
                source,
            })?;
        Ok(Self {
            path: path.to_string(),
            file,
        })
    }
}

impl ScsiTransport for SgTransport {
    fn execute(
        &mut self,
        cdb: &[u8],
        data: Data<'_>,
        timeout: Duration,
    ) -> Result<Completion, TransportError> {
        let mut sense = [0u8; SENSE_LEN];
        let (direction, ptr, len) = match data {
            Data::None => (SG_DXFER_NONE, std::ptr::null_mut(), 0),
            Data::In(buf) => (SG_DXFER_FROM_DEV, buf.as_mut_ptr().cast(), buf.len()),
            // SG_IO only reads a data-out buffer, whatever the pointer's mutability.
            Data::Out(buf) => (SG_DXFER_TO_DEV, buf.as_ptr().cast_mut().cast(), buf.len()),
        };
        let mut hdr = SgIoHdr {
            interface_id: i32::from(b'S'),
            dxfer_direction: direction,
            cmd_len: cdb.len() as u8,
            mx_sb_len: SENSE_LEN as u8,
            iovec_count: 0,
            dxfer_len: len as u32,
            dxferp: ptr,
            cmdp: cdb.as_ptr(),
            sbp: sense.as_mut_ptr(),
            timeout: timeout.as_millis().min(u128::from(u32::MAX)) as u32,
            flags: 0,
            pack_id: 0,
            usr_ptr: std::ptr::null_mut(),
            status: 0,
            masked_status: 0,
            msg_status: 0,
            sb_len_wr: 0,
            host_status: 0,
            driver_status: 0,
            resid: 0,
            duration: 0,
            info: 0,
        };
        // SAFETY: the header points at `cdb`, `sense` and the data buffer,
        // all alive and of the lengths given for the duration of the call;
        // SG_IO is synchronous, so nothing is written after it returns.
        let rc = unsafe { sg_io(self.file.as_raw_fd(), &mut hdr) };
        rc.map_err(|e| TransportError::Failed {
            path: self.path.clone(),
            reason: format!("SG_IO: {e}"),
        })?;
        if hdr.host_status == DID_TIME_OUT {
            return Err(TransportError::Timeout {
                path: self.path.clone(),
                seconds: timeout.as_secs(),
            });
        }
        if hdr.host_status != 0 {
            return Err(TransportError::Failed {
                path: self.path.clone(),
                reason: format!("host status {:#x}", hdr.host_status),
            });
        }
        Ok(Completion {
            status: hdr.status,
            sense: sense[..usize::from(hdr.sb_len_wr).min(SENSE_LEN)].to_vec(),
            transferred: len.saturating_sub(hdr.resid.max(0) as usize),
        })
    }

    fn path(&self) -> &str {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout matches the C header (`<scsi/sg.h>`, from libc6-dev).
    #[test]
    fn sg_io_hdr_matches_the_c_header() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("sg.c");
        std::fs::write(
            &src,
            r#"#include <stdio.h>
#include <stddef.h>
#include <scsi/sg.h>
int main(void) {
    printf("%zu %zu %zu %zu %zu %zu\n", sizeof(sg_io_hdr_t), offsetof(sg_io_hdr_t, dxferp),
           offsetof(sg_io_hdr_t, timeout), offsetof(sg_io_hdr_t, status),
           offsetof(sg_io_hdr_t, resid), offsetof(sg_io_hdr_t, info));
    printf("%d %d\n", SG_IO, SG_DXFER_FROM_DEV);
    return 0;
}"#,
        )
        .unwrap();
        let bin = dir.path().join("sg");
        let cc = std::process::Command::new("cc")
            .arg(&src)
            .arg("-o")
            .arg(&bin)
            .status()
            .expect("a C compiler");
        assert!(cc.success());
        let out = std::process::Command::new(&bin).output().unwrap();
        let expected = format!(
            "{} {} {} {} {} {}\n{} {}\n",
            std::mem::size_of::<SgIoHdr>(),
            std::mem::offset_of!(SgIoHdr, dxferp),
            std::mem::offset_of!(SgIoHdr, timeout),
            std::mem::offset_of!(SgIoHdr, status),
            std::mem::offset_of!(SgIoHdr, resid),
            std::mem::offset_of!(SgIoHdr, info),
            SG_IO,
            SG_DXFER_FROM_DEV
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    }

    #[test]
    fn a_missing_device_is_a_clear_error() {
        let err = SgTransport::open("/nonexistent/sg9").err().unwrap();
        assert!(
            err.to_string().contains("/nonexistent/sg9: cannot open"),
            "{err}"
        );
    }
}
