//! Every protobuf envelope a server decodes from a socket: stager and admin
//! requests (daemon), session reports (daemon), controller requests and
//! replies (tlcd, sessions), forker messages. The first byte picks the
//! message; a message that decodes must survive a round trip unchanged
//! (compared as bytes: a float may be NaN, which equals nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tapeserver::proto::{admin, forker, session, stager, tlc};

fn round_trip<M: Message + Default>(data: &[u8]) {
    if let Ok(msg) = M::decode(data) {
        let bytes = msg.encode_to_vec();
        let again = M::decode(bytes.as_slice()).expect("re-encoded message decodes");
        assert_eq!(bytes, again.encode_to_vec());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    match which % 9 {
        0 => round_trip::<stager::StagerRequest>(body),
        1 => round_trip::<stager::StagerReply>(body),
        2 => round_trip::<admin::AdminRequest>(body),
        3 => round_trip::<admin::AdminReply>(body),
        4 => round_trip::<session::SessionReport>(body),
        5 => round_trip::<session::SessionSpec>(body),
        6 => round_trip::<tlc::TlcRequest>(body),
        7 => round_trip::<tlc::TlcReply>(body),
        _ => {
            round_trip::<forker::ForkerRequest>(body);
            round_trip::<forker::ForkerReply>(body);
        }
    }
});
