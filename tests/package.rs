//! The Debian package (`scripts/package`, dpkg-deb) built from this
//! build's binaries: its control fields, every file an operator expects
//! where Debian puts it, units that pass `systemd-analyze verify` with the
//! packaged binaries, the packaged config accepted, and a round trip run
//! by the packaged binaries from the unpacked tree.

mod common;
mod package_boot;

use std::path::PathBuf;
use std::process::Command;

use common::Killed;

const BINARIES: [&str; 9] = [
    "tapeserverd",
    "tlcd",
    "tpstat",
    "tpconfig",
    "tplabel",
    "readtp",
    "stager",
    "tplib",
    "tapeadmin",
];

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The package of this build's binaries, in `out`.
fn build_deb(out: &std::path::Path) -> PathBuf {
    let bin_dir = common::bin("tapeserverd").parent().unwrap().to_path_buf();
    // Man pages and completions from this build's own definitions.
    let docs = out.join("docs");
    tapeserver::cli::docs::write_all(&docs).unwrap();
    PathBuf::from(
        run(
            Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/package"))
                .arg(out)
                .env("BIN_DIR", &bin_dir)
                .env("DOCS_DIR", &docs)
                .env("DEB_COMPRESS", "none"),
        )
        .trim(),
    )
}

#[test]
fn the_debian_package_installs_what_operators_expect_and_runs() {
    let out = tempfile::tempdir().unwrap();
    let deb = build_deb(out.path());
    let field = |name: &str| run(Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg(name));
    assert_eq!(field("Package").trim(), "tapeserver");
    assert!(field("Depends").contains("libzmq5"), "{}", field("Depends"));
    let root = out.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));

    let mut expected: Vec<String> = vec![
        "lib/systemd/system/tapeserverd.service".into(),
        "lib/systemd/system/tlcd.service".into(),
        "usr/lib/sysusers.d/tapeserver.conf".into(),
        "usr/lib/tmpfiles.d/tapeserver.conf".into(),
        "etc/tapeserver/tapeserver.toml".into(),
        "usr/share/doc/tapeserver/examples/tlcd.toml".into(),
        "usr/share/doc/tapeserver/threat-model.md".into(),
    ];
    for b in BINARIES {
        let section = tapeserver::cli::docs::section(b);
        expected.push(format!("usr/bin/{b}"));
        expected.push(format!("usr/share/man/man{section}/{b}.{section}.gz"));
        expected.push(format!("usr/share/bash-completion/completions/{b}"));
        expected.push(format!("usr/share/zsh/vendor-completions/_{b}"));
        expected.push(format!("usr/share/fish/vendor_completions.d/{b}.fish"));
    }
    for path in &expected {
        assert!(root.join(path).exists(), "the package lacks /{path}");
    }
    // A page per subcommand too (stager-archive.1...), as --help has them.
    for (name, section, _) in tapeserver::cli::docs::pages() {
        let page = root.join(format!("usr/share/man/man{section}/{name}.{section}.gz"));
        assert!(page.exists(), "no man page {}", page.display());
    }

    // The packaged units, run against the packaged binaries.
    for (unit, binary) in [
        ("tapeserverd.service", "tapeserverd"),
        ("tlcd.service", "tlcd"),
    ] {
        let text = std::fs::read_to_string(root.join("lib/systemd/system").join(unit)).unwrap();
        let local = text.replace(
            &format!("/usr/bin/{binary}"),
            &root.join("usr/bin").join(binary).display().to_string(),
        );
        let path = out.path().join(unit);
        std::fs::write(&path, local).unwrap();
        let verify = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&verify.stderr);
        assert!(
            verify.status.success() && said.trim().is_empty(),
            "{unit}: {said}"
        );
    }
    let packaged = |b: &str| root.join("usr/bin").join(b);
    run(Command::new(packaged("tapeserverd"))
        .arg("check-config")
        .arg(root.join("etc/tapeserver/tapeserver.toml")));

    // init, run and a round trip, all by the packaged binaries.
    let site = out.path().join("site");
    let config = PathBuf::from(
        run(Command::new(packaged("tapeserverd"))
            .arg("init")
            .arg(&site)
            .args(["--drives", "1", "--tapes", "1"]))
        .trim(),
    );
    let _daemon = Killed(
        Command::new(packaged("tapeserverd"))
            .args(["run", "--config"])
            .arg(&config)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = |b: &str, args: &[&str]| {
        Command::new(packaged(b))
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    common::wait_until("the packaged daemon", || {
        client("tpstat", &[]).status.success()
    });
    let source = site.join("f");
    std::fs::write(&source, common::pattern(700_000, 9)).unwrap();
    let archived = client("stager", &["archive", source.to_str().unwrap(), "--wait"]);
    assert!(
        archived.status.success(),
        "{}",
        String::from_utf8_lossy(&archived.stderr)
    );
    let id = common::archived_ids(&String::from_utf8_lossy(&archived.stdout))[0].0;
    let back = site.join("back");
    let recalled = client(
        "stager",
        &["recall", &id.to_string(), back.to_str().unwrap(), "--wait"],
    );
    assert!(
        recalled.status.success(),
        "{}",
        String::from_utf8_lossy(&recalled.stderr)
    );
    assert!(std::fs::read(back).unwrap() == std::fs::read(&source).unwrap());
}

/// Runs `script` (sh) chrooted in `root`, in a private mount namespace
/// holding its own /proc: nothing is mounted on the host, and the mount
/// goes with the process.
fn in_root(root: &std::path::Path, script: &str) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t proc proc {root}/proc && exec chroot {root} sh -c '{script}'",
            root = root.display()
        ))
        .env("DEBIAN_FRONTEND", "noninteractive");
    c
}

/// Debian's mirror, as this machine's apt sources name it.
fn mirror() -> String {
    std::env::var("TAPESERVER_DEBIAN_MIRROR").unwrap_or_else(|_| {
        std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("URIs:"))
                    .and_then(|u| u.split_whitespace().next().map(String::from))
            })
            .unwrap_or_else(|| "http://deb.debian.org/debian".into())
    })
}

/// A fresh Debian root (debootstrap, minbase) with nothing but the package
/// and what it declares it needs (apt installs them): the postinst makes
/// the user and the state directory, and the installed commands run init,
/// the daemon and a round trip inside it.
#[test]
fn the_package_installs_into_a_fresh_debian_root_and_runs_there() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    let t0 = std::time::Instant::now();
    let out = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            "--include=systemd-sysv,dbus",
            "bookworm",
        ])
        .arg(&root)
        .arg(mirror())
        .output()
        .expect("debootstrap (scripts/test installs it)");
    assert!(
        out.status.success(),
        "debootstrap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("debootstrap: {:.1}s", t0.elapsed().as_secs_f64());
    let deb = build_deb(base.path());
    std::fs::copy(&deb, root.join("tmp/tapeserver.deb")).unwrap();
    std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf")).unwrap();
    // Installed the way images are built: a bare chroot, no /proc (where
    // systemd-tmpfiles refuses to run, so the postinst makes the
    // directories itself).
    run(Command::new("chroot")
        .arg(&root)
        .args([
            "sh",
            "-c",
            "apt-get update -qq && apt-get install -y -qq /tmp/tapeserver.deb",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"));

    // What the postinst made: the user, in group tape, and its directory.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let uid: u32 = passwd
        .lines()
        .find_map(|l| l.strip_prefix("tapeserver:x:"))
        .and_then(|l| l.split(':').next())
        .and_then(|u| u.parse().ok())
        .expect("the tapeserver user");
    let state = std::fs::metadata(root.join("var/lib/tapeserver")).unwrap();
    assert_eq!(
        (state.uid(), state.permissions().mode() & 0o777),
        (uid, 0o750)
    );
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    assert!(
        group
            .lines()
            .any(|l| l.starts_with("tape:") && l.contains("tapeserver")),
        "tapeserver is in group tape: {group}"
    );
    assert!(root.join("usr/share/man/man8/tapeserverd.8.gz").exists());
    // The installed units, checked by the installed systemd.
    let verify = in_root(
        &root,
        "systemd-analyze verify --man=no /lib/systemd/system/tapeserverd.service /lib/systemd/system/tlcd.service 2>&1",
    )
    .output()
    .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify in the root: {said}"
    );

    // init, the daemon, a round trip: all inside the root.
    run(&mut in_root(
        &root,
        "tapeserverd init /srv/ts --drives 1 --tapes 1",
    ));
    // Killed before the root is removed.
    let _daemon = Killed(
        in_root(
            &root,
            "exec tapeserverd run --config /srv/ts/tapeserver.toml",
        )
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap(),
    );
    common::wait_until("the daemon in the root", || {
        in_root(&root, "tpstat --config /srv/ts/tapeserver.toml")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let data = common::pattern(700_000, 11);
    std::fs::write(root.join("srv/ts/f"), &data).unwrap();
    run(&mut in_root(
        &root,
        "stager --config /srv/ts/tapeserver.toml archive /srv/ts/f --wait",
    ));
    run(&mut in_root(
        &root,
        "stager --config /srv/ts/tapeserver.toml recall 1 /srv/ts/back --wait",
    ));
    assert!(std::fs::read(root.join("srv/ts/back")).unwrap() == data);
    drop(_daemon);

    // What the postinst prepared: the packaged config's library.
    assert!(
        root.join("var/lib/tapeserver/library/library.json")
            .exists()
    );
    let srv = std::fs::metadata(root.join("srv/tapeserver")).unwrap();
    assert_eq!(srv.permissions().mode() & 0o7777, 0o2770);
    eprintln!(
        "installed and run in the root: {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    // Then booted under its own systemd.
    package_boot::check_the_service(&root);
}
