//! `tpstat` and `tpconfig`: operator commands on the admin socket.

use std::time::Duration;

use anyhow::bail;

use crate::config::Config;
use crate::messaging::client::request;
use crate::proto::admin::{
    AdminReply, AdminRequest, ConfigureDrive, DriveStatus, ListDrives, admin_reply, admin_request,
};

fn admin(config: &Config, kind: admin_request::Kind) -> anyhow::Result<admin_reply::Kind> {
    let timeout: Duration = config.endpoints.client_timeout.0;
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
