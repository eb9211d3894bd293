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
