//! A tgtd (Debian's `tgt`) serving a small library over loopback iSCSI:
//! an SMC changer LUN and one SSC tape drive LUN, with cartridge images
//! made by `tgtimg`. No kernel module is involved; tgtd only listens on
//! 127.0.0.1.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const IQN: &str = "iqn.2026-11.org.tapeserver.test:lib";
pub const FIRST_SLOT: u16 = 1000;
pub const SLOTS: u16 = 6;
pub const DRIVE: u16 = 500;
pub const PORT_ELEMENT: u16 = 10;

pub struct Tgt {
    pub dir: tempfile::TempDir,
    /// tgtadm's control channel (`-C`).
    channel: u16,
    pub port: u16,
    child: Option<Child>,
}

/// Whether tgtd is installed (scripts/test installs it).
pub fn available() -> bool {
    Command::new("tgtd")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn free_port() -> u16 {
    // The listener is closed at once; tgtd binds the port right after.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Tgt {
    /// Starts tgtd with `barcodes` in the first slots and an empty drive.
    pub fn start(barcodes: &[&str]) -> Self {
        Self::start_sized(barcodes, 64)
    }

    /// As `start`, with cartridges of `size_mb` megabytes.
    pub fn start_sized(barcodes: &[&str], size_mb: u32) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        // A channel per instance (tgtd takes a short), so tests running at
        // once do not meet.
        let channel = port % 32_000 + 100;
        let log = std::fs::File::create(dir.path().join("tgtd.log")).expect("log");
        let child = Command::new("tgtd")
            .args(["-f", "-C", &channel.to_string(), "--iscsi"])
            .arg(format!("portal=127.0.0.1:{port}"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tgtd (install the tgt package)");
        let mut tgt = Tgt {
            dir,
            channel,
            port,
            child: Some(child),
        };
        tgt.wait_for_control();
        tgt.configure(barcodes, size_mb);
        tgt
    }

    fn adm(&self, args: &[&str]) {
        let out = Command::new("tgtadm")
            .args(["-C", &self.channel.to_string()])
            .args(args)
            .output()
            .expect("tgtadm");
        assert!(
            out.status.success(),
            "tgtadm {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn wait_for_control(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("tgtd exited ({status}): {}", self.log());
            }
            let ok = Command::new("tgtadm")
                .args([
                    "-C",
                    &self.channel.to_string(),
                    "--op",
                    "show",
                    "--mode",
                    "system",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tgtd did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tgtd.log")).unwrap_or_default()
    }

    fn image(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tgtimg(&self, barcode: &str, kind: &str, size_mb: u32) {
        let out = Command::new("tgtimg")
            .args(["--op", "new", "--device-type", "tape", "--barcode", barcode])
            .args(["--size", &size_mb.to_string(), "--type", kind, "--file"])
            .arg(self.image(barcode))
            .output()
            .expect("tgtimg");
        assert!(
            out.status.success(),
            "tgtimg: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn configure(&self, barcodes: &[&str], size_mb: u32) {
        for b in barcodes {
            self.tgtimg(b, "data", size_mb);
        }
        // An empty drive still needs a backing file; so does the changer.
        self.tgtimg("EMPTY", "clean", 1);
        std::fs::write(self.image("changer"), b"").expect("changer file");
        let dir = self.dir.path().display().to_string();
        let empty = self.image("EMPTY").display().to_string();
        let changer = self.image("changer").display().to_string();
        self.adm(&["--op", "new", "--mode", "target", "--tid", "1", "-T", IQN]);
        self.adm(&[
            "--op",
            "new",
            "--mode",
            "logicalunit",
            "--tid",
            "1",
            "--lun",
            "1",
            "-b",
            &empty,
            "--device-type=tape",
        ]);
        self.adm(&[
            "--op",
            "update",
            "--mode",
            "logicalunit",
            "--tid",
            "1",
            "--lun",
            "1",
            "--params",
            "online=0",
        ]);
        // An LTO-8 drive's INQUIRY identification, as IBM's full-height
        // drive answers (the daemon takes the drive's generation from it).
        self.adm(&[
            "--op",
            "update",
            "--mode",
            "logicalunit",
            "--tid",
            "1",
            "--lun",
            "1",
            "--params",
            "vendor_id=IBM,product_id=ULT3580-TD8",
        ]);
        self.adm(&[
            "--op",
            "new",
            "--mode",
            "logicalunit",
            "--tid",
            "1",
            "--lun",
            "2",
            "-b",
            &changer,
            "--device-type=changer",
        ]);
        let lun2 = |params: &str| {
            self.adm(&[
                "--op",
                "update",
                "--mode",
                "logicalunit",
                "--tid",
                "1",
                "--lun",
                "2",
                "--params",
                params,
            ]);
        };
        lun2(&format!("media_home={dir}"));
        lun2("element_type=1,start_address=1,quantity=1");
        lun2(&format!(
            "element_type=2,start_address={FIRST_SLOT},quantity={SLOTS}"
        ));
        lun2(&format!(
            "element_type=3,start_address={PORT_ELEMENT},quantity=1"
        ));
        lun2(&format!("element_type=4,start_address={DRIVE},quantity=1"));
        lun2(&format!("element_type=4,address={DRIVE},tid=1,lun=1"));
        for (i, b) in barcodes.iter().enumerate() {
            lun2(&format!(
                "element_type=2,address={},barcode={b},sides=1",
                FIRST_SLOT + i as u16
            ));
        }
        self.adm(&[
            "--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL",
        ]);
    }

    pub fn changer_url(&self) -> String {
        format!("iscsi://127.0.0.1:{}/{IQN}/2", self.port)
    }

    pub fn drive_url(&self) -> String {
        format!("iscsi://127.0.0.1:{}/{IQN}/1", self.port)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tgt {
    fn drop(&mut self) {
        // tgtd ignores SIGTERM; this is how it is told to stop (it refuses
        // while a target exists).
        for args in [
            &[
                "--op", "delete", "--mode", "target", "--tid", "1", "--force",
            ][..],
            &["--op", "delete", "--mode", "system"][..],
        ] {
            let _ = Command::new("tgtadm")
                .args(["-C", &self.channel.to_string()])
                .args(args)
                .output();
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
