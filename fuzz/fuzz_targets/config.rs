//! The configuration parsers: the daemon's, tlcd's and a client's.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tapeserver::config::Config;
use tapeserver::config::tlcd::TlcdConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    if let Ok(config) = Config::parse(path, text) {
        // What the daemon derives from a config it accepted.
        let _ = config.host();
        let _ = config.stager_endpoint();
        let _ = config.drive_refs();
        let _ = config.mount_policy();
        let _ = config.to_toml();
    }
    if let Ok(tlcd) = TlcdConfig::parse(path, text) {
        let _ = tlcd.endpoint();
        let _ = tlcd.drive_refs();
    }
});
