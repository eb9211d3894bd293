//! Test harness: a real installation made by `tapeserverd init` in a
//! temporary directory, the real daemon started as a child process, and
//! the real client binaries.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BLOCK_SIZE: u64 = 256 * 1024;

pub fn bin(name: &str) -> PathBuf {
    match name {
        "tapeserverd" => PathBuf::from(env!("CARGO_BIN_EXE_tapeserverd")),
        "stager" => PathBuf::from(env!("CARGO_BIN_EXE_stager")),
        "tpstat" => PathBuf::from(env!("CARGO_BIN_EXE_tpstat")),
        "tpconfig" => PathBuf::from(env!("CARGO_BIN_EXE_tpconfig")),
        other => panic!("no binary {other}"),
    }
}

pub struct Install {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Install {
    pub fn new(drives: u32, tapes: u32) -> Self {
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
            .output()
            .expect("run tapeserverd init");
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Self { dir, config }
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

    pub fn daemon_log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.path().join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "\n--- daemon log tail ---\n{}",
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    pub fn start(&self) -> Daemon {
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
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tapeserverd");
        let daemon = Daemon { child: Some(child) };
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

pub struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
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
