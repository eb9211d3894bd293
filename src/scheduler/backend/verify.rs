//! Verification: a tape queued for it gets a verify mount when no user
//! work can use the drive (the lowest priority of all); the mount reads
//! the tape's live files, or a sample (the first, the last and others
//! spread by the mount's id), and reports the bad copies, which keep their
//! reason. A verify mount that ends without a report is queued again. One
//! pre-empted by user work reports what it found and where it got to; the
//! next verify mount of the tape goes on from there with the same sample.

use crate::scheduler::sql::{Conn, params};
use crate::scheduler::*;

/// Queues `vid` for verification (again: its sample is updated).
pub(super) fn queue_verify(
    c: &mut dyn Conn,
    vid: &str,
    sample: u64,
    by: &str,
) -> Result<(), SchedulerError> {
    if c.query_opt("SELECT 1 FROM tapes WHERE vid = $1", params![vid])?
        .is_none()
    {
        return Err(SchedulerError::UnknownTape(vid.to_string()));
    }
    c.execute(
        "INSERT INTO verify_requests (vid, sample, queued, requested_by)
         VALUES ($1, $2, ts_now(), $3)
         ON CONFLICT (vid) DO UPDATE SET sample = excluded.sample",
        params![vid, sample, by],
    )?;
    Ok(())
}

/// Queues every tape with a live file that was not verified within
/// `interval_s` (since its last verification or, never verified, its first
/// migration mount) and is not queued yet. Returns how many.
pub(super) fn queue_stale_verifications(
    c: &mut dyn Conn,
    interval_s: f64,
) -> Result<u64, SchedulerError> {
    let n = c.execute(
        "INSERT INTO verify_requests (vid, sample, queued, requested_by)
         SELECT t.vid, 0, ts_now(), $2 FROM tapes t
         WHERE t.state NOT IN ('disabled', 'broken', 'exported', 'repacking')
           AND t.vid NOT IN (SELECT vid FROM verify_requests)
           AND EXISTS (SELECT 1 FROM tape_files c JOIN archive_files f ON f.id = c.file_id
                       WHERE c.vid = t.vid AND f.deleted IS NULL)
           AND COALESCE(t.last_verified,
                        (SELECT MIN(m.started) FROM mounts m
                         WHERE m.vid = t.vid AND m.kind = 'migration'),
                        ts_now()) <= ts_now() - $1",
        params![interval_s, SYSTEM],
    )?;
    Ok(n)
}

/// A verify mount for the oldest request whose tape can be read now.
pub(super) fn next_verify_mount(
    c: &mut dyn Conn,
    host: &str,
    drive: &str,
    generation: Option<u8>,
) -> Result<Option<Mount>, SchedulerError> {
    let mut values = Vec::new();
    let media = super::media::media_filter("t.media", generation, false, &mut values);
    let Some(r) = c.query_opt(
        &format!(
            "SELECT v.vid, t.pool FROM verify_requests v JOIN tapes t ON t.vid = v.vid
             WHERE v.mount_id IS NULL
               AND t.state NOT IN ('disabled', 'broken', 'exported', 'repacking'){media}
               AND v.vid NOT IN (SELECT vid FROM mounts WHERE ended IS NULL)
             ORDER BY v.queued LIMIT 1"
        ),
        &values,
    )?
    else {
        return Ok(None);
    };
    let (vid, pool): (String, String) = (r.get(0)?, r.get(1)?);
    let id: u64 = c
        .query_one(
            "INSERT INTO mounts (kind, vid, pool, host, drive, started, fetched)
             VALUES ($1, $2, $3, $4, $5, ts_now(), 1) RETURNING id",
            params![MountKind::Verify, &vid, &pool, host, drive],
        )?
        .get(0)?;
    c.execute(
        "UPDATE verify_requests SET mount_id = $2 WHERE vid = $1",
        params![&vid, id],
    )?;
    Ok(Some(Mount {
        id,
        kind: MountKind::Verify,
        vid,
        pool,
    }))
}

/// The files the verify mount reads, in fSeq order.
pub(super) fn fetch_verify_jobs(
    c: &mut dyn Conn,
    mount_id: u64,
) -> Result<Vec<VerifyJob>, SchedulerError> {
    let Some(r) = c.query_opt(
        "SELECT vid, sample, resume_fseq, COALESCE(seed, $1) FROM verify_requests
         WHERE mount_id = $1",
        params![mount_id],
    )?
    else {
        return Err(SchedulerError::Invalid(format!(
            "mount {mount_id} has no verification to do"
        )));
    };
    let (vid, sample, resume_fseq, seed): (String, u64, u64, u64) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    // The sample is the first mount's, so a resumed verification reads
    // the rest of the same files.
    c.execute(
        "UPDATE verify_requests SET seed = $2 WHERE mount_id = $1 AND seed IS NULL",
        params![mount_id, seed],
    )?;
    let mut jobs = Vec::new();
    for r in c.query(
        "SELECT t.file_id, t.fseq, t.block_id, f.size, f.crc32c
         FROM tape_files t JOIN archive_files f ON f.id = t.file_id
         WHERE t.vid = $1 AND f.deleted IS NULL ORDER BY t.fseq",
        params![&vid],
    )? {
        jobs.push(VerifyJob {
            file_id: r.get(0)?,
            fseq: r.get(1)?,
            block_id: r.get(2)?,
            size: r.get(3)?,
            crc32c: r.get(4)?,
        });
    }
    let mut jobs = sampled(jobs, sample, seed);
    jobs.retain(|j| j.fseq > resume_fseq);
    Ok(jobs)
}

/// Records what a pre-empted verify mount found, up to and including
/// `through_fseq`: its bad copies now, and the request queued again to go
/// on after that fSeq.
pub(super) fn yield_verify(
    c: &mut dyn Conn,
    mount_id: u64,
    vid: &str,
    bad: &[BadCopy],
    through_fseq: u64,
) -> Result<(), SchedulerError> {
    let n = c.execute(
        "UPDATE verify_requests SET mount_id = NULL, errors = errors + $3,
             resume_fseq = CASE WHEN resume_fseq > $4 THEN resume_fseq ELSE $4 END
         WHERE vid = $1 AND mount_id = $2",
        params![vid, mount_id, bad.len() as u64, through_fseq],
    )?;
    if n == 0 {
        return Err(SchedulerError::Invalid(format!(
            "mount {mount_id} no longer verifies {vid}"
        )));
    }
    mark_bad(c, vid, bad)
}

fn mark_bad(c: &mut dyn Conn, vid: &str, bad: &[BadCopy]) -> Result<(), SchedulerError> {
    for b in bad {
        c.execute(
            "UPDATE tape_files SET bad = $4 WHERE vid = $1 AND fseq = $2 AND file_id = $3",
            params![vid, b.fseq, b.file_id, &b.reason],
        )?;
    }
    Ok(())
}

/// `sample` of `jobs` (0, or at least all: every one): the first, the last
/// and the rest spread over the tape from a start the mount's id picks, so
/// successive verifications read different files.
fn sampled(jobs: Vec<VerifyJob>, sample: u64, seed: u64) -> Vec<VerifyJob> {
    let n = jobs.len() as u64;
    if sample == 0 || sample >= n {
        return jobs;
    }
    let mut keep = std::collections::BTreeSet::from([0, n - 1]);
    let stride = (n / sample).max(1);
    let mut i = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) % n;
    while (keep.len() as u64) < sample {
        keep.insert(i);
        i = (i + stride) % n;
        if keep.contains(&i) {
            i = (i + 1) % n;
        }
    }
    jobs.into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(&(*i as u64)))
        .map(|(_, j)| j)
        .collect()
}

/// Records what a verify mount found: each bad copy with its reason, the
/// tape's verification time and error count; the request is done.
pub(super) fn report_verify(
    c: &mut dyn Conn,
    mount_id: u64,
    vid: &str,
    bad: &[BadCopy],
) -> Result<(), SchedulerError> {
    // What earlier, pre-empted mounts of this verification found.
    let Some(earlier) = c.query_opt(
        "SELECT errors FROM verify_requests WHERE vid = $1 AND mount_id = $2",
        params![vid, mount_id],
    )?
    else {
        return Err(SchedulerError::Invalid(format!(
            "mount {mount_id} no longer verifies {vid}"
        )));
    };
    let earlier: u64 = earlier.get(0)?;
    c.execute(
        "DELETE FROM verify_requests WHERE vid = $1 AND mount_id = $2",
        params![vid, mount_id],
    )?;
    mark_bad(c, vid, bad)?;
    c.execute(
        "UPDATE tapes SET last_verified = ts_now(), verify_errors = $2 WHERE vid = $1",
        params![vid, earlier + bad.len() as u64],
    )?;
    // An imported tape whose VOL1 a drive has now read takes files.
    c.execute(
        "UPDATE tapes SET state = $2, reason = NULL, state_by = $3, state_since = ts_now()
         WHERE vid = $1 AND state = $4 AND reason = $5",
        params![
            vid,
            TapeState::Active,
            SYSTEM,
            TapeState::ReadOnly,
            IMPORT_PENDING
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(n: u64) -> Vec<VerifyJob> {
        (1..=n)
            .map(|fseq| VerifyJob {
                file_id: fseq,
                fseq,
                block_id: fseq,
                size: 1,
                crc32c: None,
            })
            .collect()
    }

    #[test]
    fn a_sample_holds_the_first_and_the_last_and_its_size() {
        assert_eq!(sampled(jobs(5), 0, 1).len(), 5);
        assert_eq!(sampled(jobs(5), 9, 1).len(), 5);
        for seed in 0..20 {
            let s = sampled(jobs(100), 10, seed);
            assert_eq!(s.len(), 10);
            assert_eq!(s.first().map(|j| j.fseq), Some(1));
            assert_eq!(s.last().map(|j| j.fseq), Some(100));
            assert!(s.windows(2).all(|w| w[0].fseq < w[1].fseq));
        }
        assert_eq!(sampled(jobs(3), 2, 7).len(), 2);
    }
}
