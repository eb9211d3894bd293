//! Messages that name the fix: a refusal says what was wrong and what to
//! do, in one sentence, for the mistakes operators make on day one.

mod common;

use common::Install;

/// Runs a client command that must fail; returns its one sentence.
fn refused(install: &Install, program: &str, args: &[&str]) -> String {
    let out = install.run(program, args);
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert!(!out.status.success(), "{program} {args:?} succeeded");
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
    err
}

#[test]
fn each_mistake_gets_a_sentence_that_names_the_fix() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    let run = install.path().join("run");
    let socket = |name: &str| format!("ipc://{}/{name}", run.display());

    // Endpoints without a scheme.
    for bad in [
        run.join("stager.sock").display().to_string(),
        "localhost:5700".into(),
    ] {
        let err = refused(&install, "stager", &["--endpoint", &bad, "status"]);
        assert!(err.contains("missing ipc:// or tcp://"), "{err}");
    }
    // The wrong service's socket, said plainly.
    let err = refused(
        &install,
        "stager",
        &["--endpoint", &socket("admin.sock"), "status"],
    );
    assert!(
        err.contains("is the daemon's admin socket")
            && err.contains("not the daemon's stager socket"),
        "{err}"
    );
    let err = refused(
        &install,
        "stager",
        &["--endpoint", &socket("tlc.sock"), "status"],
    );
    assert!(err.contains("is a library controller"), "{err}");
    let err = refused(
        &install,
        "tplib",
        &["--endpoint", &socket("stager.sock"), "status"],
    );
    assert!(
        err.contains("is the daemon's stager socket") && err.contains("not a library controller"),
        "{err}"
    );

    // Outside the roots: which roots, set where.
    let outside = tempfile::tempdir().unwrap();
    let far = outside.path().join("far");
    std::fs::write(&far, b"x").unwrap();
    let err = refused(&install, "stager", &["archive", far.to_str().unwrap()]);
    assert!(
        err.contains(&format!("the allowed: {}", install.path().display()))
            && err.contains("[paths] archive_roots"),
        "{err}"
    );
    // A pool that does not exist: how to see the pools, how to make one.
    let src = install.make_file("f", 10, 1);
    let err = refused(
        &install,
        "stager",
        &["archive", "--pool", "nopool", src.to_str().unwrap()],
    );
    assert!(
        err.contains("tapeadmin add-pool nopool creates it"),
        "{err}"
    );

    // A stager's client config given to an operator's command.
    let client = install.path().join("client.toml");
    std::fs::write(
        &client,
        format!("[client]\nendpoints = [{:?}]\n", socket("stager.sock")),
    )
    .unwrap();
    for program in ["tpstat", "tapeadmin", "tplib"] {
        let args: &[&str] = match program {
            "tapeadmin" => &["--config", client.to_str().unwrap(), "pools"],
            "tplib" => &["--config", client.to_str().unwrap(), "status"],
            _ => &["--config", client.to_str().unwrap()],
        };
        let err = refused(&install, program, args);
        assert!(
            err.contains("is a stager's client config"),
            "{program}: {err}"
        );
    }
}
