//! `tpstat` and `tpconfig`: operator commands on the admin socket.

use std::time::Duration;

use anyhow::bail;

use crate::config::Config;
use crate::messaging::client::request;
use crate::proto::admin::{
    AdminReply, AdminRequest, ConfigureDrive, DriveStatus, ListDrives, admin_reply, admin_request,
};

fn admin(config: &Config, kind: admin_request::Kind) -> anyhow::Result<admin_reply::Kind> {
    admin_within(config, config.endpoints.client_timeout.0, kind)
}

fn admin_within(
    config: &Config,
    timeout: Duration,
    kind: admin_request::Kind,
) -> anyhow::Result<admin_reply::Kind> {
    let reply: AdminReply = request(
        &config.admin_endpoint(),
        timeout,
        &AdminRequest { kind: Some(kind) },
    )?;
    match reply.kind {
        Some(admin_reply::Kind::Error(e)) => bail!("{e}"),
        Some(kind) => Ok(kind),
        None => bail!("tapeserverd sent an empty reply"),
    }
}

pub fn drives(config: &Config) -> anyhow::Result<Vec<DriveStatus>> {
    match admin(config, admin_request::Kind::ListDrives(ListDrives {}))? {
        admin_reply::Kind::Drives(list) => Ok(list.drives),
        _ => bail!("tapeserverd sent an unexpected reply"),
    }
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
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = drives
        .iter()
        .map(|d| {
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
                format!("{:.1}", d.mb_per_s),
                format!("{:.0}s", d.seconds_in_state),
                d.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    super::print_table(
        &[
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
        ],
        &rows,
    );
    Ok(())
}

pub fn tpconfig(config: &Config, drive: &str, up: bool) -> anyhow::Result<()> {
    let kind = admin_request::Kind::ConfigureDrive(ConfigureDrive {
        drive: drive.to_string(),
        up,
    });
    match admin(config, kind)? {
        admin_reply::Kind::Done(message) => {
            println!("{message}");
            Ok(())
        }
        _ => bail!("tapeserverd sent an unexpected reply"),
    }
}

pub fn mounts(config: &Config, json: bool) -> anyhow::Result<()> {
    let mounts = match admin(
        config,
        admin_request::Kind::ListMounts(crate::proto::admin::ListMounts {}),
    )? {
        admin_reply::Kind::Mounts(list) => list.mounts,
        _ => bail!("tapeserverd sent an unexpected reply"),
    };
    if json {
        let mounts: Vec<serde_json::Value> = mounts
            .iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.id, "kind": m.kind, "vid": m.vid, "host": m.host,
                    "drive": m.drive, "started": m.started,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "mounts": mounts }));
        return Ok(());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let rows: Vec<Vec<String>> = mounts
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                m.kind.clone(),
                m.vid.clone(),
                m.host.clone(),
                m.drive.clone(),
                format!("{:.0}s", (now - m.started).max(0.0)),
            ]
        })
        .collect();
    super::print_table(&["MOUNT", "KIND", "VID", "HOST", "DRIVE", "AGE"], &rows);
    Ok(())
}

pub fn close_mount(config: &Config, mount_id: u64) -> anyhow::Result<()> {
    let kind = admin_request::Kind::CloseMount(crate::proto::admin::CloseMount { mount_id });
    match admin(config, kind)? {
        admin_reply::Kind::Done(message) => {
            println!("{message}");
            Ok(())
        }
        _ => bail!("tapeserverd sent an unexpected reply"),
    }
}

/// Label and readtp answer when their session ends: wait long enough for a
/// real robot and a full read.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

fn admin_long(config: &Config, kind: admin_request::Kind) -> anyhow::Result<admin_reply::Kind> {
    admin_within(config, OPERATION_TIMEOUT, kind)
}

pub fn tplabel(config: &Config, drive: &str, vid: &str, force: bool) -> anyhow::Result<()> {
    let kind = admin_request::Kind::LabelTape(crate::proto::admin::LabelTape {
        drive: drive.to_string(),
        vid: vid.to_string(),
        force,
    });
    match admin_long(config, kind)? {
        admin_reply::Kind::Done(_) => {
            println!("{vid} labelled in {drive}");
            Ok(())
        }
        _ => bail!("tapeserverd sent an unexpected reply"),
    }
}

pub fn readtp(config: &Config, vid: &str, range: &str, dest_dir: &str) -> anyhow::Result<()> {
    let (first, last) = parse_fseq_range(range)?;
    let dest = std::path::absolute(dest_dir)?.display().to_string();
    let kind = admin_request::Kind::ReadTape(crate::proto::admin::ReadTape {
        vid: vid.to_string(),
        first_fseq: first,
        last_fseq: last,
        dest_dir: dest.clone(),
    });
    match admin_long(config, kind)? {
        admin_reply::Kind::Done(_) => {
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
        _ => bail!("tapeserverd sent an unexpected reply"),
    }
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
