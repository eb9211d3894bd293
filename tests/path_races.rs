//! Paths from clients are resolved beneath their roots when they are
//! checked, and what was checked is what is recorded: a directory swapped
//! for a symbolic link while the frontend looks never makes it report (or
//! queue) a file outside the roots; a bad recall destination is refused
//! when it is queued, not after a mount.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prost::Message;
use tapeserver::proto::stager::{
    ArchiveRequest, RecallRequest, StagerReply, StagerRequest, stager_reply, stager_request,
};

use common::Install;

fn call(socket: &zmq::Socket, kind: stager_request::Kind) -> stager_reply::Kind {
    let body = StagerRequest {
        request_id: 1,
        kind: Some(kind),
    }
    .encode_to_vec();
    socket.send(body, 0).unwrap();
    let raw = socket.recv_bytes(0).expect("the daemon answers");
    StagerReply::decode(raw.as_slice())
        .unwrap()
        .kind
        .expect("a reply")
}

fn stager_socket(install: &Install, ctx: &zmq::Context) -> zmq::Socket {
    let config = tapeserver::config::Config::load(&install.config).unwrap();
    let socket = ctx.socket(zmq::REQ).unwrap();
    socket.set_rcvtimeo(30_000).unwrap();
    socket.set_linger(0).unwrap();
    socket.connect(&config.stager_endpoint()).unwrap();
    socket
}

#[test]
fn a_directory_flipped_with_a_link_never_leads_the_frontend_outside_the_roots() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    install.ok("tpconfig", &["drive0", "down"]);
    let config = tapeserver::config::Config::load(&install.config).unwrap();
    let root = std::fs::canonicalize(&config.paths.archive_roots[0]).unwrap();
    let inside = root.join("d");
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::write(inside.join("f"), vec![1u8; 100]).unwrap();
    // Outside every root, with a size no file inside has.
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("f"), vec![2u8; 7777]).unwrap();
    let link = root.join("l");
    std::os::unix::fs::symlink(&outside, &link).unwrap();

    // Swaps d and l, atomically, as fast as it can, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let stop = stop.clone();
        let (inside, link) = (inside.clone(), link.clone());
        std::thread::spawn(move || {
            let mut flips = 0u64;
            while !stop.load(Ordering::Relaxed) {
                nix::fcntl::renameat2(
                    nix::fcntl::AT_FDCWD,
                    &inside,
                    nix::fcntl::AT_FDCWD,
                    &link,
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .expect("the flip");
                flips += 1;
            }
            flips
        })
    };
    let ctx = zmq::Context::new();
    let socket = stager_socket(&install, &ctx);
    let path = inside.join("f").display().to_string();
    let (mut queued, mut refused) = (0, 0);
    for _ in 0..400 {
        match call(
            &socket,
            stager_request::Kind::Archive(ArchiveRequest {
                paths: vec![path.clone()],
                ..Default::default()
            }),
        ) {
            stager_reply::Kind::Archive(a) => {
                let file = &a.files[0];
                assert_eq!(
                    file.size, 100,
                    "the frontend reported a file outside the roots: {file:?}"
                );
                assert!(file.path.starts_with(root.to_str().unwrap()), "{file:?}");
                queued += 1;
            }
            stager_reply::Kind::Error(e) => {
                refused += 1;
                assert!(
                    e.message.contains("not under an allowed")
                        || e.message.contains("no such file")
                        || e.message.contains("changed while"),
                    "{}",
                    e.message
                );
            }
            other => panic!("unexpected reply {other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    eprintln!("{queued} queued, {refused} refused, {flips} flips");
    assert!(queued + refused == 400);
    // Whatever was queued names a file inside the roots, of its size.
    for f in install.status() {
        assert!(f.state == "queued", "{f:?}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["status", "--json"])).unwrap();
    for f in json["files"].as_array().unwrap() {
        assert_eq!(f["size"], 100, "{f}");
    }
}

#[test]
fn bad_recall_destinations_are_refused_when_queued() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    let source = install.make_file("f", 1000, 1);
    let id = install.archive(std::slice::from_ref(&source))[0];
    install.wait_for(
        "the file on tape",
        std::time::Duration::from_secs(60),
        || install.state_of(id).state == "on_tape",
    );
    let config = tapeserver::config::Config::load(&install.config).unwrap();
    let root = std::fs::canonicalize(&config.paths.recall_roots[0]).unwrap();
    std::fs::create_dir_all(root.join("out")).unwrap();
    let root = root.display().to_string();
    let ctx = zmq::Context::new();
    let socket = stager_socket(&install, &ctx);
    for (destination, expect) in [
        (format!("{root}/a\0b"), "NUL byte"),
        (format!("{root}/{}", "n".repeat(300)), "300 bytes"),
        (format!("{root}/out/newdir/"), "names a directory"),
        (format!("{root}/missing/x"), "no such file"),
    ] {
        match call(
            &socket,
            stager_request::Kind::Recall(RecallRequest {
                file_id: id,
                destination: destination.clone(),
            }),
        ) {
            stager_reply::Kind::Error(e) => assert!(e.message.contains(expect), "{}", e.message),
            other => panic!("{destination:?} was queued: {other:?}"),
        }
    }
    let recalls: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["recalls", "--json"])).unwrap();
    assert_eq!(
        recalls["recalls"].as_array().map_or(0, Vec::len),
        0,
        "nothing queued: {recalls}"
    );
    assert!(!std::path::Path::new(&format!("{root}/out/newdir")).exists());
}
