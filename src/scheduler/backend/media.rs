//! Media generations in the scheduler: the drive's generation (kept with
//! its lease) limits which tapes it is offered; a queue no live drive can
//! serve says so.

use crate::scheduler::sql::{Conn, Value, params};
use crate::scheduler::*;
use crate::tape::media::{Media, can_read, can_write, codes_for, drive_generation};

/// The LTO generation of a drive, if its server told it.
pub(super) fn drive_model(
    c: &mut dyn Conn,
    host: &str,
    drive: &str,
) -> Result<Option<u8>, SchedulerError> {
    Ok(c.query_opt(
        "SELECT model FROM drive_leases WHERE host = $1 AND drive = $2",
        params![host, drive],
    )?
    .map(|r| r.get::<Option<String>>(0))
    .transpose()?
    .flatten()
    .and_then(|m| drive_generation(&m)))
}

/// An SQL condition on `column` (a tape's media) for a drive of
/// `generation` (None: any tape), its values appended to `values`.
pub(super) fn media_filter(
    column: &str,
    generation: Option<u8>,
    write: bool,
    values: &mut Vec<Value>,
) -> String {
    let Some(g) = generation else {
        return String::new();
    };
    let codes = codes_for(g, write);
    let mut list = Vec::with_capacity(codes.len());
    for code in codes {
        values.push(Value::from(code));
        list.push(format!("${}", values.len()));
    }
    if list.is_empty() {
        return format!(" AND {column} IS NULL");
    }
    format!(
        " AND ({column} IS NULL OR {column} IN ({}))",
        list.join(", ")
    )
}

/// Records each drive's generation with this host's leases.
pub(super) fn set_drive_models(
    c: &mut dyn Conn,
    host: &str,
    models: &[(String, Option<String>)],
) -> Result<(), SchedulerError> {
    for (drive, model) in models {
        c.execute(
            "UPDATE drive_leases SET model = $3 WHERE host = $1 AND drive = $2",
            params![host, drive.as_str(), model.as_deref()],
        )?;
    }
    Ok(())
}

/// Sets a tape's media type (None: unknown, any drive).
pub(super) fn set_tape_media(
    c: &mut dyn Conn,
    vid: &str,
    media: Option<&str>,
) -> Result<(), SchedulerError> {
    let code = match media {
        None => None,
        Some(m) => Some(
            Media::parse(m)
                .ok_or_else(|| {
                    SchedulerError::Invalid(format!(
                        "media {m:?}: expected an LTO type such as L8, L9, LA, M8 or LTO9"
                    ))
                })?
                .code(),
        ),
    };
    let n = c.execute(
        "UPDATE tapes SET media = $2 WHERE vid = $1",
        params![vid, code.as_deref()],
    )?;
    if n == 0 {
        return Err(SchedulerError::UnknownTape(vid.into()));
    }
    Ok(())
}

/// Marks the queues no live drive can serve: the live drives' generations
/// are all known and none reads (recall) or writes (archive: any usable
/// tape of the pool) the queue's tapes.
pub(super) fn mark_servable(
    c: &mut dyn Conn,
    queues: &mut [QueueInfo],
) -> Result<(), SchedulerError> {
    let mut generations = Vec::new();
    for r in c.query(
        "SELECT model FROM drive_leases WHERE expires > ts_now()",
        params![],
    )? {
        match r
            .get::<Option<String>>(0)?
            .and_then(|m| drive_generation(&m))
        {
            Some(g) => generations.push(g),
            // A drive of unknown generation may serve anything.
            None => return Ok(()),
        }
    }
    if generations.is_empty() {
        return Ok(());
    }
    for q in queues.iter_mut() {
        let media: Vec<Option<Media>> = match &q.vid {
            Some(vid) => c
                .query(
                    "SELECT media FROM tapes WHERE vid = $1",
                    params![vid.as_str()],
                )?
                .iter()
                .map(|r| {
                    r.get::<Option<String>>(0)
                        .map(|m| m.and_then(|m| Media::parse(&m)))
                })
                .collect::<Result<_, _>>()?,
            None => c
                .query(
                    "SELECT media FROM tapes WHERE pool = $1 AND state = 'active'",
                    params![q.pool.as_str()],
                )?
                .iter()
                .map(|r| {
                    r.get::<Option<String>>(0)
                        .map(|m| m.and_then(|m| Media::parse(&m)))
                })
                .collect::<Result<_, _>>()?,
        };
        let write = q.vid.is_none();
        q.servable = media.iter().any(|m| match m {
            None => true,
            Some(m) => generations.iter().any(|&g| {
                if write {
                    can_write(g, *m)
                } else {
                    can_read(g, *m)
                }
            }),
        });
    }
    Ok(())
}

/// Marks a tape exported before its cartridge leaves: no mount is offered
/// it from now on. Refused while it is mounted. Returns the state it had.
pub(super) fn begin_export(
    c: &mut dyn Conn,
    vid: &str,
    home_slot: u16,
    by: &str,
) -> Result<TapeState, SchedulerError> {
    let Some(r) = c.query_opt(
        "SELECT state, (SELECT COUNT(*) FROM mounts m WHERE m.vid = tapes.vid AND m.ended IS NULL)
         FROM tapes WHERE vid = $1 FOR UPDATE",
        params![vid],
    )?
    else {
        return Err(SchedulerError::UnknownTape(vid.into()));
    };
    let (state, open): (TapeState, u64) = (r.get(0)?, r.get(1)?);
    if state == TapeState::Exported {
        return Err(SchedulerError::Invalid(format!(
            "tape {vid} is already exported"
        )));
    }
    if open > 0 {
        return Err(SchedulerError::TapeBusy(vid.into()));
    }
    c.execute(
        "UPDATE tapes SET state = $2, reason = $3, state_by = $4, state_since = ts_now(),
             home_slot = $5, state_before_export = $6 WHERE vid = $1",
        params![
            vid,
            TapeState::Exported,
            "exported: outside the library",
            by,
            u64::from(home_slot),
            state
        ],
    )?;
    Ok(state)
}

/// An exported tape is back in the library: its state before the export
/// returns. Returns the slot it came from, if known.
pub(super) fn finish_import(
    c: &mut dyn Conn,
    vid: &str,
    by: &str,
) -> Result<Option<u16>, SchedulerError> {
    let Some(r) = c.query_opt(
        "SELECT state, state_before_export, home_slot FROM tapes WHERE vid = $1 FOR UPDATE",
        params![vid],
    )?
    else {
        return Err(SchedulerError::UnknownTape(vid.into()));
    };
    let (state, before, home): (TapeState, Option<TapeState>, Option<u64>) =
        (r.get(0)?, r.get(1)?, r.get(2)?);
    if state != TapeState::Exported {
        return Err(SchedulerError::Invalid(format!(
            "tape {vid} is {state}, not exported"
        )));
    }
    let back = before.unwrap_or(TapeState::Active);
    c.execute(
        "UPDATE tapes SET state = $2, reason = CASE WHEN $2 = 'active' THEN NULL ELSE $3 END,
             state_by = $4, state_since = ts_now(), home_slot = NULL, state_before_export = NULL
         WHERE vid = $1",
        params![vid, back, "imported", by],
    )?;
    Ok(home.and_then(|h| u16::try_from(h).ok()))
}
