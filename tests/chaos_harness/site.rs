//! The site the harness runs: `tapeserverd init`, a standalone tlcd, and
//! optionally a private PostgreSQL, each a unit the harness restarts as
//! systemd would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tapeserver::config::{Config, FaultsConfig, Interval};

use super::units::{self, Kind, Unit};
use super::{Report, Settings};
use crate::common::bin;

pub struct Site {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub tlc_config: PathBuf,
    pub daemon: Unit,
    pub tlcd: Unit,
    pub postgres: Option<Unit>,
    pub drives: Vec<String>,
    pub barcodes: usize,
}

impl Site {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new(bin(program))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run a client")
    }

    pub fn tpstat(&self) -> Option<serde_json::Value> {
        let out = self.run("tpstat", &["--json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    pub fn daemon_ready(config: &Path) -> impl Fn() -> bool + use<> {
        let config = config.to_path_buf();
        move || {
            Command::new(bin("tpstat"))
                .arg("--config")
                .arg(&config)
                .output()
                .is_ok_and(|o| o.status.success())
        }
    }

    pub fn tlcd_ready(config: &Path) -> impl Fn() -> bool + use<> {
        let config = config.to_path_buf();
        move || {
            Command::new(bin("tplib"))
                .arg("--config")
                .arg(&config)
                .arg("ping")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("active"))
        }
    }

    pub fn scheduler(&self) -> Box<dyn tapeserver::scheduler::Scheduler> {
        let config = Config::load(&self.config).expect("config");
        tapeserver::settings::open_scheduler(&config).expect("open the scheduler")
    }

    pub fn library_state(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path().join("site/library/library.json"))
            .unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    pub fn moves_in_flight(&self) -> usize {
        self.library_state()["moves"].as_array().map_or(0, Vec::len)
    }

    /// systemd's Restart=on-failure: a unit whose main process is gone is
    /// restarted (once every process of it is gone).
    pub fn restart_dead_units(&mut self, report: &mut Report, gone: &[i32]) {
        units::reap_orphans();
        if let Some(pg) = self.postgres.as_mut()
            && pg.main_pid().is_none()
        {
            pg.restart(|| true, gone);
            *report.restarts.entry("postgres").or_default() += 1;
        }
        if self.tlcd.main_pid().is_none() {
            self.tlcd.restart(Self::tlcd_ready(&self.tlc_config), gone);
            *report.restarts.entry("tlcd").or_default() += 1;
        }
        if self.daemon.main_pid().is_none() {
            self.daemon.restart(Self::daemon_ready(&self.config), gone);
            *report.restarts.entry("tapeserverd").or_default() += 1;
        }
    }
}

/// The repack buffer's bound: a little more than the largest file (the
/// repack scenario's reach 50 MB).
pub const REPACK_BUFFER: u64 = 64 << 20;

pub fn setup(settings: &Settings) -> Site {
    setup_with(settings, &[], |_, _| {})
}

/// `setup` with more `tapeserverd init` arguments and a change of the
/// config (given the site's directory) before anything starts.
pub fn setup_with(
    settings: &Settings,
    more_init: &[&str],
    change: impl FnOnce(&mut Config, &Path),
) -> Site {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut postgres = None;
    let mut init_args: Vec<String> = Vec::new();
    if settings.postgres {
        let (mut pg, url) = units::postgres_unit(dir.path());
        pg.start(|| true);
        postgres = Some(pg);
        init_args.extend(["--scheduler".into(), url]);
    }
    let site = dir.path().join("site");
    let tapes = 6;
    let out = Command::new(bin("tapeserverd"))
        .arg("init")
        .arg(&site)
        .args(["--drives", "2", "--tapes", &tapes.to_string()])
        .args(["--capacity", "4GiB", "--move-time", "150ms"])
        .args(&init_args)
        .args(more_init)
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = crate::common::init_config_path(&out.stdout);
    let tlc_endpoint = format!("ipc://{}/tlc.sock", site.display());
    let mut cfg = Config::load(&config).expect("config");
    cfg.library.controllers = vec![tlc_endpoint.clone()];
    cfg.library.request_timeout = Interval(Duration::from_secs(3));
    // Small flushes and bulks, a slow drive and a slow robot: kills land
    // while data moves and cartridges travel.
    cfg.session.flush_files = 2;
    cfg.session.bulk_files = 3;
    cfg.scheduler.max_file_attempts = 1000;
    cfg.scheduler.keep_mounted = Interval(Duration::ZERO);
    cfg.scheduler.empty_mount_backoff = Interval(Duration::from_millis(500));
    cfg.scheduler.error_backoff = Interval(Duration::from_millis(500));
    cfg.scheduler.drive_lease = Interval(Duration::from_secs(3));
    cfg.repack.buffer_bytes = tapeserver::config::ByteSize(REPACK_BUFFER);
    for d in &mut cfg.drives {
        d.faults = Some(FaultsConfig {
            block_delay: Some(Interval(Duration::from_millis(3))),
            ..Default::default()
        });
    }
    change(&mut cfg, &site);
    let drives = cfg.drives.iter().map(|d| d.name.clone()).collect();
    std::fs::write(&config, cfg.to_toml().expect("render")).expect("write config");
    let tlc_config = site.join("tlcd.toml");
    std::fs::write(
        &tlc_config,
        format!(
            "[library]\nkind = \"emulated\"\npath = \"{}\"\nprobe_interval = \"100ms\"\nrequest_timeout = \"3s\"\n\n[controller]\nlisten = [\"{tlc_endpoint}\"]\n",
            site.join("library").display()
        ),
    )
    .expect("tlcd config");
    std::fs::create_dir_all(site.join("recalls")).expect("recall dir");
    std::fs::create_dir_all(site.join("sources")).expect("source dir");
    let mut tlcd = Unit::new(
        "tlcd",
        Kind::Tlcd {
            config: tlc_config.clone(),
        },
        site.join("tlcd.log"),
    );
    tlcd.start(Site::tlcd_ready(&tlc_config));
    let mut daemon = Unit::new(
        "tapeserverd",
        Kind::Daemon {
            config: config.clone(),
        },
        site.join("daemon.log"),
    );
    daemon.start(Site::daemon_ready(&config));
    Site {
        dir,
        config,
        tlc_config,
        daemon,
        tlcd,
        postgres,
        drives,
        barcodes: tapes,
    }
}
