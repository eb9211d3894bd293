//! The controller in-process, on an emulated library, through its real
//! ZMQ socket and client.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::library::MediaChanger;
use crate::library::client::ControllerClient;
use crate::library::emulated::faults::Faults;
use crate::library::emulated::{EmulatedLibrary, Layout};
use crate::proto::tlc::{MoveMedium, PathControl, TlcRequest, tlc_reply, tlc_request};
use prost::Message;

struct Rig {
    tmp: tempfile::TempDir,
    library: EmulatedLibrary,
}

impl Rig {
    fn new(paths: usize) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("library");
        let drives: Vec<(String, PathBuf)> = (0..4)
            .map(|i| (format!("d{i}"), root.join(format!("drives/d{i}"))))
            .collect();
        let barcodes: Vec<String> = (1..=6).map(|i| format!("A0000{i}L6")).collect();
        let library = EmulatedLibrary::create(
            &root,
            &Layout {
                paths,
                move_time_ms: 0,
                move_time_far_ms: 0,
                drives: &drives,
                barcodes: &barcodes,
                capacity: 1 << 30,
            },
        )
        .unwrap();
        Self { tmp, library }
    }

    fn endpoint(&self, name: &str) -> String {
        format!("ipc://{}", self.tmp.path().join(name).display())
    }

    fn config(&self, name: &str) -> ControllerConfig {
        let paths = self.library.with_state(|s| Ok(s.paths.clone())).unwrap();
        ControllerConfig {
            paths: paths
                .iter()
                .map(|p| {
                    EmulatedLibrary::path_file(self.library.root(), p)
                        .display()
                        .to_string()
                })
                .collect(),
            kind: crate::library::scsi_changer::PathKind::Emulated,
            listen: vec![self.endpoint(name)],
            endpoint: self.endpoint(name),
            interface: None,
            lease: self.tmp.path().join("lease"),
            move_timeout: Duration::from_secs(60),
            probe_interval: Duration::from_millis(50),
            drives: Vec::new(),
            keys: None,
            clients: Vec::new(),
        }
    }

    fn start(&self, name: &str) -> ControllerHandle {
        start(self.config(name)).unwrap()
    }

    fn client(&self, names: &[&str]) -> ControllerClient {
        ControllerClient::new(
            names.iter().map(|n| self.endpoint(n)).collect(),
            Duration::from_secs(5),
            Duration::from_secs(60),
            Vec::new(),
        )
    }

    fn fault(&self, path: &str, name: &str) -> PathBuf {
        Faults::file(self.library.root(), path, name)
    }

    fn in_picker(&self) -> bool {
        self.library
            .with_state(|s| Ok(!s.moves.is_empty()))
            .unwrap()
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn drive_vid(client: &ControllerClient, drive: &str) -> Option<String> {
    let status = client.status().unwrap();
    status
        .drives
        .into_iter()
        .find(|(d, _)| d == drive)
        .and_then(|(_, v)| v)
}

#[test]
fn mounts_and_dismounts_are_idempotent_through_the_controller() {
    let rig = Rig::new(2);
    let _c = rig.start("c0");
    let client = rig.client(&["c0"]);
    client.mount("A00001", "d0").unwrap();
    client.mount("A00001", "d0").unwrap();
    assert_eq!(drive_vid(&client, "d0").as_deref(), Some("A00001"));
    client.dismount("A00001", "d0").unwrap();
    client.dismount("A00001", "d0").unwrap();
    assert_eq!(drive_vid(&client, "d0"), None);
    let (answer, status) = client.status_report().unwrap();
    assert_eq!(answer.role, crate::proto::tlc::Role::Active);
    assert_eq!(status.paths.len(), 2);
    assert_eq!(status.slots[0].vid, "A00001");
}

#[test]
fn bad_requests_get_one_clear_sentence() {
    let rig = Rig::new(1);
    let _c = rig.start("c0");
    let client = rig.client(&["c0"]);
    let unknown = client.mount("ZZ0001", "d0").unwrap_err().to_string();
    assert_eq!(unknown, "library has no cartridge ZZ0001");
    client.mount("A00001", "d0").unwrap();
    let full = client.mount("A00002", "d0").unwrap_err().to_string();
    assert_eq!(full, "cannot mount A00002 into d0: the drive holds A00001");
    let no_drive = client.mount("A00002", "x9").unwrap_err().to_string();
    assert!(
        no_drive.starts_with("library has no drive named x9"),
        "{no_drive}"
    );
    // Garbage on the socket.
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::REQ).unwrap();
    socket.set_rcvtimeo(10_000).unwrap();
    socket.connect(&rig.endpoint("c0")).unwrap();
    socket.send(&b"\xff\xff\xff not protobuf"[..], 0).unwrap();
    let reply =
        crate::proto::tlc::TlcReply::decode(socket.recv_bytes(0).unwrap().as_slice()).unwrap();
    let Some(tlc_reply::Result::Error(e)) = reply.result else {
        panic!("expected a refusal");
    };
    assert!(e.message.starts_with("malformed request:"), "{}", e.message);
    assert!(!e.message.contains('\n'));
}

#[test]
fn a_move_from_an_empty_slot_reports_the_element_and_the_sense() {
    let rig = Rig::new(1);
    let _c = rig.start("c0");
    let client = rig.client(&["c0"]);
    let moved = client.call(tlc_request::Kind::Move(MoveMedium {
        source: 1007,
        destination: 500,
    }));
    let e = moved.unwrap_err().to_string();
    assert!(
        e.contains("slot 1007") && e.contains("3B/0E") && e.contains("Medium source element empty"),
        "{e}"
    );
    client
        .call(tlc_request::Kind::Move(MoveMedium {
            source: 1000,
            destination: 10,
        }))
        .unwrap();
    let status = client.status_report().unwrap().1;
    assert_eq!(status.import_export[0].vid, "A00001", "exported");
}

#[test]
fn a_path_going_offline_mid_move_hands_the_mount_to_another_path() {
    let rig = Rig::new(2);
    let _c = rig.start("c0");
    let client = rig.client(&["c0"]);
    client.status().unwrap();
    std::fs::write(rig.fault("changer0", "hold"), "").unwrap();
    let mount = {
        let client = rig.client(&["c0"]);
        std::thread::spawn(move || client.mount("A00003", "d2"))
    };
    wait_until("the move to start on changer0", || rig.in_picker());
    std::fs::write(rig.fault("changer0", "offline"), "").unwrap();
    std::fs::remove_file(rig.fault("changer0", "hold")).unwrap();
    mount.join().unwrap().unwrap();
    assert_eq!(drive_vid(&client, "d2").as_deref(), Some("A00003"));
    let (_, status) = client.status_report().unwrap();
    assert_eq!(status.paths[0].state, "offline");
    assert!(
        status.paths[0].error.contains("04/12"),
        "{}",
        status.paths[0].error
    );
    // Back online: the probe re-admits it.
    std::fs::remove_file(rig.fault("changer0", "offline")).unwrap();
    wait_until("changer0 back in service", || {
        client.status_report().unwrap().1.paths[0].state == "ok"
    });
}

#[test]
fn a_move_that_timed_out_after_completing_is_found_done() {
    let rig = Rig::new(2);
    let _c = rig.start("c0");
    let client = rig.client(&["c0"]);
    std::fs::write(rig.fault("changer0", "timeout-after-move"), "").unwrap();
    client.mount("A00002", "d1").unwrap();
    assert_eq!(drive_vid(&client, "d1").as_deref(), Some("A00002"));
    let moves = rig
        .library
        .with_state(|s| Ok(s.cartridges().len()))
        .unwrap();
    assert_eq!(moves, 6, "no cartridge lost or duplicated");
}

#[test]
fn unit_attention_and_refresh_reread_what_an_operator_changed() {
    let rig = Rig::new(1);
    let _c = rig.start("c0");
    let client = rig.client(&["c0"]);
    client.status().unwrap();
    // An operator moves a cartridge by hand, behind the controller's back.
    rig.library
        .with_state(|s| {
            let c = s.content(1000).and_then(Option::take);
            *s.content(503).unwrap() = c;
            Ok(())
        })
        .unwrap();
    client
        .call(tlc_request::Kind::Refresh(Default::default()))
        .unwrap();
    assert_eq!(drive_vid(&client, "d3").as_deref(), Some("A00001"));
    rig.library
        .with_state(|s| {
            let c = s.content(503).and_then(Option::take);
            *s.content(1000).unwrap() = c;
            Ok(())
        })
        .unwrap();
    std::fs::write(rig.fault("changer0", "unit-attention"), "").unwrap();
    // The stale view says A00001 is in d3; the UA makes it read again.
    client.mount("A00001", "d0").unwrap();
    assert_eq!(drive_vid(&client, "d0").as_deref(), Some("A00001"));
    assert!(
        !rig.fault("changer0", "unit-attention").exists(),
        "the unit attention was seen"
    );
}

#[test]
fn disabled_paths_are_not_used_and_none_left_is_one_sentence() {
    let rig = Rig::new(2);
    let _c = rig.start("c0");
    let client = rig.client(&["c0"]);
    let path = |i: usize| {
        EmulatedLibrary::path_file(rig.library.root(), &format!("changer{i}"))
            .display()
            .to_string()
    };
    for i in 0..2 {
        client
            .call(tlc_request::Kind::Path(PathControl {
                device: path(i),
                enable: false,
            }))
            .unwrap();
    }
    let e = client.mount("A00001", "d0").unwrap_err().to_string();
    assert!(
        e.starts_with("no changer path can serve:") && e.contains("disabled by an operator"),
        "{e}"
    );
    client
        .call(tlc_request::Kind::Path(PathControl {
            device: path(1),
            enable: true,
        }))
        .unwrap();
    client.mount("A00001", "d0").unwrap();
    let unknown = client
        .call(tlc_request::Kind::Path(PathControl {
            device: "/dev/sg99".into(),
            enable: true,
        }))
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("/dev/sg99"), "{unknown}");
}

#[test]
fn a_standby_answers_at_once_and_takes_over_when_the_active_stops() {
    let rig = Rig::new(2);
    let active = rig.start("c0");
    wait_until("c0 active", || active.is_active());
    let standby = rig.start("c1");
    let client = rig.client(&["c1", "c0"]);
    client.mount("A00001", "d0").unwrap();
    let ping = TlcRequest {
        id: "p1".into(),
        kind: Some(tlc_request::Kind::Ping(Default::default())),
    };
    let reply = client
        .ask(&rig.endpoint("c1"), &ping, Duration::from_secs(5))
        .unwrap();
    assert_eq!(reply.role, crate::proto::tlc::Role::Standby as i32);
    assert!(!standby.is_active());
    active.stop();
    wait_until("c1 active", || standby.is_active());
    assert_eq!(drive_vid(&client, "d0").as_deref(), Some("A00001"));
    client.dismount("A00001", "d0").unwrap();
}

/// A non-loopback IPv4 address of this host, if it has one.
fn other_address() -> Option<std::net::Ipv4Addr> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|i| {
        let a = i.address?.as_sockaddr_in()?.ip();
        (!a.is_loopback()).then_some(a)
    })
}

#[test]
fn the_listen_socket_is_on_one_network_interface_only() {
    let rig = Rig::new(1);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let mut config = rig.config("unused");
    config.listen = vec![format!("tcp://*:{port}")];
    config.interface = Some("nosuch0".into());
    let e = start(config.clone())
        .err()
        .expect("no such interface")
        .to_string();
    assert!(
        e.contains("nosuch0") && e.contains("no such network interface"),
        "{e}"
    );
    config.interface = Some("lo".into());
    config.listen = vec![format!("tcp://10.1.2.3:{port}")];
    let e = start(config.clone())
        .err()
        .expect("an address and an interface")
        .to_string();
    assert!(e.contains("tcp://*:PORT"), "{e}");
    config.listen = vec![format!("tcp://*:{port}")];
    config.interface = Some("lo".into());
    let _c = start(config).unwrap();
    let client = ControllerClient::new(
        vec![format!("tcp://127.0.0.1:{port}")],
        Duration::from_secs(5),
        Duration::from_secs(30),
        Vec::new(),
    );
    client.mount("A00001", "d0").unwrap();
    // Not on the host's other networks.
    if let Some(other) = other_address() {
        let reached = std::net::TcpStream::connect((other, port));
        assert!(reached.is_err(), "the controller answers on {other}");
    }
}
