//! INQUIRY data: standard, unit serial number (VPD 80h) and device
//! identification (VPD 83h) pages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapeserver::scsi::spc;

fuzz_target!(|data: &[u8]| {
    let _ = spc::StandardInquiry::decode(data);
    let _ = spc::unit_serial(data);
    let _ = spc::device_identifiers(data);
});
