//! The systemd units pass `systemd-analyze verify` (a peer: systemd's own
//! checker), run against the binaries this build made.

mod common;

use std::process::Command;

fn verify(unit: &str, binaries: &[&str]) {
    let text = std::fs::read_to_string(format!("systemd/{unit}")).unwrap();
    let mut local = text.clone();
    for b in binaries {
        let built = common::bin(b).display().to_string();
        local = local.replace(&format!("/usr/bin/{b}"), &built);
    }
    assert_ne!(local, text, "{unit} runs none of {binaries:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(unit);
    std::fs::write(&path, local).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (scripts/test installs systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "{unit}: {said}"
    );
}

#[test]
fn the_units_pass_systemd_analyze_verify() {
    verify("tapeserverd.service", &["tapeserverd"]);
    verify("tlcd.service", &["tlcd"]);
    verify("tapegw.service", &["tapegw"]);
}

#[test]
fn the_example_tlcd_config_passes_check_config() {
    let out = Command::new(common::bin("tlcd"))
        .args(["check-config", "config/tlcd.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// systemd's own exposure score of each unit (offline, from the unit file)
/// is 2.5 or better ("OK"), and the daemon's unit can be reloaded.
#[test]
fn the_units_are_hardened_and_the_daemon_reloads() {
    for unit in ["tapeserverd.service", "tlcd.service", "tapegw.service"] {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(format!("systemd/{unit}"))
            .output()
            .expect("systemd-analyze");
        let said = String::from_utf8_lossy(&out.stdout);
        let score: f64 = said
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|l| l.split(": ").nth(1))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{unit}: no score in {said}"));
        eprintln!("{unit}: exposure {score}");
        assert!(score <= 2.5, "{unit}: exposure {score}\n{said}");
    }
    let unit = std::fs::read_to_string("systemd/tapeserverd.service").unwrap();
    assert!(
        unit.contains("ExecReload=/bin/kill -HUP $MAINPID"),
        "{unit}"
    );
    assert!(unit.contains("StartLimitBurst="), "{unit}");
}
