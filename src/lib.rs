//! tapeserver: a tape server that migrates disk files to tape and recalls
//! them, after CASTOR's tapeserverd: a parent daemon with a drive catalogue,
//! a forker helper, and one session process per mount.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod disk_buffer;
pub mod faults;
pub mod gateway;
pub mod library;
pub mod logging;
pub mod messaging;
pub mod privileges;
pub mod scheduler;
pub mod scsi;
pub mod session;
pub mod settings;
pub mod sim;
pub mod tape;
pub mod units;
pub mod util;

/// Generated protobuf messages (see `proto/`).
pub mod proto {
    pub mod errors {
        include!(concat!(env!("OUT_DIR"), "/tapeserver.errors.rs"));
    }
    #[allow(clippy::large_enum_variant)]
    pub mod forker {
        include!(concat!(env!("OUT_DIR"), "/tapeserver.forker.rs"));
    }
    pub mod session {
        include!(concat!(env!("OUT_DIR"), "/tapeserver.session.rs"));
    }
    pub mod admin {
        include!(concat!(env!("OUT_DIR"), "/tapeserver.admin.rs"));
    }
    pub mod stager {
        include!(concat!(env!("OUT_DIR"), "/tapeserver.stager.rs"));
    }
    pub mod tlc {
        include!(concat!(env!("OUT_DIR"), "/tapeserver.tlc.rs"));
    }
}
