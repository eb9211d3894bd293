//! A small request never makes a large answer: status requests name at
//! most 1000 ids (repeats answered once), listings come in pages, and the
//! clients walk the pages so operators still see everything.

mod common;

use prost::Message;
use tapeserver::proto::stager::{
    StagerReply, StagerRequest, StatusReply, StatusRequest, stager_reply, stager_request,
};

use common::Install;

fn ask(socket: &zmq::Socket, request: StatusRequest) -> (usize, Result<StatusReply, String>) {
    let body = StagerRequest {
        request_id: 1,
        kind: Some(stager_request::Kind::Status(request)),
    }
    .encode_to_vec();
    socket.send(body, 0).unwrap();
    let raw = socket.recv_bytes(0).expect("the daemon answers");
    let reply = StagerReply::decode(raw.as_slice()).unwrap();
    let answer = match reply.kind {
        Some(stager_reply::Kind::Status(s)) => Ok(s),
        Some(stager_reply::Kind::Error(e)) => Err(e.message),
        other => panic!("unexpected reply {other:?}"),
    };
    (raw.len(), answer)
}

#[test]
fn status_requests_are_capped_deduplicated_and_paged() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    // Nothing migrates: the files stay queued, the catalogue is what counts.
    install.ok("tpconfig", &["drive0", "down"]);
    let paths: Vec<_> = (0..1005)
        .map(|i| install.make_file(&format!("f{i}"), 1, i))
        .collect();
    let ids = install.archive(&paths);
    assert_eq!(ids.len(), 1005);

    let config = tapeserver::config::Config::load(&install.config).unwrap();
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::REQ).unwrap();
    socket.set_rcvtimeo(30_000).unwrap();
    socket.set_linger(0).unwrap();
    socket.connect(&config.stager_endpoint()).unwrap();

    // 20,000 copies of one id (160 KB asked): one file answered.
    let (bytes, answer) = ask(
        &socket,
        StatusRequest {
            file_ids: vec![ids[0]; 20_000],
            ..Default::default()
        },
    );
    let reply = answer.unwrap();
    assert_eq!(reply.files.len(), 1);
    assert!(bytes < 4096, "one file's status is small: {bytes} bytes");

    // Over the cap: refused in one sentence, nothing read.
    let (_, answer) = ask(
        &socket,
        StatusRequest {
            file_ids: ids[..1001].to_vec(),
            ..Default::default()
        },
    );
    let refusal = answer.unwrap_err();
    assert!(refusal.contains("at most 1000 files"), "{refusal}");

    // A listing comes in pages of at most 1000, whatever is asked.
    let (_, first) = ask(
        &socket,
        StatusRequest {
            limit: 1_000_000,
            ..Default::default()
        },
    );
    let first = first.unwrap();
    assert_eq!(first.files.len(), 1000);
    assert_eq!(first.next_after, ids[999]);
    let (_, rest) = ask(
        &socket,
        StatusRequest {
            after_id: first.next_after,
            ..Default::default()
        },
    );
    let rest = rest.unwrap();
    assert_eq!(
        rest.files.iter().map(|f| f.id).collect::<Vec<_>>(),
        ids[1000..].to_vec()
    );
    assert_eq!(rest.next_after, 0, "the last page says so");

    // The stager walks the pages: every file, once.
    let listed = install.status();
    assert_eq!(listed.len(), 1005);
    let mut seen: Vec<u64> = listed.iter().map(|f| f.id).collect();
    seen.dedup();
    assert_eq!(seen, ids);
    // And asks for long id lists in several requests.
    let mut args = vec!["status".to_string(), "--json".to_string()];
    args.extend(ids.iter().map(u64::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let json: serde_json::Value = serde_json::from_str(&install.ok("stager", &args)).unwrap();
    assert_eq!(json["files"].as_array().unwrap().len(), 1005);
}
