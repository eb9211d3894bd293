//! docs/site.md walks a site from nothing; its commands must work as
//! written. This runs every `sh walkthrough` block of that page, in order,
//! with bash, in a throwaway site: the test PostgreSQL server as the site's
//! database, a temporary directory as its shared filesystem, this build's
//! binaries on the PATH.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The page's `sh walkthrough` blocks, in order.
fn blocks(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        match &mut current {
            None if line.trim() == "```sh walkthrough" => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                out.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    out
}

/// Kills the daemons the walk-through started (their pid files).
struct Site(PathBuf);

impl Drop for Site {
    fn drop(&mut self) {
        for name in ["ts1.pid", "ts2.pid", "tlcd.pid"] {
            if let Some(pid) = std::fs::read_to_string(self.0.join(name))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
            {
                // SAFETY: kill(2) of a daemon this test's script started.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

#[test]
fn every_command_of_the_site_walkthrough_works_as_written() {
    let page = std::fs::read_to_string("docs/site.md").unwrap();
    let blocks = blocks(&page);
    assert!(blocks.len() >= 6, "the walk-through has its blocks");
    let admin = std::env::var("TAPESERVER_TEST_PG")
        .expect("TAPESERVER_TEST_PG is not set: run scripts/test");
    let server = admin
        .split('@')
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    // A run before this one may have left the role and database.
    let mut pg = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    pg.batch_execute("DROP DATABASE IF EXISTS tape WITH (FORCE)")
        .unwrap();
    pg.batch_execute("DROP ROLE IF EXISTS tape").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let _site = Site(site.clone());
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_tapeserverd"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -euo pipefail\n{}", blocks.join("\n"));
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("SITE", &site)
        .env("PG_SERVER", &server)
        .env("PG_ADMIN", &admin)
        .env("PATH", path)
        .env_remove("TAPESERVER_CONFIG")
        .output()
        .unwrap();
    let log = |name: &str| std::fs::read_to_string(site.join(name)).unwrap_or_default();
    assert!(
        out.status.success(),
        "the walk-through failed:\n{}\n{}\n--- ts1 ---\n{}\n--- ts2 ---\n{}\n--- tlcd ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        log("ts1.log"),
        log("ts2.log"),
        log("tlcd.log")
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("MOUNT"), "the mounts were listed: {said}");
    drop(pg);
}
