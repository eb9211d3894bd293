//! `tplib`: the library as its active controller sees it, and operator
//! moves through the controller.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::tlcd::TlcdConfig;
use crate::config::{Config, client_config_path};
use crate::library::client::ControllerClient;
use crate::library::{DriveRef, MediaChanger};
use crate::proto::tlc::{
    MoveMedium, PathControl, Refresh, Role, TlcRequest, tlc_reply, tlc_request,
};

/// Who to ask and how patiently.
pub struct Target {
    pub endpoints: Vec<String>,
    pub drives: Vec<DriveRef>,
    pub request_timeout: Duration,
    pub move_timeout: Duration,
}

impl Target {
    /// From `--endpoint` flags, else the config (a tapeserver.toml or a tlcd.toml).
    pub fn find(config: Option<PathBuf>, endpoints: Vec<String>) -> anyhow::Result<Self> {
        let path = client_config_path(config);
        if endpoints.is_empty() && crate::config::is_client_config(&path) {
            anyhow::bail!(
                "{} is a stager's client config ([client]); tplib needs the daemon's or tlcd's config, or --endpoint",
                path.display()
            );
        }
        let from_file = match Config::load(&path) {
            Ok(c) => {
                // Controllers on other hosts: this host's keys.
                if let (Some(server), Some(pair)) =
                    (c.library.controller_key.clone(), c.security.key_pair()?)
                {
                    crate::messaging::curve::set_client_keys(crate::messaging::curve::ClientKeys {
                        server,
                        pair,
                    });
                }
                Some(Target {
                    endpoints: c.controller_endpoints(),
                    drives: crate::settings::drive_refs(&c),
                    request_timeout: c.library.request_timeout.0,
                    move_timeout: c.library.move_timeout.0,
                })
            }
            Err(e) => match TlcdConfig::load(&path) {
                Ok(t) => Some(Target {
                    endpoints: vec![t.endpoint()],
                    drives: crate::settings::tlcd_drive_refs(&t),
                    request_timeout: t.library.request_timeout.0,
                    move_timeout: t.library.move_timeout.0,
                }),
                Err(_) if !endpoints.is_empty() => None,
                Err(_) => {
                    return Err(e).context(
                        "cannot load the tapeserver configuration (use --config FILE, --endpoint, or set TAPESERVER_CONFIG)",
                    );
                }
            },
        };
        let mut target = from_file.unwrap_or(Target {
            endpoints: Vec::new(),
            drives: Vec::new(),
            request_timeout: Duration::from_secs(10),
            move_timeout: crate::config::DEFAULT_MOVE_TIMEOUT,
        });
        if !endpoints.is_empty() {
            target.endpoints = endpoints;
        }
        Ok(target)
    }

    fn client(&self, deadline: Duration) -> ControllerClient {
        ControllerClient::new(
            self.endpoints.clone(),
            self.request_timeout,
            deadline,
            self.drives.clone(),
        )
        .failing_fast()
    }

    /// Quick requests: one round of every endpoint, a little slack.
    fn quick(&self) -> ControllerClient {
        self.client(self.request_timeout * (self.endpoints.len().max(1) as u32 + 1))
    }

    fn moves(&self) -> ControllerClient {
        self.client(self.move_timeout + self.request_timeout * 3)
    }
}

fn or_null(s: &str) -> serde_json::Value {
    if s.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::Value::String(s.to_string())
    }
}

pub fn status(target: &Target, json: bool) -> anyhow::Result<()> {
    let client = target.quick();
    let (answer, status) = client.status_report()?;
    let role = match answer.role {
        Role::Active => "active",
        Role::Standby => "standby",
        Role::Unspecified => "unknown",
    };
    let slots = |list: &[crate::proto::tlc::SlotStatus]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|s| serde_json::json!({"address": s.address, "vid": or_null(&s.vid)}))
            .collect()
    };
    if json {
        let value = serde_json::json!({
            "controller": {"endpoint": answer.endpoint, "role": role},
            "paths": status.paths.iter().map(|p| serde_json::json!({
                "device": p.device,
                "state": p.state,
                "error": or_null(&p.error),
                "vendor": or_null(&p.vendor),
                "product": or_null(&p.product),
                "serial": or_null(&p.serial),
            })).collect::<Vec<_>>(),
            "drives": status.drives.iter().map(|d| serde_json::json!({
                "name": client.drive_name(d),
                "address": d.address,
                "serial": or_null(&d.serial),
                "vid": or_null(&d.vid),
                "changing": d.changing,
            })).collect::<Vec<_>>(),
            "slots": slots(&status.slots),
            "import_export": slots(&status.import_export),
            "pickers": slots(&status.pickers),
            "requests": status.requests,
        });
        println!("{value}");
        return Ok(());
    }
    println!("controller {} ({role})", answer.endpoint);
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    println!();
    let rows: Vec<Vec<String>> = status
        .paths
        .iter()
        .map(|p| {
            vec![
                p.device.clone(),
                p.state.clone(),
                dash(format!("{} {}", p.vendor, p.product).trim()),
                dash(&p.error),
            ]
        })
        .collect();
    super::print_table(&["CHANGER PATH", "STATE", "DEVICE", "ERROR"], &rows);
    println!();
    let rows: Vec<Vec<String>> = status
        .drives
        .iter()
        .map(|d| {
            vec![
                client.drive_name(d),
                d.address.to_string(),
                dash(&d.serial),
                dash(&d.vid),
                if d.changing { "moving" } else { "-" }.to_string(),
            ]
        })
        .collect();
    super::print_table(&["DRIVE", "ELEMENT", "SERIAL", "VID", "MOVE"], &rows);
    println!();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (kind, list) in [
        ("slot", &status.slots),
        ("import/export", &status.import_export),
        ("picker", &status.pickers),
    ] {
        rows.extend(
            list.iter()
                .map(|s| vec![s.address.to_string(), kind.to_string(), dash(&s.vid)]),
        );
    }
    super::print_table(&["ELEMENT", "KIND", "VID"], &rows);
    Ok(())
}

pub fn mount(target: &Target, vid: &str, drive: &str) -> anyhow::Result<()> {
    target.moves().mount(vid, drive)?;
    println!("{vid} is in {drive}");
    Ok(())
}

pub fn dismount(target: &Target, vid: &str, drive: &str) -> anyhow::Result<()> {
    target.moves().dismount(vid, drive)?;
    println!("{vid} is out of {drive}");
    Ok(())
}

fn done(answer: crate::library::client::Answer) -> anyhow::Result<()> {
    match answer.result {
        tlc_reply::Result::Done(d) => {
            println!("{}", d.message);
            Ok(())
        }
        _ => bail!("the controller answered with something unexpected"),
    }
}

pub fn refresh(target: &Target) -> anyhow::Result<()> {
    done(
        target
            .moves()
            .call(tlc_request::Kind::Refresh(Refresh {}))?,
    )
}

pub fn path(target: &Target, device: &str, enable: bool) -> anyhow::Result<()> {
    done(target.quick().call(tlc_request::Kind::Path(PathControl {
        device: device.to_string(),
        enable,
    }))?)
}

pub fn move_medium(target: &Target, source: u16, destination: u16) -> anyhow::Result<()> {
    done(target.moves().call(tlc_request::Kind::Move(MoveMedium {
        source: u32::from(source),
        destination: u32::from(destination),
    }))?)
}

/// Every endpoint's role, active or standby, or why it did not answer.
pub fn ping(target: &Target) -> anyhow::Result<()> {
    let client = target.quick();
    let mut any = false;
    for (i, endpoint) in target.endpoints.iter().enumerate() {
        let request = TlcRequest {
            id: format!("ping-{}-{i}", std::process::id()),
            kind: Some(tlc_request::Kind::Ping(Default::default())),
        };
        match client.ask(endpoint, &request, target.request_timeout) {
            Ok(reply) => {
                any = true;
                let role = Role::try_from(reply.role).unwrap_or(Role::Unspecified);
                println!("{endpoint}: {}", role.as_str_name().to_lowercase());
            }
            Err(why) => println!("{endpoint}: {why}"),
        }
    }
    if !any {
        bail!("no library controller answered");
    }
    Ok(())
}
