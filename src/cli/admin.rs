//! `tpstat` and `tpconfig`: operator commands on the admin socket.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::bail;

use crate::config::Config;
use crate::messaging::admin_client::AdminClient;
use crate::proto::admin::DriveStatus;

/// Label and readtp answer when their session ends: wait long enough for a
/// real robot and a full read.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

fn client(config: &Config) -> AdminClient {
    AdminClient::new(
        &config.admin_endpoint(),
        config.endpoints.client_timeout.0,
        OPERATION_TIMEOUT,
    )
}

pub fn drives(config: &Config) -> anyhow::Result<Vec<DriveStatus>> {
    Ok(client(config).drives()?)
}

pub fn tpstat(config: &Config, json: bool) -> anyhow::Result<()> {
    let drives = drives(config)?;
    if json {
        let drives: Vec<serde_json::Value> = drives
            .iter()
            .map(|d| {
                serde_json::json!({
                    "name": d.name,
                    "state": d.state,
                    "vid": d.vid,
                    "pid": d.pid,
                    "session": d.session,
                    "substate": d.substate,
                    "bytes": d.bytes,
                    "files": d.files,
                    "mb_per_s": (d.mb_per_s * 10.0).round() / 10.0,
                    "seconds_in_state": d.seconds_in_state.round(),
                    "last_error": d.last_error,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "drives": drives }));
        return Ok(());
    }
    print!("{}", drive_table(&drives, None));
    Ok(())
}

const DRIVE_COLUMNS: [&str; 10] = [
    "DRIVE",
    "STATE",
    "VID",
    "PID",
    "SESSION",
    "BYTES",
    "FILES",
    "MB/S",
    "IN STATE",
    "LAST ERROR",
];

/// The drive table; with `now`, MB/s is the rate since the last view (per
/// drive, from its bytes), else the session's average.
fn drive_table(drives: &[DriveStatus], now: Option<&HashMap<String, f64>>) -> String {
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = drives
        .iter()
        .map(|d| {
            let rate = now
                .and_then(|n| n.get(&d.name).copied())
                .unwrap_or(d.mb_per_s);
            vec![
                d.name.clone(),
                d.state.clone(),
                d.vid.clone().unwrap_or_else(dash),
                d.pid.map_or_else(dash, |p| p.to_string()),
                match (&d.session, &d.substate) {
                    (Some(s), Some(sub)) => format!("{s}/{sub}"),
                    _ => dash(),
                },
                super::human_bytes(d.bytes),
                d.files.to_string(),
                format!("{rate:.1}"),
                super::human_duration(d.seconds_in_state),
                d.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    super::render_table(&DRIVE_COLUMNS, &rows)
}

/// `tpstat --watch`: the table again every `every`, with each drive's
/// MB/s over the last interval. On a terminal it is redrawn in place
/// (ANSI: cursor home, clear); otherwise each view is printed after a
/// timestamp line, for logs and pipes. `count` views, or until interrupted.
pub fn watch(config: &Config, every: Duration, count: Option<u64>) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    let terminal = std::io::stdout().is_terminal();
    let mut last: HashMap<String, (u64, std::time::Instant)> = HashMap::new();
    let mut shown = 0u64;
    loop {
        let drives = drives(config)?;
        let at = std::time::Instant::now();
        let rates: HashMap<String, f64> = drives
            .iter()
            .map(|d| {
                let rate = match last.get(&d.name) {
                    Some(&(bytes, then)) if d.bytes >= bytes => {
                        (d.bytes - bytes) as f64
                            / 1e6
                            / at.duration_since(then).as_secs_f64().max(1e-3)
                    }
                    _ => 0.0,
                };
                (d.name.clone(), rate)
            })
            .collect();
        last = drives
            .iter()
            .map(|d| (d.name.clone(), (d.bytes, at)))
            .collect();
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        let table = drive_table(&drives, Some(&rates));
        let mut out = std::io::stdout().lock();
        if terminal {
            write!(
                out,
                "\x1b[H\x1b[2J{stamp}  every {}  (Ctrl-C to quit)\n\n{table}",
                humantime::format_duration(every)
            )?;
        } else {
            write!(out, "{stamp}\n{table}\n")?;
        }
        out.flush()?;
        shown += 1;
        if count.is_some_and(|c| shown >= c) {
            return Ok(());
        }
        std::thread::sleep(every);
    }
}

pub fn tpconfig(config: &Config, drive: &str, up: bool) -> anyhow::Result<()> {
    println!("{}", client(config).configure(drive, up)?);
    Ok(())
}

pub fn mounts(config: &Config, json: bool) -> anyhow::Result<()> {
    let mounts = client(config).mounts()?;
    if json {
        let mounts: Vec<serde_json::Value> = mounts
            .iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.id, "kind": m.kind, "vid": m.vid, "host": m.host,
                    "drive": m.drive, "started": m.started, "age": m.age,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "mounts": mounts }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = mounts
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                m.kind.clone(),
                m.vid.clone(),
                m.host.clone(),
                m.drive.clone(),
                super::human_duration(m.age),
            ]
        })
        .collect();
    super::print_table(&["MOUNT", "KIND", "VID", "HOST", "DRIVE", "AGE"], &rows);
    Ok(())
}

pub fn close_mount(config: &Config, mount_id: u64) -> anyhow::Result<()> {
    println!("{}", client(config).close_mount(mount_id)?);
    Ok(())
}

/// Labels a cartridge; `new` (pool, capacity) registers one the catalogue
/// does not know yet.
pub fn tplabel(
    config: &Config,
    drive: &str,
    vid: &str,
    force: bool,
    new: Option<(String, u64)>,
) -> anyhow::Result<()> {
    client(config).label(drive, vid, force, new)?;
    println!("{vid} labelled in {drive}");
    Ok(())
}

pub fn readtp(config: &Config, vid: &str, range: &str, dest_dir: &str) -> anyhow::Result<()> {
    let (first, last) = parse_fseq_range(range)?;
    let dest = std::path::absolute(dest_dir)?.display().to_string();
    client(config).readtp(vid, first, last, &dest)?;
    for fseq in first..=last {
        println!(
            "{}",
            std::path::Path::new(&dest)
                .join(crate::session::readtp::output_name(vid, fseq))
                .display()
        );
    }
    Ok(())
}

/// "5" or "3-7".
pub fn parse_fseq_range(range: &str) -> anyhow::Result<(u64, u64)> {
    let parse = |s: &str| -> anyhow::Result<u64> {
        match s.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => bail!("{range:?} is not an fSeq range (expected N or N-M, fSeqs start at 1)"),
        }
    };
    let (first, last) = match range.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(range)?, parse(range)?),
    };
    if last < first {
        bail!("{range:?} is not an fSeq range: {last} comes before {first}");
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fseq_ranges() {
        assert_eq!(super::parse_fseq_range("5").unwrap(), (5, 5));
        assert_eq!(super::parse_fseq_range("3-7").unwrap(), (3, 7));
        for bad in ["0", "7-3", "x", "1-", ""] {
            assert!(super::parse_fseq_range(bad).is_err(), "{bad}");
        }
    }
}
