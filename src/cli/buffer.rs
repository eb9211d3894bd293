//! `tapeadmin buffer`: the disk buffer's filesystem and what holds it
//! (pinned copies, files not yet on tape, space reserved by recalls),
//! with the watermarks the collector keeps it between.

use serde_json::json;

use crate::config::Config;
use crate::disk_buffer::Space;
use crate::scheduler::Scheduler;

pub fn report(db: &mut dyn Scheduler, config: &Config, as_json: bool) -> anyhow::Result<()> {
    let Some(path) =
        crate::disk_buffer::path(config).or_else(|| config.paths.archive_roots.first().cloned())
    else {
        anyhow::bail!("no disk buffer: neither [buffer] path nor [paths] archive_roots is set");
    };
    let space = Space::of(&path)
        .map_err(|e| anyhow::anyhow!("cannot measure the buffer at {}: {e}", path.display()))?;
    let u = db.buffer_usage(&path.display().to_string())?;
    let marks = config
        .buffer
        .as_ref()
        .map(|b| (b.high_watermark, b.low_watermark));
    let room = marks.map(|(high, _)| space.room(high).left(u.reserved_bytes));
    if as_json {
        println!(
            "{}",
            json!({
                "path": path.display().to_string(),
                "capacity_bytes": space.capacity,
                "used_bytes": space.used,
                "used_percent": (space.percent_used() * 10.0).round() / 10.0,
                "high_watermark_percent": marks.map(|(h, _)| h.0),
                "low_watermark_percent": marks.map(|(_, l)| l.0),
                "recall_room_bytes": room,
                "pinned_files": u.pinned_files,
                "pinned_bytes": u.pinned_bytes,
                "not_on_tape_files": u.unmigrated_files,
                "not_on_tape_bytes": u.unmigrated_bytes,
                "reserved_files": u.reserved_files,
                "reserved_bytes": u.reserved_bytes,
                "evicted_files": u.evicted_files,
                "evicted_bytes": u.evicted_bytes,
            })
        );
        return Ok(());
    }
    let h = super::human_bytes;
    println!("buffer        {}", path.display());
    println!(
        "used          {} of {} ({:.1}%)",
        h(space.used),
        h(space.capacity),
        space.percent_used()
    );
    match (marks, room) {
        (Some((high, low)), Some(room)) => {
            println!(
                "watermarks    {}% high, {}% low (the collector evicts from high down to low)",
                high.0, low.0
            );
            println!("recall room   {}", h(room));
        }
        _ => println!("watermarks    none ([buffer] unset: nothing is evicted unless asked)"),
    }
    let rows = vec![
        row("pinned", u.pinned_files, u.pinned_bytes),
        row("not on tape", u.unmigrated_files, u.unmigrated_bytes),
        row("reserved", u.reserved_files, u.reserved_bytes),
        row("evicted", u.evicted_files, u.evicted_bytes),
    ];
    super::print_table(&["HELD BY", "FILES", "BYTES"], &rows);
    Ok(())
}

fn row(what: &str, files: u64, bytes: u64) -> Vec<String> {
    vec![
        what.to_string(),
        files.to_string(),
        super::human_bytes(bytes),
    ]
}
