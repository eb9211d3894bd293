//! The Prometheus endpoint, read by a parser no one here wrote: Python
//! prometheus_client's OpenMetrics parser. After two files archived and
//! one recalled, the counters, states, histograms and the library's paths
//! say so. (scripts/test installs prometheus_client.)

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::{Install, free_port};

/// Every sample as "name{k=v,...}" -> value, through the Python parser.
fn scrape(port: u16) -> HashMap<String, f64> {
    let script = format!(
        r#"
import json, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = urllib.request.urlopen("http://127.0.0.1:{port}/metrics").read().decode()
out = {{}}
for family in text_string_to_metric_families(text):
    for s in family.samples:
        labels = ",".join(f"{{k}}={{v}}" for k, v in sorted(s.labels.items()))
        out[f"{{s.name}}{{{{{{labels}}}}}}"] = s.value
print(json.dumps(out))
"#
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_metrics_endpoint_counts_what_happened() {
    let install = Install::new(1, 3);
    let port = free_port();
    install.configure(|c| c.metrics.listen = Some(format!("127.0.0.1:{port}")));
    let _daemon = install.start();
    let files = common::archived(&install, 2, 300_000);
    install.recall_and_compare(&files[..1], "back");
    install.wait_for("the drive free", std::time::Duration::from_secs(60), || {
        install.drive("drive0")["state"] == "up"
    });
    let m = scrape(port);
    let get = |key: &str| {
        m.get(key)
            .copied()
            .unwrap_or_else(|| panic!("no {key} in {m:#?}"))
    };
    assert_eq!(get("tapeserver_drive_state{drive=drive0,state=up}"), 1.0);
    assert_eq!(
        get("tapeserver_drive_state{drive=drive0,state=running}"),
        0.0
    );
    assert_eq!(
        get("tapeserver_moved_files_total{drive=drive0,kind=migration}"),
        2.0
    );
    assert_eq!(
        get("tapeserver_moved_files_total{drive=drive0,kind=recall}"),
        1.0
    );
    assert_eq!(
        get("tapeserver_moved_bytes_total{drive=drive0,kind=migration}"),
        600_000.0
    );
    assert!(get("tapeserver_sessions_total{end=done,kind=migration}") >= 1.0);
    assert_eq!(get("tapeserver_sessions_total{end=done,kind=recall}"), 1.0);
    assert!(
        get("tapeserver_mount_seconds_count{}") >= 2.0,
        "a mount per session"
    );
    assert_eq!(get("tapeserver_watchdog_kills_total{}"), 0.0);
    let tapes: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("tapeserver_tapes{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(tapes, 3.0, "every tape in some state: {m:#?}");
    let paths = m
        .iter()
        .filter(|(k, v)| k.starts_with("tapeserver_controller_path_up{") && **v == 1.0)
        .count();
    assert_eq!(paths, 2, "both changer paths up: {m:#?}");
    // Two moves (a mount, a dismount) per mounted session on the
    // controller's paths (the two archives may take one session or two).
    let moves: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("tapeserver_controller_path_moves{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        moves,
        2.0 * get("tapeserver_mount_seconds_count{}"),
        "{m:#?}"
    );
    let seconds: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("tapeserver_controller_path_move_seconds{"))
        .map(|(_, v)| v)
        .sum();
    assert!(seconds > 0.0, "{m:#?}");
}

fn proc_field(pid: i32, field: &str) -> u64 {
    common::proc_status(pid, field)
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One raw request; the status line of the answer.
fn raw(port: u16, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    s.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// The endpoint answers only GET of /metrics, reads a bounded head, gives
/// no client a thread of its own, and one that never reads its answers
/// keeps no one else waiting; an address other hosts reach needs saying.
#[test]
fn the_metrics_endpoint_holds_its_limits() {
    use std::io::Write;
    let install = Install::new(1, 1);
    let port = free_port();
    install.configure(|c| c.metrics.listen = Some(format!("127.0.0.1:{port}")));
    let daemon = install.start();
    let pid = daemon.pid();
    // The first scrape opens the catalogue: counted before the baseline.
    assert!(raw(port, b"GET /metrics HTTP/1.1\r\n\r\n").contains("200"));

    for method in ["PUT", "DELETE", "FOO"] {
        let status = raw(
            port,
            format!("{method} /metrics HTTP/1.1\r\n\r\n").as_bytes(),
        );
        assert!(status.contains(" 405 "), "{method}: {status}");
    }
    assert!(raw(port, b"GET /other HTTP/1.1\r\n\r\n").contains(" 404 "));

    // A 200 MiB header line: the endpoint stops reading at its cap.
    let rss_before = proc_field(pid, "VmRSS:");
    {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nX-Long: ");
        let chunk = vec![b'a'; 1 << 20];
        let mut sent = 0;
        while sent < 200 && s.write_all(&chunk).is_ok() {
            sent += 1;
        }
        assert!(sent < 200, "the endpoint read a 200 MiB header");
    }
    let grown = proc_field(pid, "VmRSS:").saturating_sub(rss_before);
    assert!(grown < 32 << 10, "the daemon grew by {grown} KiB");

    // 100 connections that say nothing: no thread each.
    let threads_before = proc_field(pid, "Threads:");
    let idle: Vec<_> = (0..100)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let threads = proc_field(pid, "Threads:");
    assert!(
        threads <= threads_before,
        "{threads} threads with 100 idle connections (was {threads_before})"
    );
    drop(idle);

    // A client that pipelines requests and never reads: a scrape is still
    // answered meanwhile.
    let mut greedy = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    greedy
        .write_all(&b"GET /metrics HTTP/1.1\r\n\r\n".repeat(1000))
        .unwrap();
    common::eventually("a scrape while a client does not read", || {
        let status = raw(port, b"GET /metrics HTTP/1.1\r\n\r\n");
        if status.contains(" 200 ") {
            Ok(())
        } else {
            Err(status)
        }
    });
    drop(greedy);
    drop(daemon);

    // Other hosts: refused unless allowed.
    install.configure(|c| c.metrics.listen = Some(format!("0.0.0.0:{port}")));
    let refused = common::refused_to_start("tapeserverd", &install.config);
    assert!(
        refused.contains("metrics.listen") && refused.contains("allow_remote"),
        "{refused}"
    );
    let text = std::fs::read_to_string(&install.config).unwrap();
    let listen = format!("listen = \"0.0.0.0:{port}\"");
    assert!(text.contains(&listen), "{text}");
    std::fs::write(
        &install.config,
        text.replace(&listen, &format!("{listen}\nallow_remote = true")),
    )
    .unwrap();
    let out = Command::new(common::bin("tapeserverd"))
        .args(["check-config"])
        .arg(&install.config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
