//! The forker link: length-prefixed protobuf frames, read one after the
//! other in both directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapeserver::messaging::framing::read_frame;
use tapeserver::proto::forker::{ForkerReply, ForkerRequest};

fuzz_target!(|data: &[u8]| {
    let mut r = data;
    while let Ok(Some(_)) = read_frame::<ForkerRequest>(&mut r) {}
    let mut r = data;
    while let Ok(Some(_)) = read_frame::<ForkerReply>(&mut r) {}
});
