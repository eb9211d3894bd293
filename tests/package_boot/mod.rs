//! The installed package under a real systemd: the Debian root booted with
//! `systemd-nspawn -b` (no machined on the host: `--register=no
//! --keep-unit`), commands run inside through `nsenter` into its PID 1's
//! namespaces. Every wait is on a state (a unit's property, a process, a
//! journal line), bounded generously.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Booted {
    nspawn: Child,
    /// The container's PID 1, as the host sees it.
    init: i32,
}

/// The pid of `systemd` whose parent is `nspawn`.
fn init_of(nspawn: u32) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == nspawn).then_some(pid)
    })
}

impl Booted {
    pub fn boot(root: &Path) -> Self {
        let log = std::fs::File::create(root.with_extension("boot.log")).unwrap();
        let nspawn = Command::new("systemd-nspawn")
            .args([
                "-q",
                "-b",
                "--register=no",
                "--keep-unit",
                "-M",
                "tapeserver-test",
                "-D",
            ])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("systemd-nspawn (scripts/test installs systemd-container)");
        let id = nspawn.id();
        let mut booted = Booted { nspawn, init: 0 };
        booted.init = wait("the container's systemd", || init_of(id));
        wait("the system up", || {
            let state = booted.sh("systemctl is-system-running 2>/dev/null || true");
            let state = String::from_utf8_lossy(&state.stdout).trim().to_string();
            matches!(state.as_str(), "running" | "degraded").then_some(())
        });
        booted
    }

    /// Runs `script` with sh inside the booted system.
    pub fn sh(&self, script: &str) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.init.to_string(), "-a", "sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs `script` inside; it must succeed; returns its stdout.
    pub fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "{script}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A unit's property (`systemctl show -p NAME --value`).
    pub fn property(&self, unit: &str, name: &str) -> String {
        self.ok(&format!("systemctl show -p {name} --value {unit}"))
            .trim()
            .to_string()
    }
}

impl Drop for Booted {
    fn drop(&mut self) {
        let _ = self.sh("systemctl poweroff");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: kill(2) of the container's init (its pid namespace goes with it).
        unsafe {
            libc::kill(self.init, libc::SIGKILL);
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

/// Waits for `f` to give a value, for up to five minutes.
pub fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Everything an operator meets on day one with the package under systemd.
pub fn check_the_service(root: &Path) {
    let started = Instant::now();
    let step = |what: &str| eprintln!("[{:>6.1}s] {what}", started.elapsed().as_secs_f64());
    // The packaged policy lets archives gather for up to five minutes
    // before a mount and keeps a cartridge a minute for more work (mounts
    // cost minutes); a test site mounts at once and lets go soon, the
    // edits an operator makes for a small site.
    let config = root.join("etc/tapeserver/tapeserver.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    for (packaged, small) in [
        ("mount_max_age = \"5m\"", "mount_max_age = \"0s\""),
        ("keep_mounted = \"1m\"", "keep_mounted = \"2s\""),
        // The drive holds before each session's second block until the
        // file `go` exists: how the stop is caught with a recall running.
        (
            "# [drives.faults]\n",
            "[drives.faults]\nstall_at_block = 2\nstall_until = \"/srv/tapeserver/go\"\n",
        ),
    ] {
        assert!(text.contains(packaged), "{packaged} in {text}");
        text = text.replace(packaged, small);
    }
    std::fs::write(&config, text).unwrap();
    std::fs::write(root.join("srv/tapeserver/go"), "").unwrap();
    let booted = Booted::boot(root);
    step("booted");
    let unit = "tapeserverd.service";
    // Started at boot, ready (Type=notify), with the drives in its status.
    wait("the service active", || {
        (booted.property(unit, "ActiveState") == "active").then_some(())
    });
    let status = booted.property(unit, "StatusText");
    assert!(status.contains("drives:"), "STATUS=: {status}");
    assert_eq!(booted.property(unit, "WatchdogUSec"), "2min");

    step("a user in group tape archives and recalls");
    // A user in group tape archives into the default root and recalls.
    booted.ok("useradd -m -G tape op");
    booted.ok(
        "runuser -u op -- sh -c 'head -c 700000 /dev/urandom > /srv/tapeserver/f \
         && stager archive /srv/tapeserver/f --wait \
         && stager recall 1 /srv/tapeserver/back --wait \
         && cmp /srv/tapeserver/f /srv/tapeserver/back'",
    );

    step("systemctl reload");
    // systemctl reload applies the config (SIGHUP).
    booted.ok("systemctl reload tapeserverd");
    wait("the reload in the journal", || {
        booted
            .ok("journalctl -u tapeserverd -o cat --no-pager")
            .contains("SIGHUP: configuration reloaded")
            .then_some(())
    });
    // The journal: routine at info with the session's fields, context in MESSAGE.
    // The recall's stager heard of its file before the session ended.
    let summary = wait("the recall's session summary", || {
        let line = booted.ok(
            "journalctl -u tapeserverd -o json --no-pager | grep 'session summary: recall' | head -1",
        );
        (!line.trim().is_empty()).then_some(line)
    });
    let entry: serde_json::Value = serde_json::from_str(summary.trim()).unwrap();
    assert_eq!(entry["PRIORITY"], "6", "{entry}");
    assert_eq!(entry["SESSION"], "recall", "{entry}");
    assert_eq!(entry["DRIVE"], "drive0", "{entry}");
    assert!(
        entry["MESSAGE"].as_str().unwrap().contains("1 files"),
        "{entry}"
    );

    step("stop drains a running recall");
    // systemctl stop lets a running recall finish before the daemon exits.
    booted.ok("rm /srv/tapeserver/go");
    booted.ok("runuser -u op -- stager recall 1 /srv/tapeserver/drained");
    wait("the recall running, held at its second block", || {
        let json = booted.ok("tpstat --json");
        let tpstat: serde_json::Value = serde_json::from_str(&json).unwrap();
        tpstat["drives"]
            .as_array()?
            .iter()
            .any(|d| {
                d["name"] == "drive0" && d["session"] == "recall" && d["substate"] == "transferring"
            })
            .then_some(())
    });
    booted.ok("systemctl stop --no-block tapeserverd");
    wait("the daemon draining", || {
        booted
            .ok("journalctl -u tapeserverd -o cat --no-pager")
            .contains("shutdown requested")
            .then_some(())
    });
    assert_eq!(booted.property(unit, "ActiveState"), "deactivating");
    assert!(
        !root.join("srv/tapeserver/drained").exists(),
        "the recall was held"
    );
    booted.ok("touch /srv/tapeserver/go");
    wait("the service stopped", || {
        (booted.property(unit, "ActiveState") == "inactive").then_some(())
    });
    assert_eq!(booted.property(unit, "Result"), "success");
    booted.ok("cmp /srv/tapeserver/f /srv/tapeserver/drained");
    booted.ok("systemctl start tapeserverd");
    assert_eq!(booted.property(unit, "ActiveState"), "active");

    step("exposure score");
    // systemd's exposure score of the running unit.
    let security = booted.ok("systemd-analyze security tapeserverd.service --no-pager");
    let score: f64 = security
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for tapeserverd.service: ")
                .nth(1)
        })
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{security}"));
    assert!(score <= 2.5, "exposure {score}: {security}");

    step("killed");
    // Killed: restarted, with a cleaner if need be.
    let pid = booted.property(unit, "MainPID");
    booted.ok(&format!("kill -9 {pid}"));
    wait("a new main process", || {
        let now = booted.property(unit, "MainPID");
        (now != pid && now != "0" && booted.property(unit, "ActiveState") == "active").then_some(())
    });
    step("hung");
    // Hung (stopped): the watchdog kills and restarts it (a drop-in
    // shortens it for the test).
    booted.ok(
        "mkdir -p /run/systemd/system/tapeserverd.service.d && \
         printf '[Service]\\nWatchdogSec=3s\\n' > /run/systemd/system/tapeserverd.service.d/watchdog.conf && \
         systemctl daemon-reload && systemctl restart tapeserverd",
    );
    wait("the service active again", || {
        (booted.property(unit, "ActiveState") == "active").then_some(())
    });
    let pid = booted.property(unit, "MainPID");
    booted.ok(&format!("kill -STOP {pid}"));
    wait("the watchdog's restart", || {
        let now = booted.property(unit, "MainPID");
        (now != pid && now != "0" && booted.property(unit, "ActiveState") == "active").then_some(())
    });
    assert!(
        booted
            .ok("journalctl -u tapeserverd -o cat --no-pager")
            .contains("Watchdog timeout"),
        "the watchdog killed it"
    );

    step("removed");
    // Removed: the service stops and is disabled.
    booted.ok("DEBIAN_FRONTEND=noninteractive dpkg -r tapeserver >/dev/null 2>&1");
    wait("the service stopped", || {
        (booted.property(unit, "ActiveState") == "inactive").then_some(())
    });
    let left = booted.sh("pgrep -x tapeserverd");
    assert!(!left.status.success(), "a daemon survived the removal");
    assert!(
        !root
            .join("etc/systemd/system/multi-user.target.wants/tapeserverd.service")
            .exists(),
        "the enablement link is gone"
    );
    step("done");
}
