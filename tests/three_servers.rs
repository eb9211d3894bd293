//! A site: three tape servers, each with its own drives, on one PostgreSQL
//! scheduler and one library served by one `tlcd`, fed by two stagers on a
//! client config that lists all three. One server is SIGKILLed (with its
//! forker and sessions) while its drive writes; the survivors notice its
//! expired leases, have its cartridge put home and finish its work. Every
//! file ends on tape exactly once, no tape was ever mounted in two drives
//! at once (from the catalogue's mount history), and every file recalls
//! byte-exact through the survivors.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::pg::TestPg;
use common::{Install, Tlcd, eventually, pattern, wait_until};
use tapeserver::config::{FaultsConfig, Interval};

const FILES: usize = 1000;

/// Every descendant of `pid`, found through /proc.
fn descendants(pid: i32) -> Vec<i32> {
    let mut parents: HashMap<i32, Vec<i32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The parent pid is the second field after the command in parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            parents.entry(ppid).or_default().push(child);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &c in parents.get(&p).map(Vec::as_slice).unwrap_or_default() {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

fn sigkill(pid: i32) {
    // SAFETY: kill(2) on a pid of a process this test started (or its child).
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// One server of the site: joins the library at `library` (or makes it).
fn server(db: &TestPg, name: &str, library: Option<&Path>) -> Install {
    let mut args = vec!["--scheduler", db.url.as_str(), "--drive-prefix", name];
    let library = library.map(|l| l.display().to_string());
    if let Some(l) = &library {
        args.extend(["--library", l.as_str()]);
    }
    Install::with_args(2, 6, &args)
}

fn stager(client: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(common::bin("stager"))
        .arg("--config")
        .arg(client)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stager {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn count(db: &mut postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn three_servers_one_killed_lose_nothing_and_duplicate_nothing() {
    let db = TestPg::new();
    let a = server(&db, "a", None);
    let library = a.path().join("library");
    let b = server(&db, "b", Some(&library));
    let c = server(&db, "c", Some(&library));
    let shared = tempfile::tempdir().unwrap();
    let tlcd_endpoint = format!("ipc://{}/tlc0.sock", a.path().display());
    // Server a's drives hang inside their 8th file (a flush of 5 reported,
    // more written) until a is killed: the kill cannot miss a drive that
    // writes, however fast the others are. Nothing ever releases them.
    let never = shared.path().join("never-released");
    for (install, host) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        install.configure(|cfg| {
            if host == "a" {
                for d in &mut cfg.drives {
                    d.faults = Some(FaultsConfig {
                        stall_at_block: Some(8),
                        stall_until: Some(never.clone()),
                        ..Default::default()
                    });
                }
            }
            // Work another server queued is seen at once.
            cfg.scheduler.poll_interval = Interval(Duration::from_millis(100));
            cfg.daemon.host = Some(host.into());
            cfg.library.controllers = vec![tlcd_endpoint.clone()];
            cfg.scheduler.drive_lease = Interval(Duration::from_secs(2));
            cfg.paths.archive_roots.push(shared.path().to_path_buf());
            cfg.paths.recall_roots.push(shared.path().to_path_buf());
            // Small flushes and bulks, and a slow database: files reach the
            // catalogue while others move, and work spreads over the drives
            // of all three servers, so the kill lands while data moves.
            cfg.session.flush_files = 5;
            cfg.session.bulk_files = 10;
            cfg.test_faults.call_delay = Some(Interval(Duration::from_millis(20)));
            // Several servers make empty mounts (another took the work):
            // a pool must not wait long after one.
            cfg.scheduler.empty_mount_backoff = Interval(Duration::from_secs(1));
        });
    }
    let _tlcd = Tlcd::start(&a, "tlc0");
    let daemons = [a.start(), b.start(), c.start()];
    let endpoints: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|i| format!("ipc://{}/run/stager.sock", i.path().display()))
        .collect();
    // Client configs: each stager tries its own order of servers. Server a
    // is the one killed: the stagers reach it only if their first choice
    // is down (a request a server took and died on is not sent again, as
    // it may have been queued); recalls afterwards list it first and are
    // sent on to a live server.
    let client_config = |name: &str, order: [usize; 3]| {
        let path = shared.path().join(name);
        let list: Vec<&String> = order.iter().map(|i| &endpoints[*i]).collect();
        std::fs::write(
            &path,
            format!("[client]\nendpoints = {list:?}\ntimeout = \"20s\"\n"),
        )
        .unwrap();
        path
    };
    let clients = [
        client_config("stager1.toml", [1, 0, 2]),
        client_config("stager2.toml", [2, 0, 1]),
    ];
    let client = client_config("client.toml", [0, 1, 2]);

    // Two stagers archive 500 files each, in batches, while the test watches.
    let sources: Vec<PathBuf> = (0..FILES)
        .map(|i| {
            let path = shared.path().join(format!("src{i}"));
            std::fs::write(&path, pattern(1000 + (i * 997) % 60_000, i as u64)).unwrap();
            path
        })
        .collect();
    let stagers: Vec<_> = sources
        .chunks(FILES / 2)
        .zip(clients)
        .map(|(half, client)| {
            let half: Vec<String> = half.iter().map(|p| p.display().to_string()).collect();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for batch in half.chunks(25) {
                    let mut args = vec!["archive"];
                    args.extend(batch.iter().map(String::as_str));
                    let out = stager(&client, &args);
                    ids.extend(common::archived_ids(&out));
                }
                ids
            })
        })
        .collect();

    // Kill server a once its drive hangs mid-file, its migration mount
    // open, and a third of the files are on tape.
    let mut pg = db.client();
    eventually("a drive of server a hanging mid-file", || {
        let hung = a.daemon_log().contains("injected fault: drive stalls");
        let open = count(
            &mut pg,
            "SELECT COUNT(*) FROM mounts WHERE ended IS NULL AND kind = 'migration' AND host = 'a'",
        );
        if hung && open > 0 {
            Ok(())
        } else {
            Err(format!(
                "stalled: {hung}, open migration mounts of a: {open}"
            ))
        }
    });
    eventually("a third of the files on tape", || {
        let on_tape = count(&mut pg, "SELECT COUNT(*) FROM tape_files");
        if on_tape >= (FILES / 3) as i64 {
            Ok(())
        } else {
            Err(format!("{on_tape} on tape"))
        }
    });
    let victim = "a".to_string();
    let index = ["a", "b", "c"].iter().position(|h| *h == victim).unwrap();
    let pid = daemons[index].pid();
    let tree = descendants(pid);
    sigkill(pid);
    for p in &tree {
        sigkill(*p);
    }
    let killed_at: f64 = pg
        .query_one("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8", &[])
        .unwrap()
        .get(0);
    eprintln!(
        "killed server {victim} (pid {pid} and {} children)",
        tree.len()
    );

    let mut queued: Vec<(u64, String)> = Vec::new();
    for s in stagers {
        queued.extend(s.join().unwrap());
    }
    assert_eq!(queued.len(), FILES);
    wait_until("every file on tape", || {
        count(
            &mut pg,
            "SELECT COUNT(*) FROM archive_files WHERE state = 'on_tape'",
        ) == FILES as i64
    });

    // On tape exactly once: one catalogue entry per file, none shared.
    assert_eq!(
        count(&mut pg, "SELECT COUNT(*) FROM tape_files"),
        FILES as i64
    );
    assert_eq!(
        count(
            &mut pg,
            "SELECT COUNT(DISTINCT (vid, fseq)) FROM tape_files"
        ),
        FILES as i64
    );
    assert_eq!(
        count(&mut pg, "SELECT COUNT(*) FROM archive_files"),
        FILES as i64
    );
    // The dead server's mounts are closed by a survivor once its lease ran
    // out and its cartridge is home (which may come after its files were
    // requeued and written elsewhere).
    eventually("the dead server's mounts closed", || {
        let open = pg
            .query(
                &format!(
                    "SELECT id, vid, drive FROM mounts WHERE host = '{victim}' AND ended IS NULL"
                ),
                &[],
            )
            .unwrap();
        if open.is_empty() {
            Ok(())
        } else {
            let open: Vec<(i64, String, String)> = open
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
            Err(format!("still open (id, vid, drive): {open:?}"))
        }
    });
    let closed_after: i64 = count(
        &mut pg,
        &format!("SELECT COUNT(*) FROM mounts WHERE host = '{victim}' AND ended >= {killed_at}"),
    );
    assert!(
        closed_after >= 1,
        "a survivor closed the mount it held when killed"
    );
    // No tape in two drives at once: per tape, each mount starts after the
    // one before it ended.
    let history = pg
        .query(
            "SELECT vid, host, drive, started, ended FROM mounts ORDER BY vid, started",
            &[],
        )
        .unwrap();
    let mut last_end: HashMap<String, (f64, String)> = HashMap::new();
    for row in &history {
        let (vid, host, drive): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let (started, ended): (f64, Option<f64>) = (row.get(3), row.get(4));
        if let Some((end, by)) = last_end.get(&vid) {
            assert!(
                started >= *end,
                "{vid} mounted in {host}/{drive} at {started} while {by} held it until {end}"
            );
        }
        last_end.insert(vid, (ended.unwrap_or(f64::MAX), format!("{host}/{drive}")));
    }
    let hosts: HashSet<String> = history.iter().map(|r| r.get(1)).collect();
    eprintln!("{} mounts on hosts {hosts:?}", history.len());

    // Every file recalls byte-exact through the survivors.
    let back = shared.path().join("back");
    std::fs::create_dir_all(&back).unwrap();
    for (id, _) in &queued {
        let dest = back.join(id.to_string());
        stager(
            &client,
            &["recall", &id.to_string(), dest.to_str().unwrap()],
        );
    }
    wait_until("every recall done", || {
        let json: serde_json::Value =
            serde_json::from_str(&stager(&client, &["recalls", "--json"])).unwrap();
        let recalls = json["recalls"].as_array().unwrap();
        assert!(
            recalls.iter().all(|r| r["state"] != "failed"),
            "a recall failed: {json}"
        );
        recalls.len() == FILES && recalls.iter().all(|r| r["state"] == "done")
    });
    for (id, path) in &queued {
        let recalled = std::fs::read(back.join(id.to_string())).unwrap();
        assert!(
            recalled == std::fs::read(path).unwrap(),
            "file {id} differs"
        );
    }
}
