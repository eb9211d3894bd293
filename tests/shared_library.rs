//! `tapeserverd init --scheduler --library --drive-prefix`: a second host
//! joins the first one's library and scheduler; a file archived through
//! one daemon is recalled through the other.

mod common;

use std::process::Command;

use common::{Install, bin};

#[test]
fn a_second_host_joins_the_library_and_recalls_what_the_first_archived() {
    let first = Install::new(1, 3);
    let second_dir = tempfile::tempdir().unwrap();
    let scheduler = format!(
        "sqlite://{}",
        first.path().join("state/scheduler.db").display()
    );
    let library = first.path().join("library");
    let out = Command::new(bin("tapeserverd"))
        .arg("init")
        .arg(second_dir.path())
        .args([
            "--drives",
            "1",
            "--scheduler",
            &scheduler,
            "--drive-prefix",
            "b",
        ])
        .arg("--library")
        .arg(&library)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = Install {
        config: std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
        dir: second_dir,
    };
    let state = std::fs::read_to_string(library.join("library.json")).unwrap();
    assert!(
        state.contains("\"serial\": \"b0\"") && state.contains("\"serial\": \"drive0\""),
        "both hosts' drives: {state}"
    );
    let _a = first.start();
    let _b = second.start();
    let tapes: serde_json::Value =
        serde_json::from_str(&second.ok("stager", &["tapes", "--json"])).unwrap();
    assert_eq!(
        tapes["tapes"].as_array().unwrap().len(),
        3,
        "joining adds no cartridges"
    );
    let src = first.make_file("shared", 700_000, 5);
    let id = first.archive(std::slice::from_ref(&src))[0];
    first.wait_for(
        "the file on tape",
        std::time::Duration::from_secs(60),
        || first.state_of(id).state == "on_tape",
    );
    assert_eq!(second.state_of(id).state, "on_tape", "one catalogue");
    let dest = second.path().join("back");
    second.ok(
        "stager",
        &["recall", &id.to_string(), dest.to_str().unwrap(), "--wait"],
    );
    assert!(std::fs::read(&dest).unwrap() == std::fs::read(&src).unwrap());
}

#[test]
fn unsupported_scheduler_url_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("tapeserverd"))
        .arg("init")
        .arg(dir.path())
        .args(["--scheduler", "postgres://db/tape"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("only sqlite://PATH"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("tapeserver.toml").exists(),
        "nothing written"
    );
}
