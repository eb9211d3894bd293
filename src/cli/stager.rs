//! The `stager` command: queue migrations and recalls, wait for them, and
//! look at files and tapes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::StagerSettings as Config;
use crate::messaging::stager_client::StagerClient;
use crate::proto::stager::FileStatus;
use crate::scheduler::{FileState, RecallState, TapeState};

const WAIT_POLL: Duration = Duration::from_millis(50);

fn client(config: &Config) -> StagerClient {
    StagerClient::with_endpoints(config.endpoints.clone(), config.timeout)
}

fn file_state(f: &FileStatus) -> Option<FileState> {
    FileState::from_wire(f.state)
}

/// A state as operators read it; one a newer daemon sent and this client
/// does not know shows as "unknown".
fn show<S: std::fmt::Display>(state: Option<S>) -> String {
    state.map_or_else(|| "unknown".into(), |s| s.to_string())
}

pub fn archive(
    config: &Config,
    paths: &[String],
    pool: Option<String>,
    class: Option<String>,
    wait: bool,
) -> anyhow::Result<()> {
    let paths = paths
        .iter()
        .map(|p| {
            std::path::absolute(Path::new(p))
                .with_context(|| format!("{p}: cannot make the path absolute"))
                .map(|a| a.display().to_string())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let reply =
        client(config).archive(paths, pool.unwrap_or_default(), class.unwrap_or_default())?;
    for f in &reply.files {
        println!("{} {}", f.file_id, f.path);
    }
    if !wait {
        return Ok(());
    }
    let ids: Vec<u64> = reply.files.iter().map(|f| f.file_id).collect();
    let total_bytes: u64 = reply.files.iter().map(|f| f.size).sum();
    let mut progress = Progress::new("archived", ids.len() as u64, total_bytes);
    let mut away = Away::default();
    loop {
        let Some(files) = away.ride(client(config).status(&ids))? else {
            continue;
        };
        let done: Vec<&FileStatus> = files
            .iter()
            .filter(|f| file_state(f) != Some(FileState::Queued))
            .collect();
        progress.update(done.len() as u64, done.iter().map(|f| f.size).sum());
        if done.len() == files.len() {
            progress.finish();
            let failed: Vec<&&FileStatus> = done
                .iter()
                .filter(|f| file_state(f) != Some(FileState::OnTape))
                .collect();
            for f in &failed {
                eprintln!(
                    "file {} ({}) {}: {}",
                    f.id,
                    f.path,
                    show(file_state(f)),
                    f.error.clone().unwrap_or_default()
                );
            }
            if !failed.is_empty() {
                bail!(
                    "{} of {} files were not archived",
                    failed.len(),
                    files.len()
                );
            }
            return Ok(());
        }
        std::thread::sleep(WAIT_POLL);
    }
}

pub fn recall(config: &Config, file_id: u64, dest: &str, wait: bool) -> anyhow::Result<()> {
    let destination = std::path::absolute(dest)
        .with_context(|| format!("{dest}: cannot make the path absolute"))?
        .display()
        .to_string();
    let stager = client(config);
    let reply = stager.recall(file_id, destination.clone())?;
    println!("{} {} {}", reply.recall_id, file_id, destination);
    if !wait {
        return Ok(());
    }
    let mut progress: Option<Progress> = None;
    let mut away = Away::default();
    loop {
        let Some(statuses) = away.ride(stager.recalls(&[reply.recall_id]))? else {
            continue;
        };
        let status = statuses
            .into_iter()
            .next()
            .context("tapeserverd sent no status for the recall")?;
        let p = progress.get_or_insert_with(|| Progress::new("recalled", 1, status.size));
        match RecallState::from_wire(status.state) {
            Some(RecallState::Done) => {
                p.update(1, status.size);
                p.finish();
                return Ok(());
            }
            Some(RecallState::Failed) => {
                p.finish();
                bail!(
                    "recall of file {file_id} failed: {}",
                    status.error.unwrap_or_default()
                );
            }
            _ => std::thread::sleep(WAIT_POLL),
        }
    }
}

/// While `--wait` polls, the daemon may restart under it (systemd, an
/// upgrade): a status request (a read, safe to ask again) that was never
/// delivered or never answered is waited out, said once, for up to
/// `PATIENCE`; anything else ends the wait.
#[derive(Default)]
struct Away {
    since: Option<std::time::Instant>,
}

const PATIENCE: Duration = Duration::from_secs(10 * 60);

impl Away {
    /// Some(reply), None to poll again, or the error that ends the wait.
    fn ride<T>(
        &mut self,
        reply: Result<T, crate::messaging::client::ClientError>,
    ) -> anyhow::Result<Option<T>> {
        match reply {
            Ok(v) => {
                if self.since.take().is_some() {
                    eprintln!("tapeserverd answers again");
                }
                Ok(Some(v))
            }
            Err(e)
                if e.undelivered()
                    || matches!(e, crate::messaging::client::ClientError::Timeout { .. }) =>
            {
                let since = *self.since.get_or_insert_with(|| {
                    eprintln!(
                        "tapeserverd does not answer ({e}); still waiting for it to come back"
                    );
                    std::time::Instant::now()
                });
                if since.elapsed() > PATIENCE {
                    return Err(e.into());
                }
                std::thread::sleep(Duration::from_millis(500));
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn status_of(config: &Config, ids: &[u64]) -> anyhow::Result<Vec<FileStatus>> {
    Ok(client(config).status(ids)?)
}

/// Files by id or by path (an absolute path): ids first, in order, then
/// paths, each path's file with whether its disk copy is there.
fn files_by_id_or_path(
    config: &Config,
    given: &[String],
) -> anyhow::Result<Vec<(FileStatus, Option<bool>)>> {
    let mut ids = Vec::new();
    let mut paths = Vec::new();
    for g in given {
        if g.starts_with('/') {
            paths.push(g.clone());
        } else {
            ids.push(
                g.parse::<u64>().map_err(|_| {
                    anyhow::anyhow!("{g:?} is neither a file id nor an absolute path")
                })?,
            );
        }
    }
    let mut out: Vec<(FileStatus, Option<bool>)> = Vec::new();
    if !ids.is_empty() || paths.is_empty() {
        out.extend(status_of(config, &ids)?.into_iter().map(|f| (f, None)));
    }
    if !paths.is_empty() {
        let mut unknown = Vec::new();
        for p in client(config).path_status(paths)? {
            match p.file {
                Some(f) => out.push((f, Some(p.on_disk))),
                None => unknown.push(format!(
                    "{}: {}",
                    p.path,
                    p.error.unwrap_or_else(|| "no such file".into())
                )),
            }
        }
        if !unknown.is_empty() {
            anyhow::bail!("{}", unknown.join("; "));
        }
    }
    Ok(out)
}

pub fn evict(config: &Config, paths: &[String]) -> anyhow::Result<()> {
    let results = client(config).evict(paths.to_vec())?;
    let mut kept = 0;
    for r in &results {
        match &r.error {
            None => println!("evicted {}", r.path),
            Some(why) => {
                kept += 1;
                println!("kept {}: {why}", r.path);
            }
        }
    }
    if kept > 0 {
        anyhow::bail!("{kept} of {} files kept on disk", results.len());
    }
    Ok(())
}

pub fn status(config: &Config, given: &[String], json: bool) -> anyhow::Result<()> {
    let found = files_by_id_or_path(config, given)?;
    let on_disk: Vec<Option<bool>> = found.iter().map(|(_, d)| *d).collect();
    let files: Vec<FileStatus> = found.into_iter().map(|(f, _)| f).collect();
    if json {
        let files: Vec<serde_json::Value> = files
            .iter()
            .zip(&on_disk)
            .map(|(f, disk)| {
                let mut v = serde_json::json!({
                    "id": f.id, "state": show(file_state(f)), "vid": f.vid, "fseq": f.fseq, "error": f.error,
                    "path": f.path, "size": f.size, "crc32c": f.crc32c.map(|c| format!("{c:08x}")),
                    "block_id": f.block_id,
                    "copies": f.copies.iter().map(|c| serde_json::json!({
                        "copy": c.copy, "vid": c.vid, "fseq": c.fseq, "state": c.state,
                        "reason": (!c.reason.is_empty()).then_some(&c.reason),
                    })).collect::<Vec<_>>(),
                });
                if let Some(disk) = disk {
                    v["on_disk"] = serde_json::json!(disk);
                }
                v
            })
            .collect();
        println!("{}", serde_json::json!({ "files": files }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            vec![
                f.id.to_string(),
                show(file_state(f)).to_string(),
                f.vid.clone().unwrap_or_else(|| "-".into()),
                f.fseq.map_or_else(|| "-".into(), |s| s.to_string()),
                super::table_size(f.size),
                f.path.clone(),
                f.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    super::print_table(
        &["ID", "STATE", "VID", "FSEQ", "SIZE", "PATH", "ERROR"],
        &rows,
    );
    Ok(())
}

pub fn recalls(config: &Config, ids: &[u64], json: bool) -> anyhow::Result<()> {
    let recalls = client(config).recalls(ids)?;
    let state = |r: &crate::proto::stager::RecallStatus| show(RecallState::from_wire(r.state));
    if json {
        let recalls: Vec<serde_json::Value> = recalls
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id, "file_id": r.file_id, "destination": r.destination,
                    "state": state(r), "error": r.error, "size": r.size,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "recalls": recalls }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = recalls
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                state(r),
                r.file_id.to_string(),
                super::table_size(r.size),
                r.destination.clone(),
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    super::print_table(
        &["ID", "STATE", "FILE ID", "SIZE", "DESTINATION", "ERROR"],
        &rows,
    );
    Ok(())
}

/// Deletes files; prints "FILE_ID deleted" per file.
pub fn delete(config: &Config, file_ids: &[u64]) -> anyhow::Result<()> {
    for id in client(config).delete(file_ids)? {
        println!("{id} deleted");
    }
    Ok(())
}

pub fn tapes(config: &Config, json: bool) -> anyhow::Result<()> {
    let tapes = client(config).tapes()?;
    if json {
        let tapes: Vec<serde_json::Value> = tapes
            .iter()
            .map(|t| {
                serde_json::json!({
                    "vid": t.vid, "pool": t.pool, "state": show(TapeState::from_wire(t.state)), "capacity": t.capacity,
                    "bytes_used": t.bytes_used, "last_fseq": t.last_fseq, "files": t.files,
                    "reason": t.reason, "read_mounts": t.read_mounts, "write_mounts": t.write_mounts,
                    "live_files": t.live_files, "live_bytes": t.live_bytes,
                    "deleted_files": t.deleted_files, "deleted_bytes": t.deleted_bytes,
                    "reclaimed": t.reclaimed,
                    "state_by": (!t.state_by.is_empty()).then_some(&t.state_by),
                    "state_since": (t.state_since > 0.0).then_some(t.state_since),
                    "last_verified": (t.last_verified > 0.0).then_some(t.last_verified),
                    "verify_errors": t.verify_errors,
                    "media": (!t.media.is_empty()).then_some(&t.media),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "tapes": tapes }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = tapes
        .iter()
        .map(|t| {
            vec![
                t.vid.clone(),
                t.pool.clone(),
                show(TapeState::from_wire(t.state)).to_string(),
                t.files.to_string(),
                super::human_bytes(t.bytes_used),
                super::human_bytes(t.capacity),
                t.last_fseq.to_string(),
                match (&t.reason, t.state_by.as_str()) {
                    (Some(reason), "") => reason.clone(),
                    (Some(reason), by) => format!("{reason} (by {by})"),
                    (None, _) => String::new(),
                },
            ]
        })
        .collect();
    super::print_table(
        &[
            "VID",
            "POOL",
            "STATE",
            "FILES",
            "USED",
            "CAPACITY",
            "LAST FSEQ",
            "REASON",
        ],
        &rows,
    );
    Ok(())
}

pub fn ls_tape(config: &Config, vid: &str, json: bool) -> anyhow::Result<()> {
    let reply = client(config).ls_tape(vid)?;
    if json {
        let files: Vec<serde_json::Value> = reply
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "fseq": f.fseq, "block_id": f.block_id, "file_id": f.file_id, "size": f.size,
                    "crc32c": format!("{:08x}", f.crc32c), "path": f.path,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "vid": reply.vid, "files": files })
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = reply
        .files
        .iter()
        .map(|f| {
            vec![
                f.fseq.to_string(),
                f.block_id.to_string(),
                f.file_id.to_string(),
                super::table_size(f.size),
                format!("{:08x}", f.crc32c),
                f.path.clone(),
            ]
        })
        .collect();
    super::print_table(
        &["FSEQ", "BLOCK ID", "FILE ID", "SIZE", "CRC32C", "PATH"],
        &rows,
    );
    Ok(())
}

/// `--wait` progress: a bar on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    verb: &'static str,
    files: u64,
    bytes: u64,
    last: BTreeMap<&'static str, u64>,
}

impl Progress {
    fn new(verb: &'static str, files: u64, bytes: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(bytes.max(1));
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            verb,
            files,
            bytes,
            last: BTreeMap::new(),
        }
    }

    fn update(&mut self, files_done: u64, bytes_done: u64) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(bytes_done);
                bar.set_message(format!("{} {files_done}/{} files", self.verb, self.files));
            }
            None => {
                if self.last.get("files") != Some(&files_done) {
                    eprintln!(
                        "{} {files_done}/{} files, {bytes_done}/{} bytes",
                        self.verb, self.files, self.bytes
                    );
                    self.last.insert("files", files_done);
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
