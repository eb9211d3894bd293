//! The scheduler at a site's scale: queues FILES archive requests in
//! POOLS pools, then times mount choice and fetching a batch of 500 jobs
//! with the whole queue still there. Prints one line of figures.
//!
//!   cargo run --release --example scheduler_scale -- URL [FILES] [POOLS]

use std::time::{Duration, Instant};

use tapeserver::scheduler::{self, MountPolicy, NewArchiveFile};

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .ok_or("usage: scheduler_scale URL [FILES] [POOLS]")?;
    let files: u64 = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    let pools: u64 = args.get(3).map_or(Ok(100), |s| s.parse())?;
    let mut db = scheduler::open(url)?;
    for p in 0..pools {
        let pool = format!("pool{p:03}");
        db.add_pool(&pool)?;
        for t in 0..2 {
            db.add_tape(&format!("P{p:03}T{t}"), &pool, 1 << 50)?;
        }
    }
    // Enqueue as stagers do: requests of 1,000 files, pools in turn.
    let per_request = 1000u64;
    let requests = files / per_request;
    let t0 = Instant::now();
    for r in 0..requests {
        let pool = format!("pool{:03}", r % pools);
        let batch: Vec<NewArchiveFile> = (0..per_request)
            .map(|i| NewArchiveFile {
                path: format!("/data/{pool}/{r}/{i}"),
                size: 1_000_000 + i,
                owner: tapeserver::scheduler::LOCAL_OWNER.into(),
                permissions: None,
            })
            .collect();
        db.queue_archive(&batch, &pool)?;
    }
    let enqueue = t0.elapsed();
    // What autovacuum does on a live site after a bulk load: statistics.
    if scheduler::is_postgres(url) {
        postgres::Client::connect(url, postgres::NoTls)?.batch_execute("ANALYZE")?;
    }
    let policy = MountPolicy::uniform(1, u64::MAX, Duration::from_secs(3600), Duration::ZERO);
    let (mut mounts, mut fetches) = (Vec::new(), Vec::new());
    for d in 0..21 {
        let t = Instant::now();
        let mount = db
            .next_mount("bench", &format!("d{d}"), &policy)?
            .ok_or("no mount chosen")?;
        mounts.push(t.elapsed());
        let t = Instant::now();
        let jobs = db.fetch_archive_jobs(mount.id, 500, u64::MAX)?;
        fetches.push(t.elapsed());
        if jobs.len() != 500 {
            return Err(format!("fetched {} jobs, not 500", jobs.len()).into());
        }
    }
    println!(
        "files={files} pools={pools} enqueue_s={:.2} enqueue_per_s={:.0} mount_ms={:.2} fetch500_ms={:.2}",
        enqueue.as_secs_f64(),
        (requests * per_request) as f64 / enqueue.as_secs_f64(),
        median(mounts),
        median(fetches),
    );
    Ok(())
}
