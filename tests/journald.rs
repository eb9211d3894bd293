//! Under systemd (JOURNAL_STREAM names our stderr) events reach the journal
//! in its native protocol, their fields as journal fields. The daemon runs
//! in a private mount namespace where /run/systemd/journal is this test's
//! directory, so the test's datagram socket is the journal it writes to
//! (no journald runs on a test machine; the tests run as root).

mod common;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Install, Killed, bin};

/// One native-protocol entry: `KEY=value` lines, or `KEY`, a 64-bit
/// little-endian length and the raw value.
fn parse_entry(mut raw: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    while !raw.is_empty() {
        let line_end = raw.iter().position(|&b| b == b'\n').unwrap_or(raw.len());
        let line = &raw[..line_end];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            fields.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            );
            raw = raw.get(line_end + 1..).unwrap_or_default();
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &raw[line_end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            fields.insert(key, String::from_utf8_lossy(&rest[8..8 + len]).into_owned());
            raw = rest.get(8 + len + 1..).unwrap_or_default();
        }
    }
    fields
}

#[test]
fn under_systemd_events_reach_the_journal_with_their_fields() {
    let install = Install::new(1, 1);
    let journal = install.path().join("journal");
    std::fs::create_dir(&journal).unwrap();
    let socket = UnixDatagram::bind(journal.join("socket")).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    // Drained all along, as journald does: a full socket blocks the writer.
    let (entries, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        while let Ok(n) = socket.recv(&mut buf) {
            if entries.send(parse_entry(&buf[..n])).is_err() {
                return;
            }
        }
    });
    std::fs::create_dir_all("/run/systemd/journal").unwrap();
    let stderr = std::fs::File::create(install.path().join("stderr.log")).unwrap();
    let meta = stderr.metadata().unwrap();
    let daemon = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --bind {} /run/systemd/journal && exec {} run --config {}",
            journal.display(),
            bin("tapeserverd").display(),
            install.config.display()
        ))
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let _daemon = Killed(daemon);
    install.wait_for("the daemon", Duration::from_secs(60), || {
        install.run("tpstat", &[]).status.success()
    });
    let files = common::archived(&install, 1, 300_000);
    install.recall_and_compare(&files, "back");

    // Read the journal until a session's summary and a recall's queueing
    // have been seen, each with its fields.
    let mut summary = None;
    let mut queued = None;
    let mut mounted = None;
    while summary.is_none() || queued.is_none() || mounted.is_none() {
        let entry = received
            .recv_timeout(Duration::from_secs(60))
            .expect("journal entries");
        let recall = entry.get("SESSION").map(String::as_str) == Some("recall");
        match entry.get("MESSAGE").map(String::as_str) {
            // Context in the message itself: what journalctl shows.
            Some(m)
                if m.starts_with("session summary: recall of V00001 on drive0: 1 files")
                    && recall =>
            {
                summary = Some(entry)
            }
            Some("recall queued") => queued = Some(entry),
            // From the session's tape thread, not its main thread: the
            // session's fields all the same.
            Some("tape mounted") if recall => mounted = Some(entry),
            _ => {}
        }
    }
    let summary = summary.unwrap();
    for (key, want) in [
        ("DRIVE", "drive0"),
        ("VID", "V00001"),
        ("SESSION", "recall"),
    ] {
        assert_eq!(
            summary.get(key).map(String::as_str),
            Some(want),
            "{key}: {summary:?}"
        );
    }
    assert!(
        summary.get("PID").is_some_and(|p| p.parse::<u32>().is_ok()),
        "{summary:?}"
    );
    assert_eq!(
        summary.get("PRIORITY").map(String::as_str),
        Some("6"),
        "routine events at info: {summary:?}"
    );
    let mounted = mounted.unwrap();
    for key in ["DRIVE", "VID", "PID", "MOUNT"] {
        assert!(mounted.contains_key(key), "{key}: {mounted:?}");
    }
    let queued = queued.unwrap();
    assert_eq!(
        queued.get("FILE_ID"),
        Some(&files[0].0.to_string()),
        "{queued:?}"
    );
    assert_eq!(
        queued.get("FSEQ").map(String::as_str),
        Some("1"),
        "{queued:?}"
    );
    // Nothing went to stderr as well.
    let text = std::fs::read_to_string(install.path().join("stderr.log")).unwrap();
    assert!(!text.contains("session summary"), "{text}");
}
