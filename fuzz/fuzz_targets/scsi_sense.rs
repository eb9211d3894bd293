//! Sense data (fixed and descriptor formats) from a drive or a changer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapeserver::scsi::sense::Sense;

fuzz_target!(|data: &[u8]| {
    if let Ok(sense) = Sense::decode(data) {
        // Everything the daemon does with a decoded sense.
        let _ = sense.asc_name();
        let _ = sense.retry_class();
        let _ = sense.state_changed();
        let _ = format!("{sense:?}");
    }
});
