//! Each security rule, with a test that tries to break it: a stager
//! endpoint other hosts reach needs CURVE keys and takes only listed client
//! keys; each client stays in its own roots (symlinks do not lead out); a
//! recall never overwrites; oversized messages and floods leave the daemon
//! serving; the admin socket is 0660 with the configured group.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Install, bin, pattern};
use prost::Message;
use tapeserver::config::security::ClientEntry;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let out = Command::new(bin("tapeserverd"))
        .args(["keygen", name, "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
    (dir.join(format!("{name}.key")), public.trim().to_string())
}

fn client_config(dir: &Path, name: &str, port: u16, keys: Option<(&str, &Path)>) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let mut text =
        format!("[client]\nendpoints = [\"tcp://127.0.0.1:{port}\"]\ntimeout = \"3s\"\n");
    if let Some((server, key_file)) = keys {
        text.push_str(&format!(
            "server_key = \"{server}\"\nkey_file = \"{}\"\n",
            key_file.display()
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn stager(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin("stager"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

#[test]
fn a_remote_stager_endpoint_needs_curve_and_accepts_only_listed_keys_in_their_roots() {
    let install = Install::new(1, 2);
    let port = free_port();
    install.configure(|c| c.endpoints.stager = format!("tcp://0.0.0.0:{port}"));
    // No key pair: the daemon refuses to start, and says why.
    let out = Command::new(bin("tapeserverd"))
        .args(["run", "--config"])
        .arg(&install.config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("needs a CURVE key pair"),
        "{}",
        stderr(&out)
    );

    let keys = install.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (server_key, server_public) = keygen(&keys, "server");
    let (mine, my_public) = keygen(&keys, "stager1");
    let (stranger, _) = keygen(&keys, "stranger");
    let root = install.path().join("stager1");
    let back = root.join("back");
    let other = install.path().join("other");
    for d in [&root, &back, &other] {
        std::fs::create_dir_all(d).unwrap();
    }
    install.configure(|c| {
        // The daemon's own roots hold `other` only: the client's roots are
        // elsewhere, and the daemon's do not widen them.
        c.paths.archive_roots = vec![other.clone()];
        c.paths.recall_roots = vec![other.clone()];
        c.security.key_file = Some(server_key.clone());
        c.security.clients = vec![ClientEntry {
            name: "stager1".into(),
            key: my_public.clone(),
            archive_roots: Some(vec![root.clone()]),
            recall_roots: Some(vec![back.clone()]),
        }];
    });
    let _daemon = install.start();
    let listed = client_config(&keys, "listed", port, Some((&server_public, &mine)));
    let unknown = client_config(&keys, "unknown", port, Some((&server_public, &stranger)));
    let plain = client_config(&keys, "plain", port, None);

    let data = pattern(300_000, 7);
    let source = root.join("f");
    std::fs::write(&source, &data).unwrap();
    let elsewhere = other.join("g");
    std::fs::write(&elsewhere, b"not yours").unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("link")).unwrap();

    // An unknown key and no key at all: nothing is delivered.
    for config in [&unknown, &plain] {
        let out = stager(config, &["archive", source.to_str().unwrap()]);
        assert!(!out.status.success(), "accepted without a listed key");
        assert!(
            stderr(&out).contains("cannot reach") || stderr(&out).contains("did not answer"),
            "{}",
            stderr(&out)
        );
    }
    assert!(
        install.daemon_log().contains("unknown CURVE key"),
        "the refusal is logged{}",
        install.daemon_log_tail()
    );
    // The listed key, outside its roots (the daemon's own roots would allow
    // it), and through a symlink in its root: refused.
    for path in [&elsewhere, &root.join("link")] {
        let out = stager(&listed, &["archive", path.to_str().unwrap()]);
        assert!(!out.status.success(), "{} was accepted", path.display());
        assert!(
            stderr(&out).contains("not under an allowed archive directory"),
            "{}",
            stderr(&out)
        );
    }
    // Inside: archived, then recalled into its recall root only, never
    // onto an existing file.
    let out = stager(&listed, &["archive", source.to_str().unwrap(), "--wait"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = common::archived_ids(&String::from_utf8_lossy(&out.stdout))[0].0;
    let out = stager(
        &listed,
        &["recall", &id.to_string(), other.join("r").to_str().unwrap()],
    );
    assert!(
        stderr(&out).contains("not under an allowed recall directory"),
        "{}",
        stderr(&out)
    );
    std::fs::write(back.join("exists"), b"mine").unwrap();
    let out = stager(
        &listed,
        &[
            "recall",
            &id.to_string(),
            back.join("exists").to_str().unwrap(),
        ],
    );
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read(back.join("exists")).unwrap(), b"mine");
    let dest = back.join("r");
    let out = stager(
        &listed,
        &["recall", &id.to_string(), dest.to_str().unwrap(), "--wait"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read(&dest).unwrap() == data,
        "recalled bytes differ"
    );
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
        assert!(out.status.success(), "{}", stderr(&out));
        let out = install.run("tpstat", &["--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
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

#[test]
fn the_admin_socket_is_0660_and_belongs_to_the_configured_group() {
    let install = Install::new(1, 1);
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(1))
        .unwrap()
        .expect("a group with gid 1");
    install.configure(|c| c.security.admin_group = Some(group.name.clone()));
    let _daemon = install.start();
    let meta = std::fs::metadata(install.path().join("run/admin.sock")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), 1);
    // A group that does not exist: refused at start, named.
    drop(_daemon);
    install.configure(|c| c.security.admin_group = Some("no-such-group-here".into()));
    let out = Command::new(bin("tapeserverd"))
        .args(["run", "--config"])
        .arg(&install.config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no-such-group-here"),
        "{}",
        stderr(&out)
    );
}

/// Started as root with `[security] user`, sessions run as that user with
/// no capability and cannot gain one; the files they recall are its.
#[test]
fn sessions_started_by_root_run_as_the_configured_user_without_capabilities() {
    let install = Install::new(1, 1);
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    let release = install.path().join("release");
    install.configure(|c| {
        c.security.user = Some("nobody".into());
        // The session waits at its first data block, so it can be looked at.
        c.drives[0].faults = Some(tapeserver::config::FaultsConfig {
            stall_at_block: Some(1),
            stall_until: Some(release.clone()),
            ..Default::default()
        });
    });
    let source = install.make_file("f", 600_000, 5);
    let chown = Command::new("chown")
        .args(["-R", &format!("{}:{}", nobody.uid, nobody.gid)])
        .arg(install.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let _daemon = install.start();
    let ids = install.archive(std::slice::from_ref(&source));
    let mut pid = 0;
    install.wait_for("a session at work", Duration::from_secs(60), || {
        pid = install.drive("drive0")["pid"].as_i64().unwrap_or(0);
        pid > 0
    });
    install.wait_for("the session to drop root", Duration::from_secs(60), || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status.contains(&format!("Uid:\t{0}\t{0}\t{0}\t{0}", nobody.uid))
    });
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    for (name, want) in [
        ("CapEff:", "0000000000000000"),
        ("CapPrm:", "0000000000000000"),
        ("NoNewPrivs:", "1"),
    ] {
        let got = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap();
        assert_eq!(got, want, "{name} of the session");
    }
    std::fs::write(&release, b"").unwrap();
    install.wait_for("the file on tape", Duration::from_secs(60), || {
        install.state_of(ids[0]).state == "on_tape"
    });
    let dest = install.path().join("back");
    let out = install.run(
        "stager",
        &[
            "recall",
            &ids[0].to_string(),
            dest.to_str().unwrap(),
            "--wait",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&dest).unwrap() == std::fs::read(&source).unwrap());
    assert_eq!(std::fs::metadata(&dest).unwrap().uid(), nobody.uid.as_raw());
}

/// tlcd started by root with `[security] user` serves as that user, with
/// no capability.
#[test]
fn tlcd_started_by_root_runs_as_the_configured_user() {
    let install = Install::new(1, 2);
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    let endpoint = format!("ipc://{}/tlc-nobody.sock", install.path().display());
    let config = install.path().join("tlcd.toml");
    std::fs::write(
        &config,
        format!(
            "[library]\nkind = \"emulated\"\npath = \"{}\"\n\n[controller]\nlisten = [\"{endpoint}\"]\n\n[security]\nuser = \"nobody\"\n",
            install.path().join("library").display()
        ),
    )
    .unwrap();
    let chown = Command::new("chown")
        .args(["-R", &format!("{}:{}", nobody.uid, nobody.gid)])
        .arg(install.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let mut tlcd = Command::new(bin("tlcd"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let tplib = |args: &[&str]| {
        Command::new(bin("tplib"))
            .args(["--config"])
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    install.wait_for("tlcd to serve", Duration::from_secs(60), || {
        String::from_utf8_lossy(&tplib(&["ping"]).stdout).contains("active")
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", tlcd.id())).unwrap();
    assert!(
        status.contains(&format!("Uid:\t{0}\t{0}\t{0}\t{0}", nobody.uid)),
        "{status}"
    );
    assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
    // It still drives the library: a mount and a dismount.
    let out = tplib(&["mount", "V00001", "drive0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tplib(&["dismount", "V00001", "drive0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = tlcd.kill();
    let _ = tlcd.wait();
}

/// tlcd on an address other hosts reach: refused without a key pair; with
/// one, the daemon and its sessions (listed keys) mount through it, and a
/// client with another key gets nothing.
#[test]
fn a_remote_controller_needs_curve_and_serves_only_listed_keys() {
    let install = Install::new(1, 2);
    let keys = install.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (tlc_key, tlc_public) = keygen(&keys, "tlc");
    let (host_key, host_public) = keygen(&keys, "host");
    let (stranger_key, _) = keygen(&keys, "stranger");
    let port = free_port();
    let config = install.path().join("tlcd.toml");
    let write = |security: &str| {
        std::fs::write(
            &config,
            format!(
                "[library]\nkind = \"emulated\"\npath = \"{}\"\nrequest_timeout = \"2s\"\n\n[controller]\nlisten = [\"tcp://0.0.0.0:{port}\"]\nendpoint = \"tcp://127.0.0.1:{port}\"\n\n{security}",
                install.path().join("library").display()
            ),
        )
        .unwrap();
    };
    write("");
    let out = Command::new(bin("tlcd"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("needs a CURVE key pair"),
        "{}",
        stderr(&out)
    );

    write(&format!(
        "[security]\nkey_file = \"{}\"\n\n[[security.clients]]\nname = \"host\"\nkey = \"{host_public}\"\n",
        tlc_key.display()
    ));
    let mut tlcd = Command::new(bin("tlcd"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    install.configure(|c| {
        c.library.controllers = vec![format!("tcp://127.0.0.1:{port}")];
        c.library.controller_key = Some(tlc_public.clone());
        c.security.key_file = Some(host_key.clone());
    });
    let ping = |key: &Path| {
        let client = install.path().join("client.toml");
        let text = std::fs::read_to_string(&install.config)
            .unwrap()
            .replace(&host_key.display().to_string(), &key.display().to_string());
        std::fs::write(&client, text).unwrap();
        Command::new(bin("tplib"))
            .arg("--config")
            .arg(&client)
            .arg("ping")
            .output()
            .unwrap()
    };
    install.wait_for(
        "tlcd to answer a listed key",
        Duration::from_secs(60),
        || String::from_utf8_lossy(&ping(&host_key).stdout).contains("active"),
    );
    assert!(
        !String::from_utf8_lossy(&ping(&stranger_key).stdout).contains("active"),
        "an unlisted key was answered"
    );
    // The daemon and its sessions mount through it.
    let _daemon = install.start();
    let files = common::archived(&install, 2, 300_000);
    install.recall_and_compare(&files, "back");
    let _ = tlcd.kill();
    let _ = tlcd.wait();
}
