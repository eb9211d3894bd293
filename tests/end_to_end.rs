//! The walking skeleton end to end: the real daemon archives files of edge
//! sizes to file-backed cartridges and recalls them byte-exact, before and
//! after a restart.

mod common;

use std::path::PathBuf;

use common::{BLOCK_SIZE, Install, archived_ids, pattern};

#[test]
fn archive_and_recall_byte_exact_across_a_restart() {
    let install = Install::new(2, 4);
    let daemon = install.start();
    let src = install.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let bs = BLOCK_SIZE as usize;
    let sizes = [
        0,
        1,
        bs - 1,
        bs,
        bs + 1,
        10 << 20,
        12_345,
        700_001,
        3 * bs + 17,
    ];
    let mut paths = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let path = src.join(format!("file-{i}-{size}"));
        std::fs::write(&path, pattern(*size, i as u64 + 1)).unwrap();
        paths.push(path);
    }
    let mut args = vec!["archive"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    args.push("--wait");
    let stdout = install.ok("stager", &args);
    let ids = archived_ids(&stdout);
    assert_eq!(ids.len(), sizes.len(), "one line per file: {stdout}");

    let status: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["status", "--json"])).unwrap();
    let files = status["files"].as_array().unwrap();
    assert_eq!(files.len(), sizes.len());
    let mut on_tape = std::collections::BTreeSet::new();
    for f in files {
        assert_eq!(f["state"], "on_tape", "{f}");
        assert!(f["vid"].is_string() && f["fseq"].is_u64(), "{f}");
        assert!(
            on_tape.insert((
                f["vid"].as_str().unwrap().to_string(),
                f["fseq"].as_u64().unwrap()
            )),
            "two files at one place: {f}"
        );
    }

    let files: Vec<(u64, PathBuf)> = ids.iter().map(|(id, p)| (*id, PathBuf::from(p))).collect();
    install.recall_and_compare(&files, "out1");

    let tpstat: serde_json::Value =
        serde_json::from_str(&install.ok("tpstat", &["--json"])).unwrap();
    assert_eq!(tpstat["drives"].as_array().unwrap().len(), 2);
    assert_eq!(daemon.stop(), Some(0), "SIGTERM stops the daemon cleanly");

    // The catalogue and the cartridges persist.
    let _daemon = install.start();
    install.recall_and_compare(&files, "out2");
    let tapes: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    let total: u64 = tapes["tapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["files"].as_u64().unwrap())
        .sum();
    assert_eq!(total, sizes.len() as u64, "every file on tape exactly once");
}
