//! The stager request handler itself, not only the decoder: any bytes, from
//! a local stager, a known CURVE client or an unknown one, are answered by
//! the frontend over a real SQLite catalogue and real roots (with a symbolic
//! link out of them, a FIFO and a directory). Every answer has a kind and
//! echoes the request id, no answer passes the reply bound, and nothing
//! queued lies outside the roots.
#![no_main]

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tapeserver::daemon::frontend::{AllRoots, Frontend, Roots};
use tapeserver::daemon::messages::LoopWaker;
use tapeserver::proto::stager::{StagerRequest, stager_reply};

/// 1000 rows of at most a 4 MiB page, and the envelope.
const MAX_REPLY: usize = 5 << 20;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    frontend: Frontend,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical").join("root");
    std::fs::create_dir_all(root.join("d")).expect("root");
    std::fs::write(root.join("a"), b"0123456789").expect("file");
    std::fs::write(root.join("d/b"), vec![7u8; 1000]).expect("file");
    let _ = std::os::unix::fs::symlink("/etc", root.join("out"));
    let _ = nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU);
    let db = tapeserver::scheduler::open(&format!(
        "sqlite://{}",
        dir.path().join("catalogue.db").display()
    ))
    .expect("catalogue");
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::ROUTER).expect("socket");
    let (tx, _) = crossbeam_channel::unbounded();
    let (wake, _) = std::os::unix::net::UnixStream::pair().expect("pair");
    let _ = wake.set_nonblocking(true);
    let mine = Roots {
        archive: vec![root.join("d")],
        recall: vec![root.join("d")],
        owner: "team".into(),
    };
    let frontend = Frontend {
        socket,
        db,
        roots: AllRoots {
            archive: vec![root.clone()],
            recall: vec![root.clone()],
            clients: HashMap::from([("c1".to_string(), mine)]),
        },
        new_roots: crossbeam_channel::never(),
        wake_loop: LoopWaker::new(tx, wake),
        stop: Default::default(),
        bad_input: tapeserver::util::Throttle::new(),
    };
    Fixture {
        _dir: dir,
        root,
        frontend,
    }
}

thread_local! {
    static FIXTURE: RefCell<Fixture> = RefCell::new(fixture());
}

fuzz_target!(|data: &[u8]| {
    let Some((who, body)) = data.split_first() else {
        return;
    };
    let client = match who % 3 {
        0 => None,
        1 => Some("c1"),
        _ => Some("stranger"),
    };
    FIXTURE.with(|f| {
        let mut f = f.borrow_mut();
        let reply = f.frontend.answer(body, client);
        let kind = reply.kind.as_ref().expect("every request is answered");
        assert!(reply.encoded_len() <= MAX_REPLY, "{} bytes", reply.encoded_len());
        if let Ok(request) = StagerRequest::decode(body) {
            assert_eq!(reply.request_id, request.request_id);
        }
        if let stager_reply::Kind::Archive(a) = kind {
            for file in &a.files {
                assert!(
                    file.path.starts_with(f.root.to_str().unwrap_or("/")),
                    "queued outside the roots: {}",
                    file.path
                );
            }
        }
        if client == Some("stranger") {
            assert!(
                matches!(kind, stager_reply::Kind::Error(_)),
                "an unknown client is refused"
            );
        }
    });
});
