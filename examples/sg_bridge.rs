//! An SG_IO bridge to the emulated library, for programs no one here wrote.
//!
//! Tools that drive a SCSI changer (`mtx`, `sg_raw`...) open a `/dev/sgN`
//! and send it SG_IO ioctls. Preload this library and point the tool at
//! one of an emulated library's changer path files instead: it opens the
//! file, and every SG_IO on that descriptor runs the CDB on the emulated
//! changer, with its data and sense, as the kernel's sg driver would.
//!
//! ```text
//! cargo build --release --example sg_bridge
//! LD_PRELOAD=target/release/examples/libsg_bridge.so mtx -f LIBRARY/changer0 status
//! ```
//!
//! Only descriptors of changer path files are bridged; every other open,
//! ioctl and close goes to the C library untouched.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_uint, c_ulong, c_void};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tapeserver::library::emulated::EmulatedChanger;
use tapeserver::library::scsi_changer::is_emulated_path;
use tapeserver::scsi::sg::{
    SG_DXFER_FROM_DEV, SG_DXFER_TO_DEV, SG_GET_VERSION_NUM, SG_IO, SgIoHdr,
};
use tapeserver::scsi::{Data, ScsiTransport, TransportError};

/// The sg driver version reported (3.5.36: SG_IO, the v3 interface).
const SG_VERSION: c_int = 30536;
const SG_SET_TIMEOUT: c_ulong = 0x2201;
const SG_GET_TIMEOUT: c_ulong = 0x2202;
const SG_EMULATED_HOST: c_ulong = 0x2203;
const SG_GET_SCSI_ID: c_ulong = 0x2276;
const SCSI_IOCTL_GET_IDLUN: c_ulong = 0x5382;
const SCSI_IOCTL_GET_BUS_NUMBER: c_ulong = 0x5386;
const DRIVER_SENSE: u16 = 0x08;
const DID_NO_CONNECT: u16 = 0x01;
const DID_TIME_OUT: u16 = 0x03;
const SG_INFO_CHECK: c_uint = 0x1;

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, c_uint) -> c_int;
type IoctlFn = unsafe extern "C" fn(c_int, c_ulong, *mut c_void) -> c_int;
type CloseFn = unsafe extern "C" fn(c_int) -> c_int;

thread_local! {
    /// Set while this library itself runs: its own file accesses (reading
    /// the library state) must reach the C library directly.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

fn bridged() -> &'static Mutex<HashMap<c_int, EmulatedChanger>> {
    static BRIDGED: OnceLock<Mutex<HashMap<c_int, EmulatedChanger>>> = OnceLock::new();
    BRIDGED.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The next definition of `name` after this library (the C library's).
fn next<T: Copy>(name: &CStr) -> Option<T> {
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name only looks a
    // symbol up.
    let ptr = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller names a function whose C prototype `T` spells
    // out, and T is a function pointer of the same size as `ptr`.
    Some(unsafe { std::mem::transmute_copy::<*mut c_void, T>(&ptr) })
}

/// Runs `f` with bridging off for this thread's own calls.
fn inside<R>(f: impl FnOnce() -> R) -> R {
    INSIDE.with(|i| i.set(true));
    let r = f();
    INSIDE.with(|i| i.set(false));
    r
}

fn is_inside() -> bool {
    INSIDE.with(Cell::get)
}

fn set_errno(e: c_int) {
    // SAFETY: writes this thread's errno.
    unsafe { *libc::__errno_location() = e };
}

unsafe fn open_any(name: &CStr, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    let Some(real) = next::<OpenFn>(name) else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    // SAFETY: the caller's arguments, passed on unchanged.
    let fd = unsafe { real(path, flags, mode) };
    if fd < 0 || path.is_null() || is_inside() {
        return fd;
    }
    // SAFETY: open(2) was given a NUL-terminated path and succeeded.
    let path = unsafe { CStr::from_ptr(path) };
    let Ok(path) = path.to_str() else {
        return fd;
    };
    inside(|| {
        if is_emulated_path(Path::new(path))
            && let Ok(changer) = EmulatedChanger::open(Path::new(path))
            && let Ok(mut table) = bridged().lock()
        {
            table.insert(fd, changer);
        }
    });
    fd
}

/// # Safety
/// As open(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: as open(2).
    unsafe { open_any(c"open", path, flags, mode) }
}

/// # Safety
/// As open(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: as open(2).
    unsafe { open_any(c"open64", path, flags, mode) }
}

/// # Safety
/// As close(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if !is_inside()
        && let Ok(mut table) = bridged().lock()
    {
        table.remove(&fd);
    }
    match next::<CloseFn>(c"close") {
        // SAFETY: as close(2).
        Some(real) => unsafe { real(fd) },
        None => {
            set_errno(libc::ENOSYS);
            -1
        }
    }
}

/// # Safety
/// As ioctl(2); for a bridged descriptor, SG_IO's argument must be a valid
/// `sg_io_hdr` whose buffers are as long as it says.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    let is_bridged = !is_inside() && bridged().lock().is_ok_and(|t| t.contains_key(&fd));
    if !is_bridged {
        return match next::<IoctlFn>(c"ioctl") {
            // SAFETY: as ioctl(2).
            Some(real) => unsafe { real(fd, request, arg) },
            None => {
                set_errno(libc::ENOSYS);
                -1
            }
        };
    }
    match request {
        SG_GET_VERSION_NUM | SG_GET_TIMEOUT | SG_EMULATED_HOST => {
            if !arg.is_null() {
                let value = if request == SG_GET_VERSION_NUM {
                    SG_VERSION
                } else {
                    0
                };
                // SAFETY: these requests write one int at `arg`.
                unsafe { *arg.cast::<c_int>() = value };
            }
            0
        }
        SG_SET_TIMEOUT => 0,
        // Target 0, LUN 0 on bus 0 (mtx puts the LUN in its CDBs).
        SCSI_IOCTL_GET_IDLUN | SCSI_IOCTL_GET_BUS_NUMBER if !arg.is_null() => {
            let words = if request == SCSI_IOCTL_GET_IDLUN {
                2
            } else {
                1
            };
            // SAFETY: these requests write `words` ints at `arg`.
            unsafe { std::ptr::write_bytes(arg.cast::<c_int>(), 0, words) };
            0
        }
        SG_GET_SCSI_ID if !arg.is_null() => {
            // SAFETY: struct sg_scsi_id is 8 ints; type 8 is a changer.
            unsafe {
                std::ptr::write_bytes(arg.cast::<c_int>(), 0, 8);
                *arg.cast::<c_int>().add(4) = 8;
            }
            0
        }
        SG_IO if !arg.is_null() => {
            // SAFETY: the caller's promise: a valid sg_io_hdr.
            let hdr = unsafe { &mut *arg.cast::<SgIoHdr>() };
            inside(|| {
                if let Ok(mut table) = bridged().lock()
                    && let Some(changer) = table.get_mut(&fd)
                {
                    // SAFETY: as above: the header's buffers are as long as it says.
                    unsafe { sg_io(changer, hdr) };
                }
            });
            0
        }
        _ => {
            set_errno(libc::ENOTTY);
            -1
        }
    }
}

/// Runs one SG_IO on the emulated changer and fills the header's outputs.
///
/// # Safety
/// `hdr`'s pointers must be valid for the lengths it gives.
unsafe fn sg_io(changer: &mut EmulatedChanger, hdr: &mut SgIoHdr) {
    // SAFETY: the caller's promise on cmdp/cmd_len.
    let cdb = unsafe { std::slice::from_raw_parts(hdr.cmdp, usize::from(hdr.cmd_len)) };
    let len = hdr.dxfer_len as usize;
    let data = match hdr.dxfer_direction {
        SG_DXFER_FROM_DEV if len > 0 => {
            // SAFETY: the caller's promise on dxferp/dxfer_len.
            let buf = unsafe { std::slice::from_raw_parts_mut(hdr.dxferp.cast::<u8>(), len) };
            Data::In(buf)
        }
        SG_DXFER_TO_DEV if len > 0 => {
            // SAFETY: the caller's promise on dxferp/dxfer_len.
            let buf = unsafe { std::slice::from_raw_parts(hdr.dxferp.cast::<u8>(), len) };
            Data::Out(buf)
        }
        // SG_DXFER_NONE, or nothing to move.
        _ => Data::None,
    };
    let timeout = Duration::from_millis(u64::from(hdr.timeout.max(1)));
    let (status, sense, transferred, host) = match changer.execute(cdb, data, timeout) {
        Ok(done) => (done.status, done.sense, done.transferred, 0),
        Err(TransportError::Timeout { .. }) => (0, Vec::new(), 0, DID_TIME_OUT),
        Err(_) => (0, Vec::new(), 0, DID_NO_CONNECT),
    };
    let n = sense.len().min(usize::from(hdr.mx_sb_len));
    if n > 0 && !hdr.sbp.is_null() {
        // SAFETY: sbp holds mx_sb_len bytes.
        unsafe { std::ptr::copy_nonoverlapping(sense.as_ptr(), hdr.sbp, n) };
    }
    hdr.status = status;
    hdr.masked_status = status >> 1;
    hdr.msg_status = 0;
    hdr.sb_len_wr = n as u8;
    hdr.host_status = host;
    hdr.driver_status = if n > 0 { DRIVER_SENSE } else { 0 };
    hdr.resid = len.saturating_sub(transferred) as c_int;
    hdr.duration = 0;
    hdr.info = if status != 0 || host != 0 {
        SG_INFO_CHECK
    } else {
        0
    };
    if std::env::var_os("SG_BRIDGE_DEBUG").is_some() {
        let shown = transferred.min(64);
        let data: &[u8] = if hdr.dxfer_direction == SG_DXFER_FROM_DEV && shown > 0 {
            // SAFETY: dxferp holds at least `transferred` bytes just written.
            unsafe { std::slice::from_raw_parts(hdr.dxferp.cast::<u8>(), shown) }
        } else {
            &[]
        };
        eprintln!(
            "sg_bridge: cdb {cdb:02x?} status {status:#04x} host {host} sense {:02x?} in {transferred} {data:02x?}",
            &sense[..n]
        );
    }
}
