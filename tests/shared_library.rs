//! `tapeserverd init --scheduler --library --drive-prefix`: a second host
//! joins the first one's library and scheduler; a file archived through
//! one daemon is recalled through the other.

mod common;

use std::process::Command;

use common::pg::TestPg;
use common::{Install, bin};

#[test]
fn a_second_host_joins_the_library_and_recalls_what_the_first_archived() {
    let first = Install::new(1, 3);
    let scheduler = format!(
        "sqlite://{}",
        first.path().join("state/scheduler.db").display()
    );
    two_hosts(first, &scheduler);
}

/// The same with the site's scheduler: both hosts initialised on one
/// PostgreSQL database (the first creates the schema, the second finds it).
#[test]
fn two_hosts_share_one_postgresql_scheduler() {
    let db = TestPg::new();
    let first = Install::with_args(1, 3, &["--scheduler", &db.url]);
    two_hosts(first, &db.url);
    let version: i64 = db
        .client()
        .query_one("SELECT version FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, tapeserver::scheduler::sql::sqlite::LATEST);
}

fn two_hosts(first: Install, scheduler: &str) {
    let second_dir = tempfile::tempdir().unwrap();
    let library = first.path().join("library");
    let out = Command::new(bin("tapeserverd"))
        .arg("init")
        .arg(second_dir.path())
        .args([
            "--drives",
            "1",
            "--scheduler",
            scheduler,
            "--drive-prefix",
            "b",
            // Its own name in the shared catalogue, as every host of a
            // site has: with the first's, each would close the other's
            // mounts as those of drives it no longer has.
            "--host",
            "second",
        ])
        .arg("--library")
        .arg(&library)
        // A site's roots are the same on every host: either host's drive
        // may serve the recall, into the first's directory.
        .arg("--recall-root")
        .arg(first.path())
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
    let dest = first.path().join("back");
    second.ok(
        "stager",
        &["recall", &id.to_string(), dest.to_str().unwrap(), "--wait"],
    );
    assert!(std::fs::read(&dest).unwrap() == std::fs::read(&src).unwrap());
}

fn init_fails(scheduler: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("tapeserverd"))
        .arg("init")
        .arg(dir.path())
        .args(["--scheduler", scheduler])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        !dir.path().join("tapeserver.toml").exists(),
        "nothing written"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_scheduler_url_is_refused_clearly() {
    let err = init_fails("mysql://db/tape");
    assert!(
        err.contains("sqlite://PATH") && err.contains("postgres://"),
        "{err}"
    );
    let err = init_fails("postgres://tape:secret@db/tape");
    assert!(err.contains("--password-file"), "{err}");
    // Nothing listens on port 1.
    let err = init_fails("postgres://tape@127.0.0.1:1/tape");
    assert!(err.contains("scheduler database"), "{err}");
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
}
