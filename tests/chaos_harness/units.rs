//! Units as systemd runs them: a main process and everything it started,
//! found by a marker in their environment (which every child inherits, as
//! a cgroup would hold them). A unit whose main process died is restarted
//! only once every process of it is gone.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MARKER: &str = "TAPESERVER_CHAOS_UNIT";

pub fn sigkill(pid: i32) {
    // SAFETY: kill(2) on a process of a unit this harness started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// Makes this process the reaper of orphans its units leave (a killed
/// daemon's sessions, the postmaster pg_ctl started), as the service
/// manager is: a process is gone once reaped, and a zombie postmaster would
/// keep the next one from starting.
pub fn become_subreaper() {
    // SAFETY: prctl(2) with an integer argument; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Reaps `pid` if it is a dead child of ours; true once it no longer
/// exists (reaped here or by its own parent).
fn reaped(pid: i32) -> bool {
    // SAFETY: waitpid(2) on one pid with WNOHANG; a pid that is not our
    // child only gives ECHILD. Only pids the harness killed are passed, so
    // no std::process::Child loses its status to this.
    unsafe {
        libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
    }
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Reaps the zombies units leave with this process (their reaper): a
/// session or forker that exited after its parent died, a postmaster whose
/// pg_ctl is gone. Never a unit's main process (its `Child` reaps it) nor
/// a command some thread of this process runs and waits for: each unit
/// runs in a process group of its own (`command`), so a daemon's orphan is
/// in a group neither this process's nor led by itself.
pub fn reap_orphans() {
    let me = std::process::id() as i32;
    // SAFETY: getpgrp(2) has no preconditions.
    let my_group = unsafe { libc::getpgrp() };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.rsplit_once('(').map_or("", |(_, c)| c);
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let parent: Option<i32> = fields.next().and_then(|p| p.parse().ok());
        let group: Option<i32> = fields.next().and_then(|p| p.parse().ok());
        if state != Some("Z") || parent != Some(me) {
            continue;
        }
        let orphan = match comm {
            // pg_ctl starts the postmaster in a session of its own.
            "postgres" => true,
            "tapeserverd" | "tlcd" => group.is_some_and(|g| g != my_group && g != pid),
            _ => false,
        };
        if orphan {
            reaped(pid);
        }
    }
}

/// The parent pid of a process, from /proc.
pub fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Every live process whose environment carries `MARKER=marker`.
fn processes_marked(marker: &str) -> Vec<i32> {
    let needle = format!("{MARKER}={marker}\0");
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // A zombie's environment reads empty: it is gone already.
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

pub enum Kind {
    Daemon {
        config: PathBuf,
    },
    Tlcd {
        config: PathBuf,
    },
    Postgres {
        bin: PathBuf,
        data: PathBuf,
        port: u16,
        sockets: PathBuf,
    },
}

pub struct Unit {
    pub name: &'static str,
    marker: String,
    kind: Kind,
    log: PathBuf,
    child: Option<Child>,
    /// The main process last seen alive: a restart waits until it has left
    /// the process table (a zombie postmaster keeps the next from starting).
    last_main: Option<i32>,
    pub restarts: u32,
}

impl Unit {
    pub fn new(name: &'static str, kind: Kind, log: PathBuf) -> Self {
        let marker = format!("{name}-{}-{}", std::process::id(), log.display());
        Self {
            name,
            marker,
            kind,
            log,
            child: None,
            last_main: None,
            restarts: 0,
        }
    }

    pub fn processes(&self) -> Vec<i32> {
        processes_marked(&self.marker)
    }

    /// The unit's main process (the daemon, tlcd, the postmaster).
    pub fn main_pid(&mut self) -> Option<i32> {
        let pid = self.find_main();
        if pid.is_some() {
            self.last_main = pid;
        }
        pid
    }

    fn find_main(&mut self) -> Option<i32> {
        match &self.kind {
            Kind::Postgres { data, .. } => {
                let pid: i32 = std::fs::read_to_string(data.join("postmaster.pid"))
                    .ok()?
                    .lines()
                    .next()?
                    .trim()
                    .parse()
                    .ok()?;
                self.processes().contains(&pid).then_some(pid)
            }
            _ => {
                let child = self.child.as_mut()?;
                match child.try_wait() {
                    Ok(None) => Some(child.id() as i32),
                    _ => None,
                }
            }
        }
    }

    fn command(&self) -> Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("unit log");
        let mut cmd = match &self.kind {
            Kind::Daemon { config } => {
                let mut c = Command::new(crate::common::bin("tapeserverd"));
                c.arg("run").arg("--config").arg(config);
                c.env("RUST_LOG", "info");
                c
            }
            Kind::Tlcd { config } => {
                let mut c = Command::new(crate::common::bin("tlcd"));
                c.arg("run").arg("--config").arg(config);
                c
            }
            Kind::Postgres {
                bin,
                data,
                port,
                sockets,
            } => {
                let mut c = as_postgres(&bin.join("pg_ctl"));
                c.arg("-D").arg(data).args(["-w", "-s", "start", "-o"]).arg(format!(
                    "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=200",
                    sockets.display()
                ));
                c
            }
        };
        // A group of its own, as a unit's cgroup: its orphans are told from
        // the commands the tests run (see `reap_orphans`).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.env(MARKER, &self.marker)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        cmd
    }

    /// Starts the unit and waits until `ready` says it serves.
    pub fn start(&mut self, ready: impl Fn() -> bool) {
        let mut child = self.command().spawn().expect("start unit");
        if matches!(self.kind, Kind::Postgres { .. }) {
            // pg_ctl -w returns once the server accepts connections.
            let status = child.wait().expect("pg_ctl");
            assert!(status.success(), "pg_ctl start failed: {}", self.log_tail());
        } else {
            self.child = Some(child);
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "{} did not come up: {}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// After its main process died (killed, or exiting on its own): what
    /// systemd does before a restart. Every process left in the unit is
    /// killed, and it and the processes in `gone` (killed before, maybe
    /// zombies now) are waited for until they have left the process table;
    /// then the unit starts again.
    pub fn restart(&mut self, ready: impl Fn() -> bool, gone: &[i32]) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut waiting: Vec<i32> = gone.to_vec();
        waiting.extend(self.last_main.take());
        loop {
            if let Some(child) = self.child.as_mut()
                && !matches!(child.try_wait(), Ok(None))
            {
                self.child = None;
            }
            let left = self.processes();
            for &pid in &left {
                sigkill(pid);
                if !waiting.contains(&pid) {
                    waiting.push(pid);
                }
            }
            waiting.retain(|&pid| !reaped(pid));
            if left.is_empty() && waiting.is_empty() && self.child.is_none() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: processes {left:?} {waiting:?} would not go",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        self.restarts += 1;
        self.start(ready);
    }

    /// Waits until the unit's main process is gone (after a kill of one of
    /// its helpers that it does not survive).
    pub fn wait_main_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.main_pid().is_none() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it for good at the end: SIGKILL everything, wait.
    pub fn kill_all(&mut self) {
        for _ in 0..1000 {
            let left = self.processes();
            if let Some(child) = self.child.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
            }
            if left.is_empty() {
                return;
            }
            for pid in left {
                sigkill(pid);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// A command run as the PostgreSQL server's user when we are root (initdb
/// and the server refuse to run as root).
pub fn as_postgres(program: &Path) -> Command {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Debian's server programs: /usr/lib/postgresql/VERSION/bin.
pub fn postgres_bindir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server packages (scripts/test installs them)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("a PostgreSQL server under /usr/lib/postgresql")
}

/// A private PostgreSQL cluster for this run: killing it must not touch
/// the server other tests share.
pub fn postgres_unit(dir: &Path) -> (Unit, String) {
    let bin = postgres_bindir();
    let root = dir.join("pg");
    std::fs::create_dir_all(&root).expect("pg dir");
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let chown = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(&root)
            .status()
            .expect("chown");
        assert!(chown.success());
        // The server's user must reach its directory through ours.
        let _ = Command::new("chmod").arg("755").arg(dir).status();
    }
    let data = root.join("data");
    let out = as_postgres(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-A", "trust", "--no-sync"])
        .output()
        .expect("initdb");
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let unit = Unit::new(
        "postgres",
        Kind::Postgres {
            bin,
            data,
            port,
            sockets: root.clone(),
        },
        root.join("log"),
    );
    (unit, url)
}
