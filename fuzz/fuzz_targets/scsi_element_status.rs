//! READ ELEMENT STATUS data as a changer (or a broken one) returns it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapeserver::scsi::smc;

fuzz_target!(|data: &[u8]| {
    let elements = smc::decode_element_status(data);
    // One descriptor is at least 12 bytes: nothing comes from nothing.
    assert!(elements.len() <= data.len() / 12 + 1);
    let _ = format!("{elements:?}");
});
