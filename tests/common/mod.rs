//! Test harness: a real installation made by `tapeserverd init` in a
//! temporary directory, the real daemon started as a child process, and
//! the real client binaries.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod curve;
pub mod gateway;
mod library;
pub mod pg;
pub mod tmpfs;

// Each test crate uses some of them.
#[allow(unused_imports)]
pub use library::{Tlcd, cartridges, fault, library_state, moves_in_flight};

pub const BLOCK_SIZE: u64 = 256 * 1024;

pub fn bin(name: &str) -> PathBuf {
    match name {
        "tapeserverd" => PathBuf::from(env!("CARGO_BIN_EXE_tapeserverd")),
        "stager" => PathBuf::from(env!("CARGO_BIN_EXE_stager")),
        "tpstat" => PathBuf::from(env!("CARGO_BIN_EXE_tpstat")),
        "tpconfig" => PathBuf::from(env!("CARGO_BIN_EXE_tpconfig")),
        "tplabel" => PathBuf::from(env!("CARGO_BIN_EXE_tplabel")),
        "readtp" => PathBuf::from(env!("CARGO_BIN_EXE_readtp")),
        "tplib" => PathBuf::from(env!("CARGO_BIN_EXE_tplib")),
        "tlcd" => PathBuf::from(env!("CARGO_BIN_EXE_tlcd")),
        "tapeadmin" => PathBuf::from(env!("CARGO_BIN_EXE_tapeadmin")),
        "tapesim" => PathBuf::from(env!("CARGO_BIN_EXE_tapesim")),
        "tapegw" => PathBuf::from(env!("CARGO_BIN_EXE_tapegw")),
        other => panic!("no binary {other}"),
    }
}

pub struct Install {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Install {
    pub fn new(drives: u32, tapes: u32) -> Self {
        Self::with_args(drives, tapes, &[])
    }

    /// `tapeserverd init` with more arguments (`--capacity 8MiB`, say).
    pub fn with_args(drives: u32, tapes: u32, more: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(bin("tapeserverd"))
            .arg("init")
            .arg(dir.path())
            .args([
                "--drives",
                &drives.to_string(),
                "--tapes",
                &tapes.to_string(),
            ])
            .args(more)
            .output()
            .expect("run tapeserverd init");
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = init_config_path(&out.stdout);
        Self { dir, config }
    }

    /// Changes the installation's config (before the daemon starts).
    pub fn configure(&self, change: impl FnOnce(&mut tapeserver::config::Config)) {
        let mut config = tapeserver::config::Config::load(&self.config).expect("load config");
        change(&mut config);
        std::fs::write(&self.config, config.to_toml().expect("render config"))
            .expect("write config");
    }

    /// Writes a file of `size` pattern bytes under the install; returns its path.
    pub fn make_file(&self, name: &str, size: usize, seed: u64) -> PathBuf {
        let dir = self.path().join("src");
        std::fs::create_dir_all(&dir).expect("src dir");
        let path = dir.join(name);
        std::fs::write(&path, pattern(size, seed)).expect("write source file");
        path
    }

    /// Queues files for archiving (no wait); returns their ids in order.
    pub fn archive(&self, paths: &[PathBuf]) -> Vec<u64> {
        let mut args = vec!["archive".to_string()];
        args.extend(paths.iter().map(|p| p.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        archived_ids(&self.ok("stager", &args))
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// `stager status --json` as (id, state, vid, fseq, error) per file.
    pub fn status(&self) -> Vec<FileState> {
        let json: serde_json::Value =
            serde_json::from_str(&self.ok("stager", &["status", "--json"])).expect("status json");
        json["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| FileState {
                id: f["id"].as_u64().unwrap_or(0),
                state: f["state"].as_str().unwrap_or("").to_string(),
                vid: f["vid"].as_str().map(str::to_string),
                fseq: f["fseq"].as_u64(),
                error: f["error"].as_str().unwrap_or("").to_string(),
            })
            .collect()
    }

    pub fn state_of(&self, id: u64) -> FileState {
        self.status()
            .into_iter()
            .find(|f| f.id == id)
            .expect("file in status")
    }

    /// `tpstat --json` drive entry.
    pub fn drive(&self, name: &str) -> serde_json::Value {
        let json: serde_json::Value =
            serde_json::from_str(&self.ok("tpstat", &["--json"])).expect("tpstat json");
        json["drives"]
            .as_array()
            .expect("drives")
            .iter()
            .find(|d| d["name"] == name)
            .cloned()
            .expect("drive")
    }

    /// Queues a recall of each file to `out/NAME`, waits for all of them
    /// and checks the bytes match the source.
    pub fn recall_and_compare(&self, files: &[(u64, PathBuf)], out: &str) {
        let out = self.path().join(out);
        std::fs::create_dir_all(&out).expect("out dir");
        let dest = |src: &PathBuf| out.join(src.file_name().expect("name"));
        let Some((last, rest)) = files.split_last() else {
            return;
        };
        for (id, src) in rest {
            self.ok(
                "stager",
                &["recall", &id.to_string(), dest(src).to_str().expect("utf8")],
            );
        }
        self.ok(
            "stager",
            &[
                "recall",
                &last.0.to_string(),
                dest(&last.1).to_str().expect("utf8"),
                "--wait",
            ],
        );
        // A recalled file appears under its name only once its checksum matched.
        self.wait_for("every recall", Duration::from_secs(120), || {
            files.iter().all(|(_, src)| dest(src).exists())
        });
        for (id, src) in files {
            let recalled = std::fs::read(dest(src)).expect("recalled");
            assert!(
                recalled == std::fs::read(src).expect("source"),
                "file {id} ({}) differs after recall",
                src.display()
            );
        }
        let leftovers: Vec<_> = std::fs::read_dir(&out)
            .expect("out dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "temporary files left behind: {leftovers:?}"
        );
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs a client command with this install's config.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new(bin(program))
            .args(args)
            .env("TAPESERVER_CONFIG", &self.config)
            .stdin(Stdio::null())
            .output()
            .expect("run client")
    }

    /// Runs a client command that must succeed; returns its stdout.
    pub fn ok(&self, program: &str, args: &[&str]) -> String {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            self.daemon_log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One tape of `stager tapes --json`.
    pub fn tape(&self, vid: &str) -> serde_json::Value {
        let tapes: serde_json::Value =
            serde_json::from_str(&self.ok("stager", &["tapes", "--json"])).expect("tapes json");
        tapes["tapes"]
            .as_array()
            .expect("tapes")
            .iter()
            .find(|t| t["vid"] == vid)
            .cloned()
            .unwrap_or_else(|| panic!("no tape {vid}"))
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.path().join("daemon.log")).unwrap_or_default()
    }

    /// Whether the (emulated) library holds a cartridge in the drive: the
    /// device's own state, whether or not a daemon runs.
    pub fn drive_loaded(&self, drive: &str) -> bool {
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.path().join("library/library.json"))
                .expect("library state"),
        )
        .expect("library json");
        state["drives"]
            .as_array()
            .expect("drives")
            .iter()
            .any(|d| d["serial"] == drive && !d["cartridge"].is_null())
    }

    pub fn daemon_log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.path().join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "\n--- daemon log tail ---\n{}",
            lines[lines.len().saturating_sub(60)..].join("\n")
        )
    }

    pub fn start(&self) -> Daemon {
        self.start_with_env(&[])
    }

    /// Starts the daemon with more environment (inherited by its forker
    /// and sessions): a host whose clock is faked, say.
    pub fn start_with_env(&self, env: &[(&str, &str)]) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join("daemon.log"))
            .expect("daemon log");
        let child = Command::new(bin("tapeserverd"))
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tapeserverd");
        let daemon = Daemon {
            child: Some(child),
            log: self.path().join("daemon.log"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.run("tpstat", &[]).status.success() {
                return daemon;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tapeserverd did not come up{}", self.daemon_log_tail());
    }

    /// Waits for a condition, failing the test with the daemon log after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if done() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}{}", self.daemon_log_tail());
    }
}

#[derive(Debug, Clone)]
pub struct FileState {
    pub id: u64,
    pub state: String,
    pub vid: Option<String>,
    pub fseq: Option<u64>,
    pub error: String,
}

pub struct Daemon {
    child: Option<Child>,
    /// Its log, shown when it does not exit as asked.
    log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid(), signal);
        }
    }

    /// Waits for the daemon to exit on its own; returns its exit code.
    pub fn wait_exit(mut self, limit: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Where it hangs, when a debugger is installed.
        if let Ok(out) = Command::new("gdb")
            .args([
                "-p",
                &child.id().to_string(),
                "-batch",
                "-ex",
                "thread apply all bt",
            ])
            .output()
        {
            eprintln!(
                "threads of the hung daemon:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "tapeserverd did not exit within {limit:?}; log tail:\n{}",
            tail.join("\n")
        );
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("tapeserverd did not stop within 30 s of SIGTERM");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn archived(install: &Install, n: u64, size: usize) -> Vec<(u64, std::path::PathBuf)> {
    let sources: Vec<_> = (0..n)
        .map(|i| install.make_file(&format!("f{i}"), size, 100 + i))
        .collect();
    let ids = install.archive(&sources);
    install.wait_for("every file on tape", Duration::from_secs(60), || {
        ids.iter()
            .all(|id| install.state_of(*id).state == "on_tape")
    });
    ids.into_iter().zip(sources).collect()
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pattern(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// Parses `stager archive` output: "FILE_ID PATH" lines.
pub fn archived_ids(stdout: &str) -> Vec<(u64, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (id, path) = l.split_once(' ')?;
            Some((id.parse().ok()?, path.to_string()))
        })
        .collect()
}

/// Waits for a state: `check` answers Ok once it holds, or Err with the
/// state it saw; after a generous limit the test fails with the last state
/// seen.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match check() {
            Ok(v) => return v,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last seen: {seen}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a state (polled), failing the test after a generous limit.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `PROGRAM run --config CONFIG`, which must refuse to start; returns
/// its one sentence.
pub fn refused_to_start(program: &str, config: &Path) -> String {
    let out = Command::new(bin(program))
        .args(["run", "--config"])
        .arg(config)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert!(!out.status.success(), "{program} started: {stderr}");
    stderr
}

/// Gives the whole installation to `user` (tests that drop privileges).
pub fn give_to(install: &Install, user: &str) -> nix::unistd::User {
    let user = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no user {user}"));
    let status = Command::new("chown")
        .args(["-R", &format!("{}:{}", user.uid, user.gid)])
        .arg(install.path())
        .status()
        .expect("chown");
    assert!(status.success());
    user
}

/// The config `tapeserverd init` wrote, from what it printed: the
/// config's path first (then the gateway's, with --gateway).
pub fn init_config_path(stdout: &[u8]) -> PathBuf {
    PathBuf::from(
        String::from_utf8_lossy(stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim(),
    )
}

/// Whether a process has exited: gone, or a zombie nobody reaped yet.
pub fn exited(pid: i32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
}

/// The credentials line of a process (`Uid:`, `CapEff:`...), trimmed.
pub fn proc_status(pid: i32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A child process killed and reaped however the test ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
