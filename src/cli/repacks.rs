//! `tapeadmin repack` and `tapeadmin repacks`.

use serde_json::json;

use crate::scheduler::{RepackInfo, RepackRequest, Scheduler};

pub fn repack(
    db: &mut dyn Scheduler,
    vid: &str,
    request: &RepackRequest,
    by: &str,
) -> anyhow::Result<()> {
    let files = db.queue_repack(vid, request, by)?;
    let to = match &request.to_pool {
        Some(pool) => format!("pool {pool}"),
        None => "each copy's route".to_string(),
    };
    println!(
        "tape {vid} queued for repack: {files} live files to {to}{}{}",
        if request.add_copies {
            ", missing copies added"
        } else {
            ""
        },
        if request.reclaim {
            "; reclaimed at the end"
        } else {
            ""
        }
    );
    Ok(())
}

fn to_json(r: &RepackInfo) -> serde_json::Value {
    json!({
        "vid": r.vid,
        "state": r.state,
        "files_total": r.files_total,
        "files_done": r.files_done,
        "files_failed": r.files_failed,
        "bytes": r.bytes,
        "queued": r.queued,
        "started": r.started,
        "ended": r.ended,
        "error": r.error,
        "to_pool": r.to_pool,
        "requested_by": r.requested_by,
    })
}

pub fn repacks(db: &mut dyn Scheduler, as_json: bool) -> anyhow::Result<()> {
    let repacks = db.repacks()?;
    if as_json {
        let list: Vec<_> = repacks.iter().map(to_json).collect();
        println!("{}", json!({ "repacks": list }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = repacks
        .iter()
        .map(|r| {
            vec![
                r.vid.clone(),
                r.state.clone(),
                format!("{}/{}", r.files_done, r.files_total),
                r.files_failed.to_string(),
                super::human_bytes(r.bytes),
                r.to_pool.clone().unwrap_or_else(|| "-".into()),
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    super::print_table(
        &[
            "VID", "STATE", "DONE", "FAILED", "BYTES", "TO POOL", "ERROR",
        ],
        &rows,
    );
    Ok(())
}
