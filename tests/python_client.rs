//! The protocol as a peer reads it: `examples/python/stager_client.py`
//! generates its classes from `proto/` with Google's protoc and speaks to
//! the real daemon with pyzmq: it archives files, waits for them on tape,
//! recalls them and compares the bytes. (scripts/test installs pyzmq,
//! protobuf and grpcio-tools.)

mod common;

use std::process::Command;

use common::{BLOCK_SIZE, Install};

#[test]
fn a_python_stager_generated_from_the_protos_archives_and_recalls() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    let files = [
        install.make_file("empty", 0, 1),
        install.make_file("block-plus-one", BLOCK_SIZE as usize + 1, 2),
        install.make_file("megabyte", 1 << 20, 3),
    ];
    let back = install.path().join("back");
    std::fs::create_dir(&back).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/stager_client.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(format!(
            "ipc://{}/run/stager.sock",
            install.path().display()
        ))
        .args(&files)
        .arg("--recall-dir")
        .arg(&back)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("recalled 3 files byte-exact"), "{stdout}");
    // The daemon agrees: three files on tape.
    let ids: Vec<u64> = (1..=3).collect();
    for id in ids {
        assert_eq!(install.state_of(id).state, "on_tape");
    }
}
