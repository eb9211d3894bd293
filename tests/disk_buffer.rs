//! The disk buffer kept between watermarks: a stage through tapegw of more
//! than the buffer holds (a small tmpfs) brings every file back byte for
//! byte; recalls wait for room instead of failing, the buffer never goes
//! above its high watermark, the collector evicts what the client released
//! and never a pinned copy, and `tapeadmin buffer` says what holds it.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::gateway::Gateway;
use common::tmpfs::Tmpfs;
use common::{Install, pattern};
use serde_json::{Value, json};
use tapeserver::config::disk_buffer::Percent;
use tapeserver::config::{DiskBufferConfig, Interval};

const MIB: usize = 1 << 20;
const FILES: usize = 20;

#[test]
fn a_stage_larger_than_the_buffer_arrives_whole_without_overflowing_it() {
    let install = Install::with_args(1, 2, &["--gateway"]);
    let buffer = Tmpfs::mount(&install.path().join("buffer"), "8m");
    let high = Percent(80);
    install.configure(|c| {
        c.buffer = Some(DiskBufferConfig {
            path: Some(buffer.path().to_path_buf()),
            high_watermark: high,
            low_watermark: Percent(30),
            collect_interval: Interval(Duration::from_millis(500)),
        });
    });
    let _daemon = install.start();
    let gw = Gateway::start(&install);
    let limit = high.of(buffer.capacity());

    // 20 MiB archived through an 8 MiB buffer, four files at a time, each
    // batch evicted once on tape to make room for the next.
    let paths: Vec<String> = (0..FILES)
        .map(|i| buffer.path().join(format!("f{i:02}")).display().to_string())
        .collect();
    for batch in paths.chunks(4) {
        for p in batch {
            let i: usize = p[p.len() - 2..].parse().unwrap();
            std::fs::write(p, pattern(MIB, i as u64)).unwrap();
        }
        let mut args = vec!["archive", "--wait"];
        args.extend(batch.iter().map(String::as_str));
        install.ok("stager", &args);
        let mut evict = vec!["evict"];
        evict.extend(batch.iter().map(String::as_str));
        install.ok("stager", &evict);
    }
    assert!(buffer.used() < MIB as u64, "every copy evicted");

    let token = gw.token("storage.stage:/", "fts");
    let id = gw.stage(&token, &paths);
    // The client as FTS is: copies each file out once it is online, then
    // releases it.
    let mut verified = BTreeSet::new();
    let mut peak = 0u64;
    install.wait_for(
        "every file staged through the buffer",
        Duration::from_secs(300),
        || {
            peak = peak.max(buffer.used());
            let status = gw
                .curl("GET", &format!("/api/v1/stage/{id}"), Some(&token), None)
                .json();
            let files = status["files"].as_array().cloned().unwrap_or_default();
            for f in &files {
                assert_ne!(f["state"], "FAILED", "no file fails for space: {f}");
            }
            let online: Vec<String> = files
                .iter()
                .filter(|f| f["state"] == "COMPLETED")
                .filter_map(|f| f["path"].as_str().map(String::from))
                .filter(|p| !verified.contains(p))
                .collect();
            for p in &online {
                let i: usize = p[p.len() - 2..].parse().unwrap();
                // Pinned until released: the collector must not have taken it.
                let bytes =
                    std::fs::read(p).unwrap_or_else(|e| panic!("{p} staged, then gone: {e}"));
                assert!(
                    bytes == pattern(MIB, i as u64),
                    "{p}: not the archived bytes"
                );
                verified.insert(p.clone());
            }
            if !online.is_empty() {
                let released = gw.curl(
                    "POST",
                    &format!("/api/v1/release/{id}"),
                    Some(&token),
                    Some(&json!({ "paths": online }).to_string()),
                );
                assert_eq!(released.status, 200, "{}", released.body);
            }
            verified.len() == FILES
        },
    );
    assert!(
        peak <= limit,
        "the buffer went to {peak} bytes, above its high watermark ({limit})"
    );
    // Several rounds: the buffer could never hold the request at once.
    let tapes: Value = serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    let reads: u64 = tapes["tapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["read_mounts"].as_u64().unwrap())
        .sum();
    assert!(
        reads >= 3,
        "{reads} read mounts for 20 MiB through 6.4 MiB of room"
    );
    eprintln!("{reads} read mounts; buffer peak {peak} of {limit} bytes (high watermark)");

    let report: Value =
        serde_json::from_str(&install.ok("tapeadmin", &["buffer", "--json"])).unwrap();
    assert_eq!(report["path"], buffer.path().display().to_string());
    assert_eq!(report["high_watermark_percent"], 80);
    assert_eq!(report["capacity_bytes"], buffer.capacity());
    assert_eq!(report["pinned_files"], 0, "every file released: {report}");
    assert_eq!(report["reserved_bytes"], 0, "{report}");
    let log = install.daemon_log();
    assert!(
        log.contains("disk buffer collected"),
        "the collector evicted: {log}"
    );
}
