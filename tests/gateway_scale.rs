//! A stage of 10,000 small files spread over 20 tapes through tapegw: one
//! call, answered with its id; at most one mount per tape; every file back
//! at its path byte for byte.

mod common;

use std::time::Duration;

use common::gateway::Gateway;
use common::{Install, pattern};
use serde_json::Value;

const FILES: usize = 10_000;
const TAPES: usize = 20;
const SIZE: usize = 4_000;

#[test]
fn a_stage_of_ten_thousand_files_on_twenty_tapes_costs_at_most_twenty_mounts() {
    let pools: Vec<String> = (0..TAPES).map(|i| format!("p{i}:1")).collect();
    let install = Install::with_args(2, 1, &["--pools", &pools.join(","), "--gateway"]);
    let _daemon = install.start();
    let gw = Gateway::start(&install);
    let dir = install.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let paths: Vec<String> = (0..FILES)
        .map(|i| {
            let p = dir.join(format!("f{i:05}"));
            std::fs::write(&p, pattern(SIZE, i as u64)).unwrap();
            p.display().to_string()
        })
        .collect();
    // Each pool's tape gets its share, so the stage reaches every tape.
    for (t, chunk) in paths.chunks(FILES / TAPES).enumerate() {
        let pool = format!("p{t}");
        let mut args = vec!["archive", "--pool", pool.as_str(), "--wait"];
        args.extend(chunk.iter().map(String::as_str));
        install.ok("stager", &args);
    }
    let mut evict = vec!["evict"];
    evict.extend(paths.iter().map(String::as_str));
    install.ok("stager", &evict);
    let mounts = |kind: &str| -> u64 {
        let v: Value = serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
        v["tapes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t[kind].as_u64().unwrap())
            .sum()
    };
    let before = mounts("read_mounts");

    let token = gw.token("storage.stage:/", "fts");
    let id = gw.stage(&token, &paths);
    let mut status = Value::Null;
    install.wait_for("10,000 staged files", Duration::from_secs(600), || {
        status = gw
            .curl("GET", &format!("/api/v1/stage/{id}"), Some(&token), None)
            .json();
        status.get("completedAt").is_some()
    });
    let files = status["files"].as_array().unwrap();
    assert_eq!(files.len(), FILES);
    assert!(
        files.iter().all(|f| f["state"] == "COMPLETED"),
        "every file staged"
    );
    let used = mounts("read_mounts") - before;
    assert!(used <= TAPES as u64, "{used} mounts for {TAPES} tapes");
    for (i, p) in paths.iter().enumerate() {
        assert_eq!(std::fs::read(p).unwrap(), pattern(SIZE, i as u64), "{p}");
    }
}
