//! `tapeadmin`: tape administration on the scheduler itself (pools, tapes,
//! queues, cancelling requests, a file's copies, stale mounts). It opens
//! the scheduler the daemon's config names, so it runs where that config
//! and its password file are readable. Every listing takes `--json`.

use anyhow::{Context, bail};
use serde_json::json;

use crate::scheduler::{MountKind, Scheduler, TapeState};

fn print_json(value: serde_json::Value) {
    println!("{value}");
}

pub fn pools(db: &mut dyn Scheduler, as_json: bool) -> anyhow::Result<()> {
    let pools = db.pools()?;
    if as_json {
        let pools: Vec<_> = pools
            .iter()
            .map(|p| {
                json!({"name": p.name, "tapes": p.tapes, "writable_tapes": p.writable_tapes,
                       "free_bytes": p.free_bytes, "queued_files": p.queued_files})
            })
            .collect();
        print_json(json!({ "pools": pools }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = pools
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.tapes.to_string(),
                p.writable_tapes.to_string(),
                super::human_bytes(p.free_bytes),
                p.queued_files.to_string(),
            ]
        })
        .collect();
    super::print_table(&["POOL", "TAPES", "WRITABLE", "FREE", "QUEUED"], &rows);
    Ok(())
}

pub fn add_pool(db: &mut dyn Scheduler, name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("pool name {name:?}: expected letters, digits, '-', '_' or '.'");
    }
    db.add_pool(name)?;
    println!("pool {name} exists");
    Ok(())
}

/// Registers a labelled cartridge; `library` is the controller to check
/// that the library holds it (a mistyped VID would send every drive that
/// mounts for the pool after a cartridge that is not there).
pub fn add_tape(
    db: &mut dyn Scheduler,
    library: &dyn crate::library::MediaChanger,
    vid: &str,
    pool: &str,
    capacity: u64,
    media: Option<&str>,
) -> anyhow::Result<()> {
    if let Some(m) = media
        && crate::tape::media::Media::parse(m).is_none()
    {
        bail!("--media {m:?}: expected an LTO type such as L8, L9, LA, M8 or LTO9");
    }
    if vid.is_empty() || vid.len() > 6 || !vid.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("VID {vid:?}: expected 1 to 6 letters or digits");
    }
    if capacity == 0 {
        bail!("--capacity: expected more than 0 bytes");
    }
    if db.tapes()?.iter().any(|t| t.vid == vid) {
        bail!("tape {vid} is already in the catalogue");
    }
    let pools: Vec<String> = db.pools()?.into_iter().map(|p| p.name).collect();
    if !pools.iter().any(|p| p == pool) {
        bail!(
            "no tape pool named {pool:?} (the pools: {}); tapeadmin add-pool {pool} creates it",
            pools.join(", ")
        );
    }
    let held = library.status().map(|s| s.holds(vid)).map_err(|e| {
        anyhow::anyhow!(
            "cannot check that the library holds {vid} (its controller: {e}); nothing registered"
        )
    })?;
    if !held {
        bail!(
            "the library holds no cartridge {vid}: check the VID (tplib status lists the cartridges); nothing registered"
        );
    }
    db.add_tape(vid, pool, capacity)?;
    if let Some(m) = media {
        db.set_tape_media(vid, Some(m))?;
    }
    println!("tape {vid} added to pool {pool}");
    Ok(())
}

/// Requeues failed archives (or recalls): each id's outcome on a line; an
/// error if any was refused (the others are requeued all the same).
pub fn retry(db: &mut dyn Scheduler, ids: &[u64], recalls: bool) -> anyhow::Result<()> {
    let what = if recalls { "recall" } else { "archive of file" };
    let mut refused = 0;
    for id in ids {
        let done = if recalls {
            db.retry_recall(*id)
        } else {
            db.retry_archive(*id)
        };
        match done {
            Ok(()) => println!("{what} {id} queued again"),
            Err(e) => {
                eprintln!("{what} {id}: {e}");
                refused += 1;
            }
        }
    }
    if refused > 0 {
        bail!("{refused} of {} not queued again", ids.len());
    }
    Ok(())
}

/// Who runs this command, as kept with what it changes: the login behind
/// sudo if any, else this process's user.
pub fn operator() -> String {
    if let Ok(user) = std::env::var("SUDO_USER")
        && !user.is_empty()
    {
        return user;
    }
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {}", nix::unistd::getuid()), |u| u.name)
}

/// Moves a cartridge from its storage slot to a free import/export slot;
/// its tape becomes `exported` (never mounted), remembering its slot and
/// state for the import.
pub fn export(
    db: &mut dyn Scheduler,
    library: &crate::library::client::ControllerClient,
    vid: &str,
) -> anyhow::Result<()> {
    use crate::proto::tlc::{MoveMedium, tlc_request};
    let (_, status) = library
        .status_report()
        .map_err(|e| anyhow::anyhow!("cannot read the library (its controller: {e})"))?;
    let Some(home) = status
        .slots
        .iter()
        .find(|s| s.vid == vid)
        .map(|s| s.address)
    else {
        if status.drives.iter().any(|d| d.vid == vid) {
            bail!("tape {vid} is in a drive: export it once it is back in its slot");
        }
        bail!("the library holds no cartridge {vid} in a storage slot");
    };
    let Some(port) = status
        .import_export
        .iter()
        .find(|s| s.vid.is_empty())
        .map(|s| s.address)
    else {
        bail!("no free import/export slot: take the cartridges out of them first");
    };
    let before = db.begin_export(vid, u16::try_from(home)?, &operator())?;
    if let Err(e) = library.call(tlc_request::Kind::Move(MoveMedium {
        source: home,
        destination: port,
    })) {
        db.finish_import(vid, &operator())?;
        bail!("cannot move {vid} to import/export slot {port}: {e}; it stays {before}");
    }
    println!(
        "tape {vid} exported to import/export slot {port} (it was {before}, from slot {home})"
    );
    Ok(())
}

/// Handles what the import/export slots hold: a cartridge exported from
/// this catalogue goes home (its slot, or a free one) and gets its state
/// back; any other is named and left where it is.
pub fn import(
    db: &mut dyn Scheduler,
    library: &crate::library::client::ControllerClient,
    new_tapes: Option<(&str, u64)>,
) -> anyhow::Result<()> {
    if let Some((pool, _)) = new_tapes
        && !db.pools()?.iter().any(|p| p.name == pool)
    {
        bail!("no tape pool named {pool:?}: tapeadmin add-pool {pool} creates it");
    }
    use crate::proto::tlc::{MoveMedium, tlc_request};
    let (_, status) = library
        .status_report()
        .map_err(|e| anyhow::anyhow!("cannot read the library (its controller: {e})"))?;
    let mut free: Vec<u32> = status
        .slots
        .iter()
        .filter(|s| s.vid.is_empty())
        .map(|s| s.address)
        .collect();
    let tapes = db.tapes()?;
    let mut imported = 0;
    for port in status.import_export.iter().filter(|s| !s.vid.is_empty()) {
        let vid = crate::library::vid_of(&port.vid);
        let Some(tape) = tapes.iter().find(|t| t.vid == vid) else {
            let Some((pool, capacity)) = new_tapes else {
                println!(
                    "import/export slot {}: cartridge {vid} is not in the catalogue: left there (tapeadmin import --pool P --capacity SIZE takes in a labelled one; tplabel DRIVE {vid} --pool P --capacity SIZE labels and registers a blank one)",
                    port.address
                );
                continue;
            };
            let Some(slot) = free.first().copied() else {
                bail!("no free storage slot for {vid}");
            };
            import_new(
                db,
                library,
                &vid,
                &port.vid,
                (port.address, slot),
                pool,
                capacity,
            )?;
            free.retain(|s| *s != slot);
            imported += 1;
            continue;
        };
        if tape.state != TapeState::Exported {
            println!(
                "import/export slot {}: tape {vid} is {} in the catalogue, not exported: left there",
                port.address, tape.state
            );
            continue;
        }
        let home = tape
            .home_slot
            .and_then(|h| u32::try_from(h).ok())
            .filter(|h| free.contains(h))
            .or_else(|| free.first().copied());
        let Some(home) = home else {
            bail!("no free storage slot for {vid}");
        };
        library
            .call(tlc_request::Kind::Move(MoveMedium {
                source: port.address,
                destination: home,
            }))
            .map_err(|e| anyhow::anyhow!("cannot move {vid} home to slot {home}: {e}"))?;
        free.retain(|s| *s != home);
        db.finish_import(&vid, &operator())?;
        println!("tape {vid} imported into slot {home}");
        imported += 1;
    }
    if imported == 0 {
        println!("no exported tape in the import/export slots");
    }
    Ok(())
}

/// A cartridge the catalogue does not know: to a free slot, registered
/// read-only (nothing is written to it) with a verification queued, whose
/// mount reads its VOL1: the right label makes it active, a wrong one
/// disables it.
fn import_new(
    db: &mut dyn Scheduler,
    library: &crate::library::client::ControllerClient,
    vid: &str,
    volume_tag: &str,
    (port, slot): (u32, u32),
    pool: &str,
    capacity: u64,
) -> anyhow::Result<()> {
    use crate::proto::tlc::{MoveMedium, tlc_request};
    if vid.is_empty() || vid.len() > 6 || !vid.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!(
            "import/export slot {port}: volume tag {volume_tag:?} is no VID (1 to 6 letters or digits): left there"
        );
    }
    library
        .call(tlc_request::Kind::Move(MoveMedium {
            source: port,
            destination: slot,
        }))
        .map_err(|e| anyhow::anyhow!("cannot move {vid} to slot {slot}: {e}"))?;
    db.add_tape(vid, pool, capacity)?;
    if let Some(m) = crate::tape::media::Media::of_volume_tag(volume_tag) {
        db.set_tape_media(vid, Some(&m.code()))?;
    }
    db.set_tape_state_by(
        vid,
        TapeState::ReadOnly,
        crate::scheduler::IMPORT_PENDING,
        &operator(),
    )?;
    db.queue_verify(vid, 0, &operator())?;
    println!(
        "cartridge {vid} imported into slot {slot}: a tape of pool {pool}, read-only until a drive has read its VOL1 (a verification is queued)"
    );
    Ok(())
}

pub fn classes(db: &mut dyn Scheduler, as_json: bool) -> anyhow::Result<()> {
    let classes = db.classes()?;
    if as_json {
        let classes: Vec<_> = classes
            .iter()
            .map(|c| {
                let routes: Vec<_> = c
                    .routes
                    .iter()
                    .map(|(copy, pool)| json!({"copy": copy, "pool": pool}))
                    .collect();
                json!({"name": c.name, "copies": c.copies, "routes": routes})
            })
            .collect();
        print_json(json!({ "classes": classes }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = classes
        .iter()
        .map(|c| {
            let routes: Vec<String> = c
                .routes
                .iter()
                .map(|(copy, pool)| format!("{copy}:{pool}"))
                .collect();
            vec![c.name.clone(), c.copies.to_string(), routes.join(" ")]
        })
        .collect();
    super::print_table(&["CLASS", "COPIES", "ROUTES"], &rows);
    Ok(())
}

pub fn verify(db: &mut dyn Scheduler, vid: &str, sample: u64) -> anyhow::Result<()> {
    db.queue_verify(vid, sample, &operator())?;
    let what = if sample == 0 {
        "every live file".to_string()
    } else {
        format!("a sample of {sample} files")
    };
    println!("tape {vid} queued for verification of {what}");
    Ok(())
}

pub fn set_tape_state(
    db: &mut dyn Scheduler,
    vid: &str,
    state: &str,
    reason: Option<&str>,
) -> anyhow::Result<()> {
    let state = match state {
        "enable" => TapeState::Active,
        "disable" => TapeState::Disabled,
        other => TapeState::parse(other).with_context(|| {
            format!("tape state {other:?}: expected enable, disable, active, disabled, full, read_only, broken, exported or repacking")
        })?,
    };
    let reason = reason.unwrap_or("set by an operator");
    db.set_tape_state_by(vid, state, reason, &operator())?;
    println!("tape {vid} is {state}");
    Ok(())
}

/// Queued work per pool and tape, and each share's drives and waiting work.
pub fn queues(
    db: &mut dyn Scheduler,
    shares: &[crate::config::shares::ShareConfig],
    as_json: bool,
) -> anyhow::Result<()> {
    let queues = db.queues()?;
    let drives = db.pool_drives()?;
    let share_of = |pool: &str| shares.iter().find(|s| s.pools.iter().any(|p| p == pool));
    // Per share: drives reading, writing; files and bytes waiting.
    let share_rows: Vec<_> = shares
        .iter()
        .map(|s| {
            let (read, write) = s
                .pools
                .iter()
                .filter_map(|p| drives.get(p))
                .fold((0, 0), |(r, w), (pr, pw)| (r + pr, w + pw));
            let (files, bytes) = queues
                .iter()
                .filter(|q| s.pools.contains(&q.pool))
                .fold((0, 0), |(f, b), q| (f + q.files, b + q.bytes));
            (s, read, write, files, bytes)
        })
        .collect();
    let kind = |k: MountKind| {
        if k == MountKind::Recall {
            "recall"
        } else {
            "archive"
        }
    };
    if as_json {
        let queues: Vec<_> = queues
            .iter()
            .map(|q| {
                json!({"kind": kind(q.kind), "pool": q.pool, "vid": q.vid, "files": q.files,
                       "bytes": q.bytes, "running": q.running, "oldest_age_s": q.oldest_age,
                       "servable": q.servable, "share": share_of(&q.pool).map(|s| &s.name)})
            })
            .collect();
        let shares: Vec<_> = share_rows
            .iter()
            .map(|(s, read, write, files, bytes)| {
                json!({"name": s.name, "pools": s.pools, "weight": s.weight,
                       "read_drives": read, "write_drives": write,
                       "max_read_drives": s.max_read_drives, "max_write_drives": s.max_write_drives,
                       "files": files, "bytes": bytes})
            })
            .collect();
        print_json(json!({ "queues": queues, "shares": shares }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = queues
        .iter()
        .map(|q| {
            vec![
                kind(q.kind).into(),
                q.pool.clone(),
                q.vid.clone().unwrap_or_else(|| "-".into()),
                q.files.to_string(),
                super::human_bytes(q.bytes),
                q.running.to_string(),
                super::human_duration(q.oldest_age),
            ]
        })
        .collect();
    super::print_table(
        &["KIND", "POOL", "VID", "FILES", "BYTES", "RUNNING", "OLDEST"],
        &rows,
    );
    if !share_rows.is_empty() {
        let max = |m: Option<u64>| m.map_or("-".into(), |m| m.to_string());
        let rows: Vec<Vec<String>> = share_rows
            .iter()
            .map(|(s, read, write, files, bytes)| {
                vec![
                    s.name.clone(),
                    s.weight.to_string(),
                    format!("{read}/{}", max(s.max_read_drives)),
                    format!("{write}/{}", max(s.max_write_drives)),
                    files.to_string(),
                    super::human_bytes(*bytes),
                ]
            })
            .collect();
        println!();
        super::print_table(
            &["SHARE", "WEIGHT", "READING", "WRITING", "FILES", "BYTES"],
            &rows,
        );
    }
    for q in queues.iter().filter(|q| !q.servable) {
        let what = match &q.vid {
            Some(vid) => format!("the recalls of {vid}"),
            None => format!("the archives of pool {}", q.pool),
        };
        println!(
            "warning: no live drive can {} {what}'s tapes (their media generation): it will wait until one can",
            if q.vid.is_some() { "read" } else { "write" }
        );
    }
    Ok(())
}

pub fn file(db: &mut dyn Scheduler, id: u64, as_json: bool) -> anyhow::Result<()> {
    let f = db
        .file_status(&[id])?
        .into_iter()
        .next()
        .with_context(|| format!("no file with id {id}"))?;
    let copies: Vec<_> = db
        .copies_of_files(&[id])?
        .remove(&id)
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            json!({"copy": c.copy_nb, "vid": c.vid, "fseq": c.fseq, "block_id": c.block_id,
                   "bad": c.bad, "tape_state": c.tape_state.as_str()})
        })
        .collect();
    if as_json {
        print_json(
            json!({"id": f.id, "path": f.path, "size": f.size, "state": f.state.as_str(),
                          "crc32c": f.crc32c, "copies": copies, "error": f.error,
                          "owner": f.owner}),
        );
        return Ok(());
    }
    println!(
        "file {} {} ({} bytes, owner {}) is {}",
        f.id, f.path, f.size, f.owner, f.state
    );
    for c in &copies {
        println!(
            "  copy on {} fseq {} block {}{}",
            c["vid"],
            c["fseq"],
            c["block_id"],
            c["bad"]
                .as_str()
                .map(|why| format!(": BAD ({why})"))
                .unwrap_or_default()
        );
    }
    if let Some(e) = &f.error {
        println!("  error: {e}");
    }
    Ok(())
}

pub fn mounts(db: &mut dyn Scheduler, as_json: bool) -> anyhow::Result<()> {
    let mounts = db.open_mounts()?;
    if as_json {
        let mounts: Vec<_> = mounts
            .iter()
            .map(|m| {
                json!({"id": m.id, "kind": m.kind.as_str(), "vid": m.vid, "host": m.host,
                       "drive": m.drive, "started": m.started, "age": m.age})
            })
            .collect();
        print_json(json!({ "mounts": mounts }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = mounts
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                m.kind.to_string(),
                m.vid.clone(),
                m.host.clone(),
                m.drive.clone(),
                super::human_duration(m.age),
            ]
        })
        .collect();
    // The same columns as `tpstat --mounts`.
    super::print_table(&["MOUNT", "KIND", "VID", "HOST", "DRIVE", "AGE"], &rows);
    Ok(())
}

pub fn close_mount(db: &mut dyn Scheduler, id: u64) -> anyhow::Result<()> {
    let Some(m) = db.open_mounts()?.into_iter().find(|m| m.id == id) else {
        bail!("no open mount with id {id}");
    };
    db.end_mount(id)?;
    println!(
        "mount {id} ({} of {} on {}/{}) closed; its unreported work was requeued",
        m.kind, m.vid, m.host, m.drive
    );
    Ok(())
}
