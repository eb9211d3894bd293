//! MODE SENSE replies and the pages read out of them (element address
//! assignment, control data protection), READ POSITION and READ BLOCK LIMITS.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapeserver::scsi::{smc, spc, ssc};

fuzz_target!(|data: &[u8]| {
    for page in [spc::mode_page_6(data), spc::mode_page_10(data)]
        .into_iter()
        .flatten()
    {
        if let Some(assignment) = smc::ElementAddressAssignment::decode(page) {
            for kind in smc::ElementType::ALL {
                let _ = assignment.range(kind);
            }
        }
        let _ = ssc::decode_protection(page);
    }
    let _ = smc::ElementAddressAssignment::decode(data);
    let _ = ssc::decode_protection(data);
    let _ = ssc::decode_position_long(data);
    let _ = ssc::decode_position_short(data);
    let _ = ssc::decode_block_limits(data);
});
