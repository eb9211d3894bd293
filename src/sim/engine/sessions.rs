//! What a simulated drive does with its mount, step by step, as a session
//! would: a migration writes bulks at the end of the tape and flushes; a
//! recall reads its files in the recommended access order; a repack's
//! reads and a verification take a file a step and yield when user work
//! waits; with nothing to do, the tape stays while requests for it come
//! (lazy dismount).

use super::{Activity, Engine, Mounted};
use crate::scheduler::{BadCopy, SchedulerError};

impl Engine<'_> {
    /// A migration's next bulk: written at the end of the tape, flushed
    /// every `flush_files` or `flush_bytes`; None when the session ends.
    pub(super) fn write(&mut self, m: &mut Mounted) -> Result<Option<f64>, SchedulerError> {
        let shape = &self.w.session;
        let jobs = self
            .db
            .fetch_archive_jobs(m.mount.id, shape.bulk_files, shape.bulk_bytes.0)?;
        let mut t = self.now();
        if jobs.is_empty() {
            if !m.unflushed.is_empty() {
                t += self.flush(m, t);
                return Ok(Some(t));
            }
            return self.linger(m);
        }
        m.idle_from = None;
        let end = self.lib.end_of_data(&m.mount.vid);
        if m.head != end {
            let locate = self.p.locate_bytes(m.head, end).as_secs_f64();
            m.step.positioning += locate;
            t += locate;
        }
        for job in jobs {
            let file = self
                .lib
                .append(&m.mount.vid, job.file_id, job.size, shape.block_size.0);
            let s = self.p.transfer(job.size, self.p.rate).as_secs_f64();
            m.step.streaming += s;
            t += s;
            m.head = self.lib.end_of_data(&m.mount.vid);
            m.unflushed_bytes += job.size;
            m.unflushed.push(file);
            if m.unflushed.len() as u64 >= shape.flush_files
                || m.unflushed_bytes >= shape.flush_bytes.0
            {
                t += self.flush(m, t);
            }
        }
        Ok(Some(t))
    }

    /// A synchronous file mark: what was written is durable (reported at
    /// the next step). Returns its time.
    pub(super) fn flush(&mut self, m: &mut Mounted, t: f64) -> f64 {
        let f = self.p.flush.as_secs_f64();
        m.step.positioning += f;
        m.step.bytes += m.unflushed_bytes;
        m.step.files += m.unflushed.len() as u64;
        m.archived
            .extend(m.unflushed.drain(..).map(|file| (file, t + f)));
        m.unflushed_bytes = 0;
        f
    }

    /// A recall (or a repack's read) mount's next files, in the
    /// recommended access order; a background read takes one file a step
    /// and yields when user work waits.
    pub(super) fn read(
        &mut self,
        m: &mut Mounted,
        background: bool,
    ) -> Result<Option<f64>, SchedulerError> {
        if background && self.must_yield(m)? {
            return Ok(None);
        }
        if m.recalls.is_empty() {
            let shape = &self.w.session;
            let jobs = self.db.fetch_recall_jobs(
                m.mount.id,
                shape.bulk_files,
                shape.bulk_bytes.0,
                None,
            )?;
            if jobs.is_empty() {
                return self.linger(m);
            }
            // Read from the back: the first to read is popped last.
            let mut ordered = m.access.order(jobs);
            ordered.reverse();
            m.recalls = ordered;
        }
        let mut t = self.now();
        m.idle_from = None;
        let take = if background { 1 } else { m.recalls.len() };
        for _ in 0..take {
            let Some(job) = m.recalls.pop() else { break };
            let at = job
                .block_id
                .saturating_mul(job.block_size.unwrap_or(self.w.session.block_size.0));
            let locate = self.p.locate_bytes(m.head, at).as_secs_f64();
            let s = self.p.transfer(job.size, self.p.rate).as_secs_f64();
            m.step.positioning += locate;
            m.step.streaming += s;
            t += locate + s;
            m.head = at + job.size;
            m.step.files += 1;
            m.step.bytes += job.size;
            m.recalled.push((job.recall_id, t, job.size));
        }
        Ok(Some(t))
    }

    /// A verify mount reads one file a step and yields when user work
    /// waits.
    pub(super) fn verify(&mut self, m: &mut Mounted) -> Result<Option<f64>, SchedulerError> {
        if m.verify.is_none() {
            m.verify = Some((self.db.fetch_verify_jobs(m.mount.id)?, 0));
        }
        let next = match &m.verify {
            Some((jobs, i)) => jobs.get(*i).cloned(),
            None => None,
        };
        let Some(job) = next else {
            self.db
                .report_verify(m.mount.id, &m.mount.vid, &[] as &[BadCopy])?;
            self.background_left = self.background_left.saturating_sub(1);
            self.tally.end = self.tally.end.max(self.now());
            return Ok(None);
        };
        if self.must_yield(m)? {
            let through = match &m.verify {
                Some((jobs, i)) if *i > 0 => jobs[*i - 1].fseq,
                _ => 0,
            };
            self.db
                .yield_verify(m.mount.id, &m.mount.vid, &[], through)?;
            return Ok(None);
        }
        let at = job.block_id.saturating_mul(self.w.session.block_size.0);
        let locate = self.p.locate_bytes(m.head, at).as_secs_f64();
        let s = self.p.transfer(job.size, self.p.rate).as_secs_f64();
        m.step.positioning += locate;
        m.step.streaming += s;
        m.head = at + job.size;
        m.step.files += 1;
        m.step.bytes += job.size;
        if let Some((_, i)) = &mut m.verify {
            *i += 1;
        }
        Ok(Some(self.now() + locate + s))
    }

    /// Whether a background mount yields now, as the daemon decides: user
    /// work waits for its tape, or has reached its maximum age and no drive
    /// is free.
    pub(super) fn must_yield(&mut self, m: &Mounted) -> Result<bool, SchedulerError> {
        let d = m.drive;
        let work = self.db.user_work_due(&self.policy)?;
        let free = self.busy.iter().any(|b| !b);
        let yields = work.held_tapes.contains(&m.mount.vid) || (work.overdue && !free);
        if yields {
            self.tally.preemptions += 1;
            self.user_turn[d] = true;
        }
        Ok(yields)
    }

    /// Nothing to do now: the tape stays up to `keep_mounted` from when
    /// work ran out, as the scheduler's rule says (asked again a quarter of
    /// it later), else it goes.
    pub(super) fn linger(&mut self, m: &mut Mounted) -> Result<Option<f64>, SchedulerError> {
        let t = self.now();
        let keep = self.keep.as_secs_f64();
        let idle_from = *m.idle_from.get_or_insert(t);
        if keep <= 0.0 || t - idle_from >= keep || m.activity == Activity::Verify {
            return Ok(None);
        }
        if !self.db.queue_activity(m.mount.id)?.keeps_tape(keep) {
            return Ok(None);
        }
        let poll = (keep / 4.0).clamp(0.05, 1.0);
        Ok(Some(t + poll))
    }
}
