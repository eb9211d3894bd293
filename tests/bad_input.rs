//! Bad input gets one clear sentence and a non-zero exit, never a panic,
//! and garbage on the stager socket does not stop the daemon.

mod common;

use common::{Install, bin};

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
