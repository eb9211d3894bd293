//! The time-modelled library through the real binaries: `tapeserverd init
//! --time-model lto9 --time-scale 50` gives file-backed drives that take
//! an LTO-9's time (fifty times faster) and a robot that takes a real
//! one's; with init's defaults, forty recalls from one tape, each queued
//! only once the one before is back (the thinnest trickle), cost one mount,
//! and every byte comes back.

mod common;

use std::time::Duration;

use common::Install;

/// Mounts the scheduler assigned, of `kind` ("recall", "migration").
fn mounts(install: &Install, kind: &str) -> usize {
    install
        .daemon_log()
        .lines()
        .filter(|l| l.contains("mount assigned:") && l.contains(&format!("kind=\"{kind}\"")))
        .count()
}

#[test]
fn forty_trickled_recalls_with_inits_defaults_cost_one_mount() {
    let install = Install::with_args(2, 3, &["--time-model", "lto9", "--time-scale", "50"]);
    let config = std::fs::read_to_string(&install.config).unwrap();
    assert!(config.contains("time_model = \"lto9\""), "{config}");
    let _daemon = install.start();
    let files = common::archived(&install, 40, 150_000);
    assert_eq!(mounts(&install, "migration"), 1, "one migration mount");
    let log = install.daemon_log();
    let mount_s: Vec<f64> = log
        .lines()
        .filter(|l| l.contains("session summary: migration"))
        .filter_map(|l| {
            l.split("mount_s=\"")
                .nth(1)?
                .split('"')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    // A robot move of 60 to 300 ms and a load of 320 ms: what an LTO-9
    // takes, fifty times faster (a free mount takes milliseconds). The
    // scale leaves the lazy dismount two seconds (a remount's 102 s over
    // 50): room for a loaded machine between a recall and the next.
    assert!(
        mount_s.iter().all(|s| *s >= 0.38),
        "the mount took the modelled time: {mount_s:?}"
    );
    // The migration's tape is given back before the recalls start.
    install.wait_for("the drives idle", Duration::from_secs(60), || {
        ["drive0", "drive1"]
            .iter()
            .all(|d| !install.drive_loaded(d))
    });
    let out = install.path().join("back");
    std::fs::create_dir_all(&out).unwrap();
    for (id, src) in &files {
        let dest = out.join(src.file_name().unwrap());
        install.ok(
            "stager",
            &["recall", &id.to_string(), dest.to_str().unwrap()],
        );
        install.wait_for("the recall", Duration::from_secs(60), || dest.exists());
        assert!(
            std::fs::read(&dest).unwrap() == std::fs::read(src).unwrap(),
            "file {id} comes back byte-exact"
        );
    }
    assert_eq!(
        mounts(&install, "recall"),
        1,
        "forty recalls queued one after another are one mount:\n{}",
        install.daemon_log_tail()
    );
}
