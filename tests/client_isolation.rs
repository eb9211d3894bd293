//! Clients see only their own data: every file belongs to the client (or
//! client group, `owner`) that archived it, and every stager request by
//! file id, recall id or VID is held to that. A refusal reads the same
//! whether the id exists or not. The operator's tools see everything.

mod common;

use std::path::Path;

use common::curve::{client_config, keygen, stager, stderr};
use common::{Install, free_port, pattern};
use tapeserver::config::security::ClientEntry;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The refusal with the id taken out: what tells "not yours" from "none".
fn sentence(out: &std::process::Output, id: u64) -> String {
    assert!(!out.status.success(), "accepted: {}", stdout(out));
    stderr(out).replace(&id.to_string(), "N")
}

#[test]
fn a_client_sees_and_recalls_only_its_owners_files() {
    let install = Install::new(1, 2);
    let port = free_port();
    let keys = install.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (server_key, server_public) = keygen(&keys, "server");
    let mut clients = Vec::new();
    let mut configs = Vec::new();
    // c1 alone; c2 and c3 share the owner "team".
    for (name, owner) in [("c1", None), ("c2", Some("team")), ("c3", Some("team"))] {
        let (key_file, public) = keygen(&keys, name);
        let root = install.path().join(name);
        std::fs::create_dir_all(root.join("back")).unwrap();
        clients.push(ClientEntry {
            name: name.into(),
            key: public,
            archive_roots: Some(vec![root.clone()]),
            recall_roots: Some(vec![root.join("back")]),
            owner: owner.map(String::from),
        });
        configs.push(client_config(
            &keys,
            name,
            port,
            Some((&server_public, &key_file)),
        ));
    }
    install.configure(|c| {
        c.endpoints.stager = format!("tcp://127.0.0.1:{port}");
        c.security.key_file = Some(server_key.clone());
        c.security.clients = clients.clone();
    });
    let _daemon = install.start();
    let (c1, c2, c3) = (&configs[0], &configs[1], &configs[2]);
    let root = |name: &str| install.path().join(name);

    // Each archives a file of its own.
    let archive = |config: &Path, name: &str, seed: u64| {
        let source = root(name).join("f");
        std::fs::write(&source, pattern(200_000, seed)).unwrap();
        let out = stager(config, &["archive", source.to_str().unwrap(), "--wait"]);
        assert!(out.status.success(), "{}", stderr(&out));
        common::archived_ids(&stdout(&out))[0].0
    };
    let mine = archive(c1, "c1", 1);
    let theirs = archive(c2, "c2", 2);
    let absent = theirs + 1000;

    // c2's file is to c1 what a file that does not exist is.
    let recall = |config: &Path, id: u64, dest: &Path| {
        stager(
            config,
            &["recall", &id.to_string(), dest.to_str().unwrap(), "--wait"],
        )
    };
    let c1_back = root("c1").join("back");
    for args in [
        |id: u64| vec!["status".to_string(), id.to_string()],
        |id: u64| vec!["status".to_string(), "--json".into(), id.to_string()],
    ] {
        let not_mine = stager(
            c1,
            &args(theirs).iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let none = stager(
            c1,
            &args(absent).iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(sentence(&not_mine, theirs), sentence(&none, absent));
    }
    let not_mine = recall(c1, theirs, &c1_back.join("stolen"));
    let none = recall(c1, absent, &c1_back.join("none"));
    assert_eq!(sentence(&not_mine, theirs), sentence(&none, absent));
    assert!(!c1_back.join("stolen").exists(), "nothing was recalled");

    // Listings hold only the client's own.
    let json = |config: &Path, args: &[&str]| -> serde_json::Value {
        let out = stager(config, args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let files = json(c1, &["status", "--json"]);
    let ids: Vec<u64> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [mine], "c1 lists only its own files");
    let theirs_vid = json(c2, &["status", "--json", &theirs.to_string()])["files"][0]["vid"]
        .as_str()
        .unwrap()
        .to_string();
    let on_tape = |config: &Path| -> Vec<u64> {
        json(config, &["ls-tape", &theirs_vid, "--json"])["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["file_id"].as_u64().unwrap())
            .collect()
    };
    assert!(on_tape(c2).contains(&theirs));
    assert!(
        !on_tape(c1).contains(&theirs),
        "c1 sees c2's file on {theirs_vid}"
    );

    // c3 shares c2's owner: it sees and recalls c2's file; c2's recall is
    // c3's to see too, and not c1's.
    let c3_back = root("c3").join("back");
    let out = recall(c3, theirs, &c3_back.join("shared"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(c3_back.join("shared")).unwrap() == pattern(200_000, 2));
    let recall_id: u64 = stdout(&out)
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .expect("a recall id");
    let out = stager(c2, &["recalls", &recall_id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let not_mine = stager(c1, &["recalls", &recall_id.to_string()]);
    let none = stager(c1, &["recalls", &(recall_id + 1000).to_string()]);
    assert_eq!(
        sentence(&not_mine, recall_id),
        sentence(&none, recall_id + 1000)
    );
    assert_eq!(
        json(c1, &["recalls", "--json"])["recalls"],
        serde_json::json!([]),
        "c1 lists none of the team's recalls"
    );
    assert_eq!(
        json(c3, &["recalls", "--json"])["recalls"][0]["id"],
        recall_id
    );

    // The operator sees every file, with its owner.
    let file: serde_json::Value =
        serde_json::from_str(&install.ok("tapeadmin", &["file", &theirs.to_string(), "--json"]))
            .unwrap();
    assert_eq!(file["owner"], "team", "{file}");
}
