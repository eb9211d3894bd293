//! The Debian package (`scripts/package`, dpkg-deb) built from this
//! build's binaries: its control fields, every file an operator expects
//! where Debian puts it, units that pass `systemd-analyze verify` with the
//! packaged binaries, the packaged config accepted, and a round trip run
//! by the packaged binaries from the unpacked tree.

mod common;

use std::path::PathBuf;
use std::process::Command;

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

#[test]
fn the_debian_package_installs_what_operators_expect_and_runs() {
    let bin_dir = common::bin("tapeserverd").parent().unwrap().to_path_buf();
    let out = tempfile::tempdir().unwrap();
    // Man pages and completions from this build's own definitions.
    let docs = out.path().join("docs");
    tapeserver::cli::docs::write_all(&docs).unwrap();
    let deb = PathBuf::from(
        run(
            Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/package"))
                .arg(out.path())
                .env("BIN_DIR", &bin_dir)
                .env("DOCS_DIR", &docs)
                .env("DEB_COMPRESS", "none"),
        )
        .trim(),
    );
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
    let mut daemon = Command::new(packaged("tapeserverd"))
        .args(["run", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
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
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(std::fs::read(back).unwrap() == std::fs::read(&source).unwrap());
}
