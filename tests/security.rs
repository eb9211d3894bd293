//! Who may reach what, each rule with a test that tries to break it: a
//! stager endpoint or a controller other hosts reach needs CURVE keys and
//! takes only listed client keys; each client stays in its own roots
//! (symlinks do not lead out); a recall never overwrites; the admin socket
//! is 0660 with the configured group. (Bad input: `bad_input.rs`; dropping
//! root: `privileges.rs`.)

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::curve::{client_config, keygen, stager, stderr};
use common::{Install, bin, free_port, pattern, refused_to_start};
use tapeserver::config::security::ClientEntry;

#[test]
fn a_remote_stager_endpoint_needs_curve_and_accepts_only_listed_keys_in_their_roots() {
    let install = Install::new(1, 2);
    let port = free_port();
    let valid = std::fs::read_to_string(&install.config).unwrap();
    install.configure(|c| c.endpoints.stager = format!("tcp://0.0.0.0:{port}"));
    // No key pair: the daemon refuses to start, and says why.
    let why = refused_to_start("tapeserverd", &install.config);
    assert!(why.contains("needs a CURVE key pair"), "{why}");
    std::fs::write(&install.config, valid).unwrap();

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
        c.endpoints.stager = format!("tcp://0.0.0.0:{port}");
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
            owner: None,
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

    // An unknown key: nothing is delivered. No key at all: the client
    // says at once that the daemon serves TCP with CURVE only.
    let out = stager(&unknown, &["archive", source.to_str().unwrap()]);
    assert!(!out.status.success(), "accepted without a listed key");
    assert!(
        stderr(&out).contains("cannot reach") || stderr(&out).contains("did not answer"),
        "{}",
        stderr(&out)
    );
    let out = stager(&plain, &["archive", source.to_str().unwrap()]);
    assert!(!out.status.success(), "accepted without a key");
    assert!(stderr(&out).contains("CURVE only"), "{}", stderr(&out));
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
    let why = refused_to_start("tapeserverd", &install.config);
    assert!(why.contains("no-such-group-here"), "{why}");
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
    let why = refused_to_start("tlcd", &config);
    assert!(why.contains("needs a CURVE key pair"), "{why}");

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
