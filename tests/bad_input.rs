//! Bad input gets one clear sentence and a non-zero exit, never a panic;
//! garbage, oversized, truncated and unknown messages and floods on the
//! daemon's sockets do not stop it serving the others.

mod common;

use std::time::Duration;

use common::{Install, bin};
use prost::Message;

fn assert_clear_failure(out: &std::process::Output, expect: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success: {stderr}"
    );
    assert!(
        stderr.contains(expect),
        "stderr should mention {expect:?}: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "panic: {stderr}"
    );
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one clear sentence: {stderr}"
    );
}

#[test]
fn unknown_config_key_is_named() {
    let install = Install::new(1, 1);
    let text = std::fs::read_to_string(&install.config).unwrap();
    std::fs::write(
        &install.config,
        text.replacen("[daemon]\n", "[daemon]\nmystery_knob = 3\n", 1),
    )
    .unwrap();
    let out = std::process::Command::new(bin("tapeserverd"))
        .arg("check-config")
        .arg(&install.config)
        .output()
        .unwrap();
    assert_clear_failure(&out, "mystery_knob");
    let out = std::process::Command::new(bin("tapeserverd"))
        .args(["run", "--config"])
        .arg(&install.config)
        .output()
        .unwrap();
    assert_clear_failure(&out, "mystery_knob");
}

#[test]
fn clients_say_when_the_daemon_is_not_running() {
    let install = Install::new(1, 1);
    assert_clear_failure(&install.run("tpstat", &[]), "not running");
    assert_clear_failure(&install.run("stager", &["status"]), "not running");
}

#[test]
fn bad_requests_are_refused_and_the_daemon_keeps_serving() {
    let install = Install::new(1, 2);
    let _daemon = install.start();
    let inside = install.path().join("exists");
    std::fs::write(&inside, b"data").unwrap();

    assert_clear_failure(
        &install.run(
            "stager",
            &["archive", install.path().join("missing").to_str().unwrap()],
        ),
        "no such file",
    );
    assert_clear_failure(
        &install.run("stager", &["archive", "/etc/hostname"]),
        "not under an allowed archive directory",
    );
    // One bad path among good ones queues nothing.
    let out = install.run(
        "stager",
        &["archive", inside.to_str().unwrap(), "/nonexistent/x"],
    );
    assert_clear_failure(&out, "/nonexistent/x");
    let status: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["status", "--json"])).unwrap();
    assert_eq!(
        status["files"].as_array().unwrap().len(),
        0,
        "nothing was queued"
    );

    assert_clear_failure(
        &install.run(
            "stager",
            &[
                "recall",
                "424242",
                install.path().join("r").to_str().unwrap(),
            ],
        ),
        "no file with id 424242",
    );
    assert_clear_failure(&install.run("stager", &["ls-tape", "NOPE"]), "NOPE");
    assert_clear_failure(
        &install.run("tpconfig", &["nodrive", "down"]),
        "no drive named nodrive",
    );

    // Garbage bytes on the stager endpoint get an error reply.
    let config = tapeserver::config::Config::load(&install.config).unwrap();
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::REQ).unwrap();
    socket.set_rcvtimeo(10_000).unwrap();
    socket.set_linger(0).unwrap();
    socket.connect(&config.stager_endpoint()).unwrap();
    socket
        .send(&b"\xff\xfe\x00garbage that is not protobuf"[..], 0)
        .unwrap();
    let reply = socket.recv_bytes(0).expect("the daemon answers garbage");
    let reply: tapeserver::proto::stager::StagerReply =
        prost::Message::decode(reply.as_slice()).unwrap();
    assert!(
        matches!(
            reply.kind,
            Some(tapeserver::proto::stager::stager_reply::Kind::Error(_))
        ),
        "{reply:?}"
    );
    // A raw DEALER with a malformed envelope, then the daemon still serves.
    let dealer = ctx.socket(zmq::DEALER).unwrap();
    dealer.set_linger(0).unwrap();
    dealer.connect(&config.stager_endpoint()).unwrap();
    dealer
        .send_multipart([&b"x"[..], &b"y"[..], &b"z"[..]], 0)
        .unwrap();

    let out = install.ok("stager", &["archive", inside.to_str().unwrap(), "--wait"]);
    assert_eq!(common::archived_ids(&out).len(), 1);
}

/// Raw requests on the daemon's sockets, bypassing the clients.
fn dealer(ctx: &zmq::Context, endpoint: &str) -> zmq::Socket {
    let s = ctx.socket(zmq::DEALER).unwrap();
    s.set_linger(0).unwrap();
    s.set_sndhwm(0).unwrap();
    s.connect(endpoint).unwrap();
    s
}

#[test]
fn oversized_truncated_and_flooding_messages_leave_the_daemon_serving() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    let run = install.path().join("run");
    let ctx = zmq::Context::new();
    // Oversized: 32 MiB to the stager socket, 1 MiB to the admin socket,
    // 4 MiB to the session socket and to the library controller. libzmq
    // drops the peer before the body is read.
    for (i, (socket, size)) in [
        ("stager", 32 << 20),
        ("admin", 1 << 20),
        ("sessions", 4 << 20),
        ("tlc", 4 << 20),
    ]
    .into_iter()
    .enumerate()
    {
        let s = dealer(&ctx, &format!("ipc://{}/{socket}.sock", run.display()));
        // The daemon hanging up on us is the refusal: watch for it.
        let events = format!("inproc://monitor-{i}");
        s.monitor(&events, zmq::SocketEvent::DISCONNECTED as i32)
            .unwrap();
        let monitor = ctx.socket(zmq::PAIR).unwrap();
        monitor.connect(&events).unwrap();
        s.send("", zmq::SNDMORE).unwrap();
        s.send(vec![0x0a; size], 0).unwrap();
        monitor.set_rcvtimeo(60_000).unwrap();
        let event = monitor
            .recv_multipart(0)
            .expect("the daemon disconnects the sender");
        let code = u16::from_le_bytes([event[0][0], event[0][1]]);
        assert_eq!(code, zmq::SocketEvent::DISCONNECTED as u16, "{socket}");
    }
    // Truncated and wrong-version messages: a request cut in the middle of
    // a field, and a field number no version of the protocol has.
    let s = dealer(&ctx, &format!("ipc://{}/stager.sock", run.display()));
    let good = tapeserver::proto::stager::StagerRequest {
        request_id: 9,
        kind: Some(tapeserver::proto::stager::stager_request::Kind::Tapes(
            Default::default(),
        )),
    }
    .encode_to_vec();
    s.set_rcvtimeo(10_000).unwrap();
    for body in [
        good[..good.len() - 1].to_vec(),
        vec![0xf8, 0xff, 0xff, 0x0f, 1],
    ] {
        s.send("", zmq::SNDMORE).unwrap();
        s.send(body, 0).unwrap();
        let reply = s.recv_multipart(0).expect("an error reply");
        let reply =
            tapeserver::proto::stager::StagerReply::decode(reply.last().unwrap().as_slice())
                .unwrap();
        assert!(
            matches!(
                reply.kind,
                Some(tapeserver::proto::stager::stager_reply::Kind::Error(_))
            ),
            "{reply:?}"
        );
    }
    // A flood: a client sending requests as fast as it can without reading
    // a reply, on the stager and the session sockets.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooders: Vec<_> = ["stager", "sessions", "admin"]
        .into_iter()
        .map(|socket| {
            let endpoint = format!("ipc://{}/{socket}.sock", run.display());
            let stop = stop.clone();
            let ctx = ctx.clone();
            // Well-formed requests to the stager socket, garbage to the
            // session and admin sockets.
            let body = if socket == "stager" {
                good.clone()
            } else {
                vec![0xff; 16]
            };
            std::thread::spawn(move || {
                let s = dealer(&ctx, &endpoint);
                let mut sent = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if s.send("", zmq::SNDMORE | zmq::DONTWAIT).is_ok()
                        && s.send(body.as_slice(), zmq::DONTWAIT).is_ok()
                    {
                        sent += 1;
                    }
                }
                sent
            })
        })
        .collect();
    // Meanwhile other clients are served, on every socket.
    for _ in 0..5 {
        let out = install.run("stager", &["tapes", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = install.run("tpstat", &["--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let file = install.make_file("during-flood", 1000, 3);
    let ids = install.archive(std::slice::from_ref(&file));
    install.wait_for(
        "the file on tape during the flood",
        Duration::from_secs(60),
        || install.state_of(ids[0]).state == "on_tape",
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: u64 = flooders.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(sent > 1000, "the flood flooded ({sent} messages)");
    let log = install.daemon_log();
    let warnings = log.matches("undecodable session report").count();
    assert!(
        (1..100).contains(&warnings),
        "bad session reports are logged, at most once a second ({warnings} lines)"
    );
}
