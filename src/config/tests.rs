use std::time::Duration;

use super::*;

const MINIMAL: &str = r#"
[daemon]
run_dir = "/run/ts"
state_dir = "/var/lib/ts"

[scheduler]
url = "sqlite:///var/lib/ts/scheduler.db"

[library]
kind = "emulated"
path = "/var/lib/ts/library"

[[drives]]
name = "drive0"
kind = "file"
device = "/var/lib/ts/library/drives/drive0"

[paths]
archive_roots = ["/data"]
recall_roots = ["/data"]
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/ts.toml"), text)
}

#[test]
fn minimal_config_gets_defaults() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.session.block_size, ByteSize(256 * 1024));
    assert_eq!(
        config.watchdog.heartbeat_timeout,
        Interval(Duration::from_secs(60))
    );
    assert_eq!(config.stager_endpoint(), "ipc:///run/ts/stager.sock");
}

#[test]
fn sizes_and_durations_read_as_operators_write_them() {
    let text = format!(
        "{MINIMAL}\n[session]\nblock_size = \"512KiB\"\nbulk_bytes = \"80GB\"\nflush_bytes = 1000\nheartbeat_interval = \"250ms\"\n"
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.session.block_size.0, 512 * 1024);
    assert_eq!(config.session.bulk_bytes.0, 80_000_000_000);
    assert_eq!(config.session.flush_bytes.0, 1000);
    assert_eq!(
        config.session.heartbeat_interval.0,
        Duration::from_millis(250)
    );
}

#[test]
fn unknown_key_is_named() {
    let text = MINIMAL.replace("[daemon]\n", "[daemon]\nrun_dri = \"/x\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("/etc/ts.toml"), "{err}");
    assert!(err.contains("run_dri"), "{err}");
}

#[test]
fn bad_size_names_key_and_expectation() {
    let text = format!("{MINIMAL}\n[session]\nblock_size = \"lots\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("session.block_size"), "{err}");
    assert!(err.contains("expected a size"), "{err}");
}

#[test]
fn bad_duration_names_key() {
    let text = format!("{MINIMAL}\n[watchdog]\nmount_timeout = \"soon\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("watchdog.mount_timeout"), "{err}");
    assert!(err.contains("duration"), "{err}");
}

#[test]
fn missing_section_is_named() {
    let text = MINIMAL.replace(
        "[paths]\narchive_roots = [\"/data\"]\nrecall_roots = [\"/data\"]\n",
        "",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("paths"), "{err}");
}

#[test]
fn duplicate_drive_is_rejected() {
    let text =
        format!("{MINIMAL}\n[[drives]]\nname = \"drive0\"\nkind = \"file\"\ndevice = \"/x\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("drives[1].name"), "{err}");
}

#[test]
fn postgres_url_is_not_yet_accepted_with_a_clear_message() {
    let text = MINIMAL.replace("sqlite:///var/lib/ts/scheduler.db", "mysql://x");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("scheduler.url"), "{err}");
}

#[test]
fn syntax_error_gives_line() {
    let err = parse("[daemon\n").unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn round_trips_through_toml() {
    let config = parse(MINIMAL).unwrap();
    let text = config.to_toml().unwrap();
    let again = parse(&text).unwrap();
    assert_eq!(again.session.block_size, config.session.block_size);
    assert_eq!(again.drives.len(), 1);
}

/// The shipped example parses, and names every key the config has (a key
/// added without documenting it fails here).
#[test]
fn the_example_config_parses_and_documents_every_key() {
    let example = include_str!("../../config/tapeserver.toml");
    let config = Config::parse(std::path::Path::new("config/tapeserver.toml"), example).unwrap();
    let mut with_everything = config.clone();
    with_everything.daemon.site = Some("SITE".into());
    with_everything.daemon.host = Some("host".into());
    with_everything.test_faults.call_delay = Some(Interval(Duration::from_millis(1)));
    with_everything.test_faults.failing_fetches = 1;
    with_everything.scheduler.password_file = Some("/x".into());
    with_everything.scheduler.default_class = Some("two".into());
    with_everything.repack.buffer_dir = Some("/x".into());
    let every_threshold = crate::config::QueuePolicyConfig {
        min_files: Some(1),
        min_bytes: Some(ByteSize(1)),
        min_age: Some(Interval(Duration::from_secs(1))),
        max_age: Some(Interval(Duration::from_secs(2))),
        priority: Some(1),
    };
    with_everything.scheduler.archive = Some(every_threshold.clone());
    with_everything.scheduler.recall = Some(every_threshold.clone());
    with_everything.scheduler.pools.insert(
        "pools".into(),
        crate::config::PoolPolicyConfig {
            archive: Some(every_threshold.clone()),
            recall: Some(every_threshold),
        },
    );
    with_everything.library.changers = vec!["/dev/sg3".into()];
    with_everything.library.controllers = vec!["tcp://tlc1:5770".into()];
    with_everything.library.lease = Some("/x".into());
    with_everything.library.controller_key = Some("k".into());
    with_everything.metrics.listen = Some("127.0.0.1:9477".into());
    with_everything.security = crate::config::SecurityConfig {
        key_file: Some("/x".into()),
        admin_group: Some("tape".into()),
        user: Some("tapeserver".into()),
        clients: vec![crate::config::security::ClientEntry {
            name: "stager1".into(),
            key: "k".into(),
            archive_roots: Some(vec!["/data".into()]),
            recall_roots: Some(vec!["/data".into()]),
            owner: Some("atlas".into()),
        }],
    };
    with_everything.drives[0].element = Some(500);
    with_everything.drives[0].faults = Some(FaultsConfig {
        write_error_at_block: Some(1),
        read_error_at_block: Some(1),
        corrupt_read_at_block: Some(1),
        stall_at_block: Some(1),
        stall: Some(Interval(Duration::from_secs(1))),
        stall_until: Some("/x".into()),
        early_warning_after: Some(ByteSize(1)),
        end_of_medium_after: Some(ByteSize(1)),
        dismount_error: true,
        block_delay: Some(Interval(Duration::from_millis(1))),
    });
    let rendered: toml::Value = toml::from_str(&with_everything.to_toml().unwrap()).unwrap();
    let mut keys = Vec::new();
    fn walk(value: &toml::Value, keys: &mut Vec<String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    keys.push(k.clone());
                    walk(v, keys);
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, keys)),
            _ => {}
        }
    }
    walk(&rendered, &mut keys);
    for key in keys {
        assert!(
            example.contains(&format!("{key} ="))
                || example.contains(&format!("[{key}]"))
                || example.contains(&format!("[[{key}]]"))
                || example.contains(&format!("[drives.{key}]"))
                || example.contains(&format!(".{key}]"))
                || example.contains(&format!(".{key}.")),
            "config/tapeserver.toml does not document `{key}`"
        );
    }
}

#[test]
fn library_keys_say_what_each_kind_needs() {
    let old = MINIMAL.replace("kind = \"emulated\"", "kind = \"virtual\"");
    assert_eq!(
        parse(&old).unwrap().library.kind,
        LibraryKind::Emulated,
        "the old name still reads"
    );
    let scsi = MINIMAL.replace(
        "kind = \"emulated\"\npath = \"/var/lib/ts/library\"",
        "kind = \"scsi\"",
    );
    let e = parse(&scsi).unwrap_err().to_string();
    assert!(
        e.contains("library.changers") && e.contains("at least one changer path"),
        "{e}"
    );
    let served = scsi.replace(
        "kind = \"scsi\"",
        "kind = \"scsi\"\ncontrollers = [\"tcp://tlc1:5770\"]",
    );
    assert_eq!(
        parse(&served).unwrap().controller_endpoints(),
        ["tcp://tlc1:5770"]
    );
    let bad = scsi.replace(
        "kind = \"scsi\"",
        "kind = \"scsi\"\ncontrollers = [\"tlc1:5770\"]",
    );
    let e = parse(&bad).unwrap_err().to_string();
    assert!(
        e.contains("library.controllers") && e.contains("tlc1:5770"),
        "{e}"
    );
    let embedded = parse(MINIMAL).unwrap();
    assert_eq!(embedded.controller_endpoints(), ["ipc:///run/ts/tlc.sock"]);
}

/// config/tlcd.toml is valid and documents every key tlcd knows.
#[test]
fn the_example_tlcd_config_parses_and_documents_every_key() {
    let example = include_str!("../../config/tlcd.toml");
    let config = tlcd::TlcdConfig::parse(Path::new("config/tlcd.toml"), example).unwrap();
    assert_eq!(config.endpoint(), "tcp://tlc1.example.org:5770");
    let rendered: toml::Value = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
    let toml::Value::Table(top) = rendered else {
        panic!("not a table");
    };
    for (section, value) in top {
        let keys: Vec<String> = match value {
            toml::Value::Table(t) => t.keys().cloned().collect(),
            toml::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_table())
                .flat_map(|t| t.keys().cloned().collect::<Vec<_>>())
                .collect(),
            _ => Vec::new(),
        };
        for key in keys {
            assert!(
                example.contains(&format!("{key} ="))
                    || example.contains(&format!("[[{section}.{key}]]")),
                "config/tlcd.toml does not document `{section}.{key}`"
            );
        }
    }
    let no_lease = example.replace("lease = ", "# lease = ");
    let e = tlcd::TlcdConfig::parse(Path::new("x.toml"), &no_lease)
        .unwrap_err()
        .to_string();
    assert!(e.contains("controller.lease"), "{e}");
}

#[test]
fn a_password_file_that_is_missing_or_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    let config = |file: &std::path::Path| {
        MINIMAL
            .replace(
                "url = \"sqlite:///var/lib/ts/scheduler.db\"",
                "url = \"postgres://tape@db/tape\"",
            )
            .replace(
                "[scheduler]\n",
                &format!(
                    "[scheduler]\npassword_file = {:?}\n",
                    file.display().to_string()
                ),
            )
    };
    let err = Config::parse(Path::new("t.toml"), &config(&file))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scheduler.password_file") && err.contains("No such file"),
        "{err}"
    );
    std::fs::write(&file, "secret\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Config::parse(Path::new("t.toml"), &config(&file))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    Config::parse(Path::new("t.toml"), &config(&file)).unwrap();
}

#[test]
fn shares_are_checked() {
    // The shares go at the end of [scheduler].
    let base = |shares: &str| {
        MINIMAL.replace(
            "url = \"sqlite:///var/lib/ts/scheduler.db\"\n",
            &format!("url = \"sqlite:///var/lib/ts/scheduler.db\"\n{shares}\n"),
        )
    };
    let ok = base(
        "[[scheduler.shares]]\nname = \"a\"\npools = [\"raw\"]\nmax_read_drives = 2\nweight = 3\n[[scheduler.shares]]\nname = \"b\"\npools = [\"other\"]\n",
    );
    let config = parse(&ok).unwrap();
    let policy = crate::settings::mount_policy(&config.scheduler);
    assert_eq!(policy.shares.len(), 2);
    assert_eq!(policy.share_of("raw").map(|s| s.weight), Some(3));
    assert_eq!(
        policy.share_of("other").map(|s| s.weight),
        Some(1),
        "weight 1 by default"
    );
    for (shares, says) in [
        (
            "[[scheduler.shares]]\nname = \"a\"\npools = [\"raw\"]\n[[scheduler.shares]]\nname = \"b\"\npools = [\"raw\"]\n",
            "a pool belongs to one share",
        ),
        (
            "[[scheduler.shares]]\nname = \"a\"\npools = []\n",
            "names no pool",
        ),
        (
            "[[scheduler.shares]]\nname = \"a\"\npools = [\"raw\"]\nweight = 0\n",
            "weight must be at least 1",
        ),
        (
            "[[scheduler.shares]]\nname = \"a\"\npools = [\"raw\"]\nmax_drives = 2\n",
            "max_drives",
        ),
    ] {
        let err = parse(&base(shares)).unwrap_err().to_string();
        assert!(err.contains(says), "{err}");
    }
}
