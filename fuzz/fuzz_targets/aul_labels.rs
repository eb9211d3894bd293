//! AUL label parsers: any 80 bytes (or any other length) read off a tape
//! give a label or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapeserver::tape::aul;

fuzz_target!(|data: &[u8]| {
    let _ = aul::parse_vol1(data);
    let _ = aul::parse_hdr1(data);
    let _ = aul::parse_eof1(data);
    let _ = aul::parse_hdr2(data);
    let _ = aul::parse_eof2(data);
    let _ = aul::parse_uhl1(data);
    let _ = aul::parse_utl1(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = aul::check_vid(text);
    }
});
