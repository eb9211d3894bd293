//! The library side of the harness: a standalone `tlcd` as a child process,
//! and the emulated library's own state and fault files.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use super::{Install, bin, wait_until};

/// A standalone controller (`tlcd`) serving an installation's emulated
/// library, started as a child process.
pub struct Tlcd {
    child: Option<Child>,
    pub endpoint: String,
    pub config: PathBuf,
    pub log: PathBuf,
}

impl Tlcd {
    /// Writes `NAME.toml` for a tlcd on `ipc://DIR/NAME.sock` (lease in the
    /// library, probes every 100 ms) and starts it.
    pub fn start(install: &Install, name: &str) -> Self {
        Self::start_with(install, name, "")
    }

    /// The same with more config text after the generated sections (a
    /// `[security]` table, say).
    pub fn start_with(install: &Install, name: &str, more: &str) -> Self {
        let dir = install.path();
        let endpoint = format!("ipc://{}/{name}.sock", dir.display());
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[library]\nkind = \"emulated\"\npath = \"{}\"\nprobe_interval = \"100ms\"\nrequest_timeout = \"2s\"\n\n[controller]\nlisten = [\"{endpoint}\"]\nlog_level = \"debug\"\n{more}",
                dir.join("library").display()
            ),
        )
        .expect("tlcd config");
        let log = dir.join(format!("{name}.log"));
        let mut tlcd = Tlcd {
            child: None,
            endpoint,
            config,
            log,
        };
        tlcd.spawn();
        tlcd
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("tlcd log");
        let child = Command::new(bin("tlcd"))
            .args(["run", "--config"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tlcd");
        self.child = Some(child);
        wait_until("tlcd to answer", || self.role().is_some());
    }

    /// The running process's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts it again on the same endpoint.
    pub fn restart(&mut self) {
        self.spawn();
    }

    /// "active" or "standby", or None when nothing answers.
    pub fn role(&self) -> Option<String> {
        let out = self.tplib(&["ping"]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{}: ", self.endpoint)))
            .filter(|r| *r == "active" || *r == "standby")
            .map(String::from)
    }

    /// tplib with this controller's config (its endpoint and timeouts).
    pub fn tplib(&self, args: &[&str]) -> Output {
        Command::new(bin("tplib"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("tplib")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no goodbye, the lease goes with the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Tlcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The emulated library's own state (the device's truth, daemon or not).
pub fn library_state(install: &Install) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(install.path().join("library/library.json"))
            .expect("library state"),
    )
    .expect("library json")
}

/// Moves the emulated library has under way (a cartridge in a picker).
pub fn moves_in_flight(install: &Install) -> usize {
    library_state(install)["moves"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Every barcode in the library with where it is; a cartridge lost or
/// duplicated shows here.
pub fn cartridges(install: &Install) -> Vec<(u64, String)> {
    let state = library_state(install);
    let mut out = Vec::new();
    for list in ["pickers", "ports", "drives", "slots"] {
        for e in state[list].as_array().expect("elements") {
            if let Some(b) = e["cartridge"]["barcode"].as_str() {
                out.push((e["address"].as_u64().unwrap_or(0), b.to_string()));
            }
        }
    }
    out.sort();
    out
}

/// Sets or clears an emulated library fault (`changer0.hold`, `door-open`).
pub fn fault(install: &Install, name: &str, on: bool) {
    let file = install.path().join("library/faults").join(name);
    if on {
        std::fs::write(file, "").expect("set fault");
    } else {
        let _ = std::fs::remove_file(file);
    }
}
