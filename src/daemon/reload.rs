//! What a SIGHUP changes. Reloadable (applied at once): `[paths]` and the
//! clients' roots (the stager requests that follow are held to them),
//! `[[drives]]` (added, changed, removed: each at its next session),
//! `[session]`, `[watchdog]`, the mount policy and pacing of `[scheduler]`
//! (all but `url` and `password_file`), the site name, `[test_faults]`.
//! Restart-only (named in the log with "restart needed", the running value
//! kept): `[daemon]` (but `site`), `[endpoints]`, `[scheduler] url` and
//! `password_file`, `[library]`, `[security]` but the clients' roots,
//! `[metrics]`.

use crate::config::Config;

/// The sections that changed, by what a reload does with them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub applied: Vec<String>,
    pub restart_needed: Vec<String>,
}

/// A section's value as text, to compare two configs.
fn text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl Changes {
    pub fn between(old: &Config, new: &Config) -> Self {
        let mut c = Changes::default();
        let mut check = |key: &str, changed: bool, reloadable: bool| {
            if changed {
                if reloadable {
                    c.applied.push(key.to_string());
                } else {
                    c.restart_needed.push(key.to_string());
                }
            }
        };
        let mut daemon_old = old.daemon.clone();
        daemon_old.site = new.daemon.site.clone();
        check("daemon.site", old.daemon.site != new.daemon.site, true);
        check("daemon", text(&daemon_old) != text(&new.daemon), false);
        check(
            "endpoints",
            text(&old.endpoints) != text(&new.endpoints),
            false,
        );
        let (os, ns) = (&old.scheduler, &new.scheduler);
        check(
            "scheduler.url",
            os.url != ns.url || os.password_file != ns.password_file,
            false,
        );
        let mut policy_old = os.clone();
        policy_old.url = ns.url.clone();
        policy_old.password_file = ns.password_file.clone();
        check("scheduler", text(&policy_old) != text(ns), true);
        check("library", text(&old.library) != text(&new.library), false);
        check("drives", text(&old.drives) != text(&new.drives), true);
        check("session", text(&old.session) != text(&new.session), true);
        check("watchdog", text(&old.watchdog) != text(&new.watchdog), true);
        check("paths", text(&old.paths) != text(&new.paths), true);
        check(
            "repack.max_drives",
            old.repack.max_drives != new.repack.max_drives,
            true,
        );
        check(
            "repack",
            old.repack.buffer_dir != new.repack.buffer_dir
                || old.repack.buffer_bytes != new.repack.buffer_bytes,
            false,
        );
        let roots = |cfg: &Config| {
            cfg.security
                .clients
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        text(&c.archive_roots),
                        text(&c.recall_roots),
                    )
                })
                .collect::<Vec<_>>()
        };
        let keys = |cfg: &Config| {
            let mut s = cfg.security.clone();
            for c in &mut s.clients {
                c.archive_roots = None;
                c.recall_roots = None;
            }
            text(&s)
        };
        check("security.clients roots", roots(old) != roots(new), true);
        check("security", keys(old) != keys(new), false);
        check("metrics", text(&old.metrics) != text(&new.metrics), false);
        // The collector thread was started with it.
        check("buffer", old.buffer != new.buffer, false);
        check("test_faults", old.test_faults != new.test_faults, true);
        c
    }

    /// The new config with every restart-only section as it runs.
    pub fn keep_restart_only(&self, running: &Config, mut new: Config) -> Config {
        let site = new.daemon.site.clone();
        new.daemon = running.daemon.clone();
        new.daemon.site = site;
        new.endpoints = running.endpoints.clone();
        new.scheduler.url = running.scheduler.url.clone();
        new.scheduler.password_file = running.scheduler.password_file.clone();
        new.library = running.library.clone();
        new.metrics = running.metrics.clone();
        new.buffer = running.buffer.clone();
        new.repack.buffer_dir = running.repack.buffer_dir.clone();
        new.repack.buffer_bytes = running.repack.buffer_bytes;
        // The clients' keys and the daemon's stay; their roots follow the file.
        let mut security = running.security.clone();
        for c in &mut security.clients {
            if let Some(n) = new.security.clients.iter().find(|n| n.name == c.name) {
                c.archive_roots = n.archive_roots.clone();
                c.recall_roots = n.recall_roots.clone();
            }
        }
        new.security = security;
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_changed_section_is_applied_or_named_restart_needed() {
        let text = include_str!("../../config/tapeserver.toml");
        let old = Config::parse(std::path::Path::new("example"), text).unwrap();
        let mut new = old.clone();
        new.paths.archive_roots.push("/data/more".into());
        new.session.bulk_files += 1;
        new.library.move_timeout.0 += std::time::Duration::from_secs(1);
        new.daemon.log_level = "debug".into();
        new.scheduler.mount_min_files += 1;
        let changes = Changes::between(&old, &new);
        assert_eq!(changes.applied, ["scheduler", "session", "paths"]);
        assert_eq!(changes.restart_needed, ["daemon", "library"]);
        let kept = changes.keep_restart_only(&old, new.clone());
        assert_eq!(kept.paths.archive_roots, new.paths.archive_roots);
        assert_eq!(kept.library.move_timeout, old.library.move_timeout);
        assert_eq!(kept.daemon.log_level, old.daemon.log_level);
        assert_eq!(kept.session.bulk_files, new.session.bulk_files);
        assert_eq!(Changes::between(&old, &old), Changes::default());
    }
}
