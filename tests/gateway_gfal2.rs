//! tapegw against a WLCG Tape REST API client no one here wrote: Debian's
//! python3-gfal2 with gfal2-plugin-http (`examples/python/gfal2_stage.py`)
//! over HTTPS with a bearer token stages files that were archived and
//! evicted, one and a list, reads their locality, releases, aborts; an
//! unknown path and a token without the stage scope get gfal2's errors.

mod common;

use std::process::Command;
use std::time::Duration;

use common::gateway::Gateway;
use common::{Install, pattern};
use serde_json::Value;

const SIZE: usize = 150_000;

fn gfal2(gw: &Gateway, certs: &std::path::Path, args: &[&str]) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/gfal2_stage.py"
    );
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .args(args)
        .env("X509_CERT_DIR", certs)
        .output()
        .expect("run /usr/bin/python3 (python3-gfal2 and gfal2-plugin-http: scripts/test installs them)");
    assert!(
        out.status.success(),
        "gfal2 client failed: {}\n--- tapegw log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.log()
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "gfal2 client printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn gfal2_stages_evicted_files_reads_their_locality_releases_and_aborts() {
    let install = Install::with_args(1, 2, &["--gateway"]);
    let _daemon = install.start();
    let gw = Gateway::start(&install);
    // davix trusts the CAs of a hashed directory.
    let certs = install.path().join("certificates");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&gw.ca, certs.join("tapegw-ca.pem")).unwrap();
    let rehash = Command::new("openssl")
        .arg("rehash")
        .arg(&certs)
        .output()
        .expect("openssl");
    assert!(
        rehash.status.success(),
        "{}",
        String::from_utf8_lossy(&rehash.stderr)
    );

    let sources: Vec<_> = (0..4)
        .map(|i| install.make_file(&format!("g{i}"), SIZE, 300 + i))
        .collect();
    let paths: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["archive", "--wait"];
    args.extend(paths.iter().map(String::as_str));
    install.ok("stager", &args);
    let mut evict = vec!["evict"];
    evict.extend(paths.iter().map(String::as_str));
    install.ok("stager", &evict);

    let token = gw.token("storage.stage:/ storage.read:/", "fts");
    let read_only = gw.token("storage.read:/", "fts");
    let mut args = vec!["stage", gw.base.as_str(), &token, &read_only];
    args.extend(paths[..3].iter().map(String::as_str));
    let r = gfal2(&gw, &certs, &args);
    assert_eq!(
        r["status_before"],
        serde_json::json!(["NEARLINE", "NEARLINE", "NEARLINE"]),
        "{r}"
    );
    assert_eq!(r["single"]["online"], true, "{r}");
    assert_eq!(r["list"]["online"], true, "{r}");
    assert_eq!(
        r["status_after"],
        serde_json::json!([
            "ONLINE_AND_NEARLINE",
            "ONLINE_AND_NEARLINE",
            "ONLINE_AND_NEARLINE"
        ]),
        "{r}"
    );
    assert_eq!(r["archive_poll"], 1, "on tape: {r}");
    assert_eq!(r["release"], 0, "{r}");
    for (i, p) in paths[..3].iter().enumerate() {
        assert_eq!(
            std::fs::read(p).unwrap(),
            pattern(SIZE, 300 + i as u64),
            "{p} staged byte for byte"
        );
    }
    let unknown = r["unknown"].as_str().unwrap_or_default();
    // gfal2 reports the file's "error" of the poll.
    assert!(unknown.contains("no such file"), "{r}");
    let no_scope = r["no_scope"].as_str().unwrap_or_default();
    assert!(no_scope.contains("403"), "{r}");
    // Released: the first may go again; the list's request still pins its files.
    install.ok("stager", &["evict", &paths[0]]);
    assert!(
        !install
            .run("stager", &["evict", &paths[1]])
            .status
            .success()
    );

    // Abort: with the drive down the stage waits; gfal2 aborts it.
    install.ok("tpconfig", &["drive0", "down"]);
    install.wait_for("drive0 down and empty", Duration::from_secs(60), || {
        install.drive("drive0")["state"] == "down" && !install.drive_loaded("drive0")
    });
    let r = gfal2(&gw, &certs, &["abort", &gw.base, &token, &paths[3]]);
    assert_eq!(r["aborted"], 0, "{r}");
    // gfal2 2.21 knows the state as "CANCELED", the reference document as
    // "CANCELLED" (what tapegw says): either way the poll is an error.
    let poll = r["poll"].as_str().unwrap_or_default();
    assert!(
        poll.contains("CANCELLED") || poll.contains("cancelled"),
        "{r}"
    );
    let v: Value = serde_json::from_str(&install.ok("stager", &["recalls", "--json"])).unwrap();
    let last = v["recalls"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["state"], "failed",
        "the aborted recall is over: {last}"
    );
    assert!(!std::path::Path::new(&paths[3]).exists());
}
