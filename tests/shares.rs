//! `[[scheduler.shares]]` through the real binaries: `tapeserverd
//! check-config` refuses a pool in two shares with the reason, and
//! `tapeadmin queues` shows each share's drives and waiting work.

mod common;

use common::{Install, bin};

#[test]
fn tapeadmin_queues_shows_each_share_and_a_bad_share_is_refused() {
    let install = Install::new(1, 2);
    install.configure(|c| {
        c.scheduler.shares = vec![tapeserver::config::shares::ShareConfig {
            name: "experiment-a".into(),
            pools: vec!["default".into()],
            max_read_drives: Some(2),
            max_write_drives: None,
            weight: 3,
        }];
    });
    let json: serde_json::Value =
        serde_json::from_str(&install.ok("tapeadmin", &["--json", "queues"])).unwrap();
    let share = &json["shares"][0];
    assert_eq!(share["name"], "experiment-a");
    assert_eq!(share["weight"], 3);
    assert_eq!(share["max_read_drives"], 2);
    assert_eq!(
        (share["read_drives"].as_u64(), share["files"].as_u64()),
        (Some(0), Some(0))
    );
    let table = install.ok("tapeadmin", &["queues"]);
    assert!(
        table.contains("SHARE") && table.contains("experiment-a") && table.contains("0/2"),
        "{table}"
    );

    let text = std::fs::read_to_string(&install.config).unwrap()
        + "\n[[scheduler.shares]]\nname = \"b\"\npools = [\"default\"]\n";
    let bad = install.path().join("bad.toml");
    std::fs::write(&bad, text).unwrap();
    let out = std::process::Command::new(bin("tapeserverd"))
        .args(["check-config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a pool belongs to one share"), "{err}");
}
