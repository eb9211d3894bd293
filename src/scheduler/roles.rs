//! The scheduler as each of its callers sees it: one trait per caller
//! (sessions, the frontend, the parent's mount selection, operators, the
//! metrics endpoint), each method in exactly one. A caller that needs more
//! than one takes [`Scheduler`], the union every backend implements.

use std::time::Duration;

use super::*;
use crate::tape::format::LastFile;

/// What a session does with its mount: fetches its work, reports what it
/// wrote or read, claims a tape for an operator session, relabels.
pub trait SessionWork: Send {
    /// Assigns up to `max_files` / `max_bytes` (at least one file) of queued work to the mount.
    fn fetch_archive_jobs(
        &mut self,
        mount_id: u64,
        max_files: u64,
        max_bytes: u64,
    ) -> Result<Vec<ArchiveJob>, SchedulerError>;
    /// As `fetch_archive_jobs`, in fSeq order; with a disk buffer kept
    /// between watermarks, only files that fit in its room (none, if none
    /// does: the rest wait queued).
    fn fetch_recall_jobs(
        &mut self,
        mount_id: u64,
        max_files: u64,
        max_bytes: u64,
        room: Option<BufferRoom>,
    ) -> Result<Vec<RecallJob>, SchedulerError>;
    /// The files a verify mount reads (all live ones, or its sample).
    fn fetch_verify_jobs(&mut self, mount_id: u64) -> Result<Vec<VerifyJob>, SchedulerError>;
    /// Records a verify mount's bad copies and ends its request.
    fn report_verify(
        &mut self,
        mount_id: u64,
        vid: &str,
        bad: &[BadCopy],
    ) -> Result<(), SchedulerError>;
    /// A verify mount pre-empted by user work: records its bad copies and
    /// queues the verification again to go on after `through_fseq`.
    fn yield_verify(
        &mut self,
        mount_id: u64,
        vid: &str,
        bad: &[BadCopy],
        through_fseq: u64,
    ) -> Result<(), SchedulerError>;
    /// The last file the catalogue has on a tape.
    fn last_file(&mut self, vid: &str) -> Result<Option<LastFile>, SchedulerError>;
    fn tape(&mut self, vid: &str) -> Result<TapeInfo, SchedulerError>;
    /// Records flushed files and failed ones of a migration mount in one
    /// transaction. A failed file is requeued (not to this mount again)
    /// until it reaches its limit, then fails with its last reason.
    fn report_migration(
        &mut self,
        mount_id: u64,
        vid: &str,
        archived: &[ArchivedFile],
        failed: &[FailedFile],
        limits: &FileLimits,
    ) -> Result<(), SchedulerError>;
    /// Records, before a recall links its file into place, which file that
    /// is, so a retry can prove a destination is its own.
    fn stage_recall(
        &mut self,
        mount_id: u64,
        recall_id: u64,
        file: &FileIdentity,
    ) -> Result<(), SchedulerError>;
    /// Records recall outcomes (None = success) in one transaction.
    fn report_recalls(
        &mut self,
        mount_id: u64,
        results: &[(u64, RecallEnd)],
    ) -> Result<(), SchedulerError>;
    /// Closes a mount that found no work; its queue is not mounted again
    /// for the policy's `empty_backoff`.
    fn end_empty_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError>;
    /// Opens a mount of one tape for an operator session (label, readtp);
    /// fails if the tape or the drive already has an open mount.
    fn claim_tape(
        &mut self,
        host: &str,
        drive: &str,
        vid: &str,
        kind: MountKind,
    ) -> Result<u64, SchedulerError>;
    /// A relabelled tape starts empty: its files are marked lost and the
    /// recalls queued from it fail. Returns the lost files' ids.
    fn reset_tape(&mut self, vid: &str) -> Result<Vec<u64>, SchedulerError>;
    /// What a mount that ran out of work asks before keeping its tape:
    /// when the newest request for its queue (its tape's recalls, or its
    /// pool's archives) came, the time now by the same clock, and whether
    /// another queue's work waits for a drive.
    fn queue_activity(&mut self, mount_id: u64) -> Result<QueueActivity, SchedulerError>;
}

/// Bulk stage requests (the Tape REST API's STAGE through tapegw): each
/// seen, cancelled, released and deleted only by the client (`owner`) and
/// requester that made it.
pub trait StageRequests: Send {
    /// The client's newest live file archived from each of `paths` (a
    /// path of no such file is missing from the answer).
    fn files_by_paths(
        &mut self,
        owner: &str,
        paths: &[String],
    ) -> Result<std::collections::HashMap<String, FileStatus>, SchedulerError>;
    /// Records a request and queues the recalls it needs, in one
    /// transaction.
    fn create_stage(
        &mut self,
        id: &str,
        owner: &str,
        requester: &str,
        entries: &[StageEntry],
    ) -> Result<(), SchedulerError>;
    fn stage_status(
        &mut self,
        id: &str,
        owner: &str,
        requester: &str,
    ) -> Result<StageStatus, SchedulerError>;
    /// Cancels `paths` (all in the request, or nothing changes).
    fn cancel_stage(
        &mut self,
        id: &str,
        owner: &str,
        requester: &str,
        paths: &[String],
    ) -> Result<(), SchedulerError>;
    fn delete_stage(
        &mut self,
        id: &str,
        owner: &str,
        requester: &str,
    ) -> Result<(), SchedulerError>;
    /// Drops the pins of `paths` (all in the request, or nothing changes).
    fn release_stage(
        &mut self,
        id: &str,
        owner: &str,
        requester: &str,
        paths: &[String],
    ) -> Result<(), SchedulerError>;
    /// Whether a stage request still pins the file's disk copy.
    fn pinned(&mut self, file_id: u64) -> Result<bool, SchedulerError>;
}

/// The disk buffer's collector, `stager evict` and `tapeadmin buffer`.
pub trait BufferKeeping: Send {
    /// Up to `limit` disk copies beneath the directory `beneath` that may
    /// be evicted (on tape, not pinned), least recently used first.
    fn eviction_candidates(
        &mut self,
        beneath: &str,
        limit: u64,
    ) -> Result<Vec<EvictionCandidate>, SchedulerError>;
    /// Records the file's disk copy evicted if it may go: called before
    /// the copy is removed, so no stage request pins it meanwhile.
    fn claim_eviction(&mut self, file_id: u64) -> Result<EvictionClaim, SchedulerError>;
    /// A claimed copy was kept after all.
    fn unclaim_eviction(&mut self, file_id: u64) -> Result<(), SchedulerError>;
    /// Recalls' space: reserved by mounts, and wanted by queued ones.
    fn recall_demand(&mut self) -> Result<RecallDemand, SchedulerError>;
    /// The files beneath `beneath` by what holds them on disk.
    fn buffer_usage(&mut self, beneath: &str) -> Result<BufferUsage, SchedulerError>;
}

/// What stagers ask through the frontend: queue work, see files, recalls
/// and tapes.
pub trait StagerRequests: StageRequests + BufferKeeping + Send {
    /// Queues files for migration in one transaction; returns their ids in
    /// order. Each file belongs to its `owner`.
    fn queue_archive(
        &mut self,
        files: &[NewArchiveFile],
        pool: &str,
    ) -> Result<Vec<u64>, SchedulerError>;
    /// Queues a recall of one of `owner`'s files (another owner's is
    /// `UnknownFile`, as a file that does not exist).
    fn queue_recall(
        &mut self,
        owner: &str,
        file_id: u64,
        destination: &str,
    ) -> Result<RecallTicket, SchedulerError>;
    /// `owner`'s files by id; no ids: a page of them.
    fn files_of(
        &mut self,
        owner: &str,
        ids: &[u64],
        page: Page,
    ) -> Result<Vec<FileStatus>, SchedulerError>;
    /// Recalls of `owner`'s files by id; no ids: a page of them.
    fn recalls_of(
        &mut self,
        owner: &str,
        ids: &[u64],
        page: Page,
    ) -> Result<Vec<RecallStatus>, SchedulerError>;
    fn tapes(&mut self) -> Result<Vec<TapeInfo>, SchedulerError>;
    /// Queues files of a storage class: a queue entry per copy, each in the
    /// pool its route names; on tape once every copy is.
    fn queue_archive_class(
        &mut self,
        files: &[NewArchiveFile],
        class: &str,
    ) -> Result<Vec<u64>, SchedulerError>;
    /// Every copy of one of `owner`'s files.
    fn copies_of(&mut self, owner: &str, file_id: u64) -> Result<Vec<CopyInfo>, SchedulerError>;
    /// The copies of files already read through `files_of` (so `owner`'s).
    fn copies_of_files(
        &mut self,
        file_ids: &[u64],
    ) -> Result<std::collections::HashMap<u64, Vec<CopyInfo>>, SchedulerError>;
    /// Deletes `owner`'s files (all or none; a deleted one again is not an
    /// error): never recalled again, a queued archive cancelled, queued
    /// recalls failed. `by` is kept with the deletion.
    fn delete_files(
        &mut self,
        owner: &str,
        ids: &[u64],
        by: &str,
    ) -> Result<Vec<u64>, SchedulerError>;
    /// `owner`'s files on a tape, a page at a time.
    fn tape_files_of(
        &mut self,
        owner: &str,
        vid: &str,
        page: Page,
    ) -> Result<Vec<TapeFile>, SchedulerError>;
}

/// What the parent's scheduler thread does: pick mounts for free drives,
/// close them, hold a tape, count a killed session's attempt, and keep
/// the drive leases between hosts.
pub trait MountSelection: Send {
    /// User work a drive would be given now if one were free, and the tapes
    /// with user recalls waiting that background mounts (verify, repack)
    /// hold: what background sessions yield to.
    fn user_work_due(&mut self, policy: &MountPolicy) -> Result<UserWork, SchedulerError>;
    /// Picks work for a free drive and records the mount; a tape with an
    /// open mount is never picked.
    fn next_mount(
        &mut self,
        host: &str,
        drive: &str,
        policy: &MountPolicy,
    ) -> Result<Option<Mount>, SchedulerError>;
    /// A session was killed while on this file (its disk side hung): one
    /// attempt; at the limit the file fails with `reason`.
    fn count_attempt(
        &mut self,
        mount_id: u64,
        file_id: u64,
        reason: &str,
        limits: &FileLimits,
    ) -> Result<(), SchedulerError>;
    /// Closes a mount and requeues whatever it had not reported.
    fn end_mount(&mut self, mount_id: u64) -> Result<(), SchedulerError>;
    /// Requeues the unreported work of a drive's mounts but keeps them
    /// open: the cartridge is stuck in the drive, so neither the drive nor
    /// the tape may be given out until a cleaner or an operator closes them.
    fn release_work_of_drive(
        &mut self,
        host: &str,
        drive: &str,
    ) -> Result<Vec<u64>, SchedulerError>;
    /// Closes every open mount of a drive (after a crash); returns their ids.
    fn end_mounts_of_drive(&mut self, host: &str, drive: &str) -> Result<Vec<u64>, SchedulerError>;
    /// Every open mount, of every host.
    fn open_mounts(&mut self) -> Result<Vec<OpenMount>, SchedulerError>;
    /// This host holds its drives for `ttl` more: while a lease runs, no
    /// other server touches the drive's mounts.
    fn renew_leases(
        &mut self,
        host: &str,
        drives: &[String],
        ttl: Duration,
    ) -> Result<(), SchedulerError>;
    /// Queues for verification the tapes not verified within `interval`
    /// (`[verify] interval`); returns how many.
    fn queue_stale_verifications(&mut self, interval: Duration) -> Result<u64, SchedulerError>;
    /// Records each of this host's drives' LTO generation (None: unknown)
    /// with its lease: the scheduler offers a drive only tapes it can use.
    fn set_drive_models(
        &mut self,
        host: &str,
        models: &[(String, Option<String>)],
    ) -> Result<(), SchedulerError>;
    /// Moves every repack on: reads done go to the archive queues, new
    /// files are read while the buffer has room, finished repacks end.
    /// Returns buffer files that may be removed (then `buffers_removed`).
    fn advance_repacks(&mut self, settings: &RepackSettings)
    -> Result<Vec<String>, SchedulerError>;
    /// These buffer files are gone: their room in the buffer is free.
    fn buffers_removed(&mut self, paths: &[String]) -> Result<(), SchedulerError>;
    /// Open mounts of other hosts' drives whose lease ran out.
    fn expired_mounts(&mut self, host: &str) -> Result<Vec<OpenMount>, SchedulerError>;
    /// The leases any host holds or held on drives of these names: who
    /// drives them (a daemon refuses a drive another live host holds).
    fn drive_leases(&mut self, drives: &[String]) -> Result<Vec<DriveLease>, SchedulerError>;
}

/// What operators do with `tapeadmin` (and `init`): pools, tapes and
/// their states, cancelling queued work, the mount history.
pub trait Administration: Send {
    /// Files by id, whoever owns them; no ids: every file.
    fn file_status(&mut self, ids: &[u64]) -> Result<Vec<FileStatus>, SchedulerError>;
    /// Recalls by id, whoever asked; no ids: every recall.
    fn recall_status(&mut self, ids: &[u64]) -> Result<Vec<RecallStatus>, SchedulerError>;
    /// Every file on a tape.
    fn tape_files(&mut self, vid: &str) -> Result<Vec<TapeFile>, SchedulerError>;
    fn add_pool(&mut self, name: &str) -> Result<(), SchedulerError>;
    /// Registers a labelled, empty cartridge; a VID already known is left as is.
    fn add_tape(&mut self, vid: &str, pool: &str, capacity: u64) -> Result<(), SchedulerError>;
    fn set_tape_state(
        &mut self,
        vid: &str,
        state: TapeState,
        reason: &str,
    ) -> Result<(), SchedulerError>;
    fn pools(&mut self) -> Result<Vec<PoolInfo>, SchedulerError>;
    /// Takes a queued archive off the queue (it fails, "cancelled").
    fn cancel_archive(&mut self, file_id: u64) -> Result<(), SchedulerError>;
    /// Fails a queued recall ("cancelled").
    fn cancel_recall(&mut self, recall_id: u64) -> Result<(), SchedulerError>;
    /// Queues a failed archive again with its attempts reset.
    fn retry_archive(&mut self, file_id: u64) -> Result<(), SchedulerError>;
    /// Queues a failed recall again with its attempts reset (its file must
    /// still be on tape).
    fn retry_recall(&mut self, recall_id: u64) -> Result<(), SchedulerError>;
    /// Every mount recorded, oldest first.
    fn mount_history(&mut self) -> Result<Vec<MountRecord>, SchedulerError>;
    /// Marks a tape exported (no mount offered it) before its cartridge
    /// leaves `home_slot`; refused while mounted. Returns its state before.
    fn begin_export(
        &mut self,
        vid: &str,
        home_slot: u16,
        by: &str,
    ) -> Result<TapeState, SchedulerError>;
    /// An exported tape is back: its state before the export returns;
    /// returns the slot it came from.
    fn finish_import(&mut self, vid: &str, by: &str) -> Result<Option<u16>, SchedulerError>;
    /// Sets a tape's media type (L8, L9, LTO9...; None: unknown).
    fn set_tape_media(&mut self, vid: &str, media: Option<&str>) -> Result<(), SchedulerError>;
    /// Queues a tape for verification (`sample` files; 0: all), by `by`.
    fn queue_verify(&mut self, vid: &str, sample: u64, by: &str) -> Result<(), SchedulerError>;
    /// As `set_tape_state`, saying who (an operator's login).
    fn set_tape_state_by(
        &mut self,
        vid: &str,
        state: TapeState,
        reason: &str,
        by: &str,
    ) -> Result<(), SchedulerError>;
    /// Brings a deleted file back, within `retention` of its deletion and
    /// while its tape was not reclaimed.
    fn undelete(&mut self, file_id: u64, retention: Duration) -> Result<(), SchedulerError>;
    /// A storage class of `copies` copies (routes to be added).
    fn add_class(&mut self, name: &str, copies: u64) -> Result<(), SchedulerError>;
    /// Sends copy `copy_nb` of `class` to `pool` (each copy its own pool).
    fn add_route(&mut self, class: &str, copy_nb: u64, pool: &str) -> Result<(), SchedulerError>;
    fn classes(&mut self) -> Result<Vec<StorageClass>, SchedulerError>;
    /// Moves a tape that holds no live copy to another pool.
    fn move_tape(&mut self, vid: &str, pool: &str) -> Result<(), SchedulerError>;
    /// Empties a tape that holds no live copy; its next write mount starts
    /// at fSeq 1. Returns the deleted files' copies forgotten.
    fn reclaim(&mut self, vid: &str) -> Result<u64, SchedulerError>;
    /// Queues a repack of a tape (it goes `repacking`); returns how many
    /// live files it moves.
    fn queue_repack(
        &mut self,
        vid: &str,
        request: &RepackRequest,
        by: &str,
    ) -> Result<u64, SchedulerError>;
    /// Every repack, oldest first.
    fn repacks(&mut self) -> Result<Vec<RepackInfo>, SchedulerError>;
}

/// What the metrics endpoint reads.
pub trait MetricsSource: Send {
    /// Queued work per pool (archives) and per tape (recalls).
    fn queues(&mut self) -> Result<Vec<QueueInfo>, SchedulerError>;
    /// Drives in use now per pool: (reading, writing).
    fn pool_drives(&mut self) -> Result<super::policy::PoolDrives, SchedulerError>;
}

/// Everything: what a backend implements, and what a caller that plays
/// several roles takes.
pub trait Scheduler:
    SessionWork + StagerRequests + MountSelection + Administration + MetricsSource
{
}

impl<T: SessionWork + StagerRequests + MountSelection + Administration + MetricsSource> Scheduler
    for T
{
}
