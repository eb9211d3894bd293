//! Clients fail over at once from an endpoint nothing listens on (a socket
//! file without a daemon, a TCP port that refuses): their timeout is for an
//! endpoint that took the request. Each client below is given a timeout of
//! an hour, so it can only finish if the dead endpoints cost nothing.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Install, bin, free_port};
use tapeserver::config::Interval;

/// Waits for a client that would wait an hour on a dead endpoint.
fn finish(mut child: Child) -> std::process::Output {
    let bound = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > bound {
            let _ = child.kill();
            panic!("the client waited on a dead endpoint");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(program: &str, args: &[&str]) -> Child {
    Command::new(bin(program))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_stager_skips_dead_endpoints_at_once() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    let dead_tcp = format!("tcp://127.0.0.1:{}", free_port());
    let dead_ipc = format!("ipc://{}/nobody.sock", install.path().display());
    let live = format!("ipc://{}/run/stager.sock", install.path().display());
    let client = install.path().join("client.toml");
    std::fs::write(
        &client,
        format!("[client]\nendpoints = [{dead_tcp:?}, {dead_ipc:?}, {live:?}]\ntimeout = \"1h\"\n"),
    )
    .unwrap();
    let config = client.to_str().unwrap();
    let src = install.make_file("f", 100_000, 1);
    let out = finish(spawn(
        "stager",
        &[
            "--config",
            config,
            "archive",
            src.to_str().unwrap(),
            "--wait",
        ],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = common::archived_ids(&String::from_utf8_lossy(&out.stdout))[0].0;
    let back = install.path().join("back");
    let out = finish(spawn(
        "stager",
        &[
            "--config",
            config,
            "recall",
            &id.to_string(),
            back.to_str().unwrap(),
            "--wait",
        ],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&back).unwrap(), common::pattern(100_000, 1));
    let out = finish(spawn("stager", &["--config", config, "status"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Nothing alive at all: said at once, naming the endpoints.
    std::fs::write(
        &client,
        format!("[client]\nendpoints = [{dead_tcp:?}, {dead_ipc:?}]\ntimeout = \"1h\"\n"),
    )
    .unwrap();
    let out = finish(spawn("stager", &["--config", config, "status"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("nothing listens"), "{err}");
}

#[test]
fn tplib_says_at_once_that_no_controller_runs() {
    let install = Install::new(1, 1);
    let dead_tcp = format!("tcp://127.0.0.1:{}", free_port());
    let dead_ipc = format!("ipc://{}/no-tlc.sock", install.path().display());
    install.configure(|c| {
        c.library.controllers = vec![dead_tcp.clone(), dead_ipc.clone()];
        c.library.request_timeout = Interval(Duration::from_secs(3600));
    });
    let out = finish(spawn(
        "tplib",
        &["--config", install.config.to_str().unwrap(), "status"],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no library controller runs") && err.contains(&dead_tcp),
        "{err}"
    );
}

/// `--wait` rides through a restart of the daemon: the file it waits for
/// reaches tape after the restart, and the wait ends with success.
#[test]
fn a_wait_rides_through_a_daemon_restart() {
    let install = Install::new(1, 1);
    let daemon = install.start();
    install.ok("tpconfig", &["drive0", "down"]);
    let src = install.make_file("f", 50_000, 2);
    let mut wait = Command::new(bin("stager"))
        .args(["archive", src.to_str().unwrap(), "--wait"])
        .env("TAPESERVER_CONFIG", &install.config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::eventually("the file queued", || {
        match install.status().first().map(|f| f.state.clone()) {
            Some(s) if s == "queued" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    // What the wait says, line by line, as it says it.
    let (said_tx, said) = std::sync::mpsc::channel::<String>();
    let stderr = wait.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            if said_tx.send(line).is_err() {
                break;
            }
        }
    });
    assert_eq!(daemon.stop(), Some(0));
    // The daemon stays away until the wait has noticed (it polls: a
    // restart between two polls would go unseen).
    let mut err = String::new();
    while !err.contains("still waiting") {
        let line = said
            .recv_timeout(Duration::from_secs(300))
            .expect("the wait says the daemon is away");
        err.push_str(&line);
        err.push('\n');
    }
    assert!(wait.try_wait().unwrap().is_none(), "the wait goes on");
    let _daemon = install.start();
    install.ok("tpconfig", &["drive0", "up"]);
    let bound = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = wait.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < bound, "the wait never ended");
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    err.extend(said.try_iter().map(|l| l + "\n"));
    assert!(status.success(), "{err}");
    assert!(err.contains("answers again"), "{err}");
}

/// A client whose output pipe closes ends quietly.
#[test]
fn a_closed_pipe_ends_a_client_quietly() {
    let install = Install::new(1, 3);
    let _daemon = install.start();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} --config {} status | head -1 >/dev/null",
            bin("tplib").display(),
            install.config.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && err.trim().is_empty(), "{err}");
}
