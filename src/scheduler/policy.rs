//! Mount policy: when a queue is worth a mount, and which queue goes
//! first. Per activity (archive, recall) with per-pool overrides; a recall
//! queue is one tape's, under its pool's policy.

use std::collections::BTreeMap;
use std::time::Duration;

use super::MountKind;
use crate::tape::time_model::{LTO9, Profile};

/// What the ranking reckons a mount costs a drive: the robot, the load and
/// the unload; a locate per file read; the bytes at the streaming rate
/// (the time model's figures for the site's drives, LTO-9's by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountCost {
    pub mount: Duration,
    pub locate: Duration,
    /// Bytes per second.
    pub rate: u64,
}

impl MountCost {
    pub fn of(p: &Profile) -> Self {
        Self {
            mount: p.remount(),
            // From the middle of the first wrap to the middle of the tape.
            locate: p.locate_bytes(p.capacity / p.wraps as u64 / 2, p.capacity / 2),
            rate: p.rate as u64,
        }
    }
}

impl Default for MountCost {
    fn default() -> Self {
        Self::of(&LTO9)
    }
}

/// When one queue is worth a mount, and how it ranks against others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePolicy {
    /// Mount once this many files are queued...
    pub min_files: u64,
    /// ...or this many bytes...
    pub min_bytes: u64,
    /// ...and the oldest request is at least this old (mounts cost minutes;
    /// a queue can wait for company).
    pub min_age: Duration,
    /// A request this old gets a mount whatever the counts: no drive idles
    /// while one waits that long.
    pub max_age: Duration,
    /// Higher first, among queues that are not overdue.
    pub priority: i64,
}

/// A pool's own policies; what it leaves out comes from the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolPolicy {
    pub archive: Option<QueuePolicy>,
    pub recall: Option<QueuePolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPolicy {
    pub archive: QueuePolicy,
    pub recall: QueuePolicy,
    pub pools: BTreeMap<String, PoolPolicy>,
    /// A queue whose last mount found nothing is not mounted again for this long.
    pub empty_backoff: Duration,
    /// At most this many drives read for repacks at once (`[repack] max_drives`).
    pub repack_max_drives: u64,
    /// Background work (repacks, verifications) may have the drive.
    pub background: bool,
    /// What a mount is reckoned to cost, to rank the queues that are due.
    pub cost: MountCost,
    /// Groups of pools that split contended drives by weight.
    pub shares: Vec<Share>,
    /// The disk buffer recalls write into, when it is kept between
    /// watermarks: a tape is mounted to recall only if a file fits.
    pub recall_room: Option<super::BufferRoom>,
}

/// A group of pools sharing drives (`[[scheduler.shares]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub name: String,
    pub pools: std::collections::BTreeSet<String>,
    pub max_read_drives: Option<u64>,
    pub max_write_drives: Option<u64>,
    pub weight: u64,
}

/// Drives in use now per pool: (reading, writing).
pub type PoolDrives = BTreeMap<String, (u64, u64)>;

impl MountPolicy {
    /// The share a pool belongs to.
    pub fn share_of(&self, pool: &str) -> Option<&Share> {
        self.shares.iter().find(|s| s.pools.contains(pool))
    }

    /// Drives a share reads and writes with now.
    pub fn share_drives(&self, share: &Share, drives: &PoolDrives) -> (u64, u64) {
        share
            .pools
            .iter()
            .filter_map(|p| drives.get(p))
            .fold((0, 0), |(r, w), (pr, pw)| (r + pr, w + pw))
    }

    /// For a queue: whether its share is at its maximum for the queue's
    /// direction, and the drives it uses per unit of weight (0 outside any
    /// share).
    fn load(&self, c: &Candidate, drives: &PoolDrives) -> (bool, f64) {
        let Some(share) = self.share_of(&c.pool) else {
            return (false, 0.0);
        };
        let (read, write) = self.share_drives(share, drives);
        let (used, max) = match c.kind {
            MountKind::Migration => (write, share.max_write_drives),
            _ => (read, share.max_read_drives),
        };
        (
            max.is_some_and(|m| used >= m),
            (read + write) as f64 / share.weight.max(1) as f64,
        )
    }
}

impl MountPolicy {
    /// The same thresholds for every queue, no minimum age, one priority.
    pub fn uniform(
        min_files: u64,
        min_bytes: u64,
        max_age: Duration,
        empty_backoff: Duration,
    ) -> Self {
        let queue = QueuePolicy {
            min_files,
            min_bytes,
            min_age: Duration::ZERO,
            max_age,
            priority: 0,
        };
        Self {
            archive: queue.clone(),
            recall: queue,
            pools: BTreeMap::new(),
            empty_backoff,
            repack_max_drives: 1,
            background: true,
            cost: MountCost::default(),
            shares: Vec::new(),
            recall_room: None,
        }
    }

    /// For a drive a background session gave up to user work: every user
    /// queue with work is worth its mount now, whatever its thresholds, and
    /// background work waits until no user work is left. The drive serves
    /// user work in turn instead of each queue pre-empting another
    /// background session when it comes of age.
    pub fn user_turn(&self) -> Self {
        let eager = |q: &QueuePolicy| QueuePolicy {
            min_files: 1,
            min_bytes: 1,
            min_age: Duration::ZERO,
            ..q.clone()
        };
        Self {
            archive: eager(&self.archive),
            recall: eager(&self.recall),
            pools: self
                .pools
                .iter()
                .map(|(name, p)| {
                    (
                        name.clone(),
                        PoolPolicy {
                            archive: p.archive.as_ref().map(eager),
                            recall: p.recall.as_ref().map(eager),
                        },
                    )
                })
                .collect(),
            empty_backoff: self.empty_backoff,
            repack_max_drives: self.repack_max_drives,
            background: false,
            cost: self.cost,
            shares: self.shares.clone(),
            recall_room: self.recall_room,
        }
    }

    /// The policy of one queue: a pool's archives, or recalls from a tape of `pool`.
    pub fn queue(&self, kind: MountKind, pool: &str) -> &QueuePolicy {
        let own = self.pools.get(pool);
        match kind {
            MountKind::Recall => own.and_then(|p| p.recall.as_ref()).unwrap_or(&self.recall),
            _ => own
                .and_then(|p| p.archive.as_ref())
                .unwrap_or(&self.archive),
        }
    }
}

/// A queue that could get a mount.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub kind: MountKind,
    /// The tape for recalls, the pool for migrations.
    pub key: String,
    pub pool: String,
    pub files: u64,
    pub bytes: u64,
    /// When its oldest request was queued (seconds since the epoch).
    pub oldest: f64,
}

impl Candidate {
    fn age(&self, now: f64) -> f64 {
        (now - self.oldest).max(0.0)
    }

    /// Its oldest request has waited as long as its activity allows.
    pub fn overdue(&self, policy: &MountPolicy, now: f64) -> bool {
        self.age(now) >= policy.queue(self.kind, &self.pool).max_age.as_secs_f64()
    }

    /// The drive time its mount is reckoned to take, in seconds: the
    /// mount, a locate per file to read (one to the end of the data for a
    /// migration) and the bytes at the streaming rate.
    pub fn drive_seconds(&self, cost: &MountCost) -> f64 {
        let locates = match self.kind {
            MountKind::Migration => 1,
            _ => self.files.max(1),
        };
        cost.mount.as_secs_f64()
            + locates as f64 * cost.locate.as_secs_f64()
            + self.bytes as f64 / cost.rate.max(1) as f64
    }

    /// Bytes moved per second of drive time its mount would take.
    pub fn value(&self, cost: &MountCost) -> f64 {
        self.bytes as f64 / self.drive_seconds(cost)
    }

    pub fn worth_mounting(&self, policy: &MountPolicy, now: f64) -> bool {
        let p = policy.queue(self.kind, &self.pool);
        self.overdue(policy, now)
            || (self.age(now) >= p.min_age.as_secs_f64()
                && (self.files >= p.min_files || self.bytes >= p.min_bytes))
    }
}

/// The queues worth a mount, best first: overdue ones by age (each must
/// meet its maximum age); then by priority; then the one that moves the
/// most bytes per second of drive time, the oldest first among equals.
pub fn rank(candidates: Vec<Candidate>, policy: &MountPolicy, now: f64) -> Vec<Candidate> {
    rank_shared(candidates, policy, now, &PoolDrives::new())
}

/// [`rank`] with the drives each pool uses now, for the shares: a queue
/// whose share is at its maximum goes after every other (it gets the drive
/// only if it would otherwise idle); then overdue first; then the share
/// using the fewest drives for its weight; then as [`rank`].
pub fn rank_shared(
    mut candidates: Vec<Candidate>,
    policy: &MountPolicy,
    now: f64,
    drives: &PoolDrives,
) -> Vec<Candidate> {
    candidates.retain(|c| c.worth_mounting(policy, now));
    candidates.sort_by(|a, b| {
        let (a_full, a_load) = policy.load(a, drives);
        let (b_full, b_load) = policy.load(b, drives);
        let overdue = a.overdue(policy, now);
        let first = (a_full, !overdue).cmp(&(b_full, !b.overdue(policy, now)));
        let priority = |c: &Candidate| -policy.queue(c.kind, &c.pool).priority;
        // Overdue queues go by priority and age alone; due ones by their
        // share's load first and what their mount is worth after priority.
        let (fair, worth) = if overdue {
            (std::cmp::Ordering::Equal, std::cmp::Ordering::Equal)
        } else {
            (
                a_load.total_cmp(&b_load),
                b.value(&policy.cost).total_cmp(&a.value(&policy.cost)),
            )
        };
        first
            .then(fair)
            .then(priority(a).cmp(&priority(b)))
            .then(worth)
            .then(a.oldest.total_cmp(&b.oldest))
    });
    candidates
}

/// What a mount that ran out of work asks before keeping its tape (lazy
/// dismount): how recent its queue's newest request is, and whether any
/// other queue wants a drive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueActivity {
    /// When the newest request of the mount's queue (its tape's recalls,
    /// or its pool's archives) was queued, seconds since the epoch.
    pub latest: Option<f64>,
    /// The time now, by the same clock.
    pub now: f64,
    /// Work of another queue that no mount serves is waiting.
    pub others_waiting: bool,
}

impl QueueActivity {
    /// Whether the tape stays (up to `keep` seconds after its last job):
    /// while nobody else wants the drive, keeping it costs nothing and a
    /// remount costs what `keep` is set to; when others wait, only while
    /// requests for it came within `keep` (work keeps coming).
    pub fn keeps_tape(&self, keep: f64) -> bool {
        !self.others_waiting || self.latest.is_some_and(|t| self.now - t < keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(kind: MountKind, key: &str, files: u64, oldest: f64) -> Candidate {
        Candidate {
            kind,
            key: key.into(),
            pool: if kind == MountKind::Recall {
                "p".into()
            } else {
                key.into()
            },
            files,
            bytes: files * 10,
            oldest,
        }
    }

    fn policy() -> MountPolicy {
        let mut p = MountPolicy::uniform(10, u64::MAX, Duration::from_secs(600), Duration::ZERO);
        p.recall.min_files = 1;
        p.recall.min_age = Duration::from_secs(30);
        p.recall.priority = 5;
        p
    }

    #[test]
    fn thresholds_minimum_age_and_maximum_age() {
        let p = policy();
        let now = 10_000.0;
        // Archives: too few files, not old enough.
        assert!(!queue(MountKind::Migration, "p", 9, now - 10.0).worth_mounting(&p, now));
        assert!(queue(MountKind::Migration, "p", 10, now - 10.0).worth_mounting(&p, now));
        // Overdue: mounted whatever the count.
        assert!(queue(MountKind::Migration, "p", 1, now - 600.0).worth_mounting(&p, now));
        // Recalls wait their minimum age even when the count is met.
        assert!(!queue(MountKind::Recall, "V1", 3, now - 29.0).worth_mounting(&p, now));
        assert!(queue(MountKind::Recall, "V1", 3, now - 30.0).worth_mounting(&p, now));
    }

    /// Among queues that are due, the mount that moves the most bytes per
    /// second of drive time goes first: one 10 GB file before twenty files
    /// of 100 MB queued earlier (twenty locates), a 50 GB archive before a
    /// 4 GB recall; overdue queues go first whatever they hold.
    #[test]
    fn due_queues_by_bytes_per_drive_second() {
        let p = MountPolicy::uniform(1, 1, Duration::from_secs(3600), Duration::ZERO);
        let now = 10_000.0;
        let sized = |kind, key: &str, files: u64, bytes: u64, oldest: f64| Candidate {
            bytes,
            ..queue(kind, key, files, oldest)
        };
        let ranked = rank(
            vec![
                sized(
                    MountKind::Recall,
                    "many-small",
                    20,
                    2_000_000_000,
                    now - 600.0,
                ),
                sized(MountKind::Recall, "one-big", 1, 10_000_000_000, now - 60.0),
                sized(MountKind::Recall, "small", 1, 4_000_000_000, now - 900.0),
                sized(
                    MountKind::Migration,
                    "archive",
                    500,
                    50_000_000_000,
                    now - 30.0,
                ),
                sized(MountKind::Recall, "overdue", 1, 1, now - 3600.0),
            ],
            &p,
            now,
        );
        let keys: Vec<&str> = ranked.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            ["overdue", "archive", "one-big", "small", "many-small"]
        );
    }

    /// Contended drives go to the share using the fewest for its weight;
    /// a share at its maximum goes after everything else.
    #[test]
    fn shares_split_drives_by_weight_and_cap_them() {
        let mut p = MountPolicy::uniform(1, 1, Duration::from_secs(3600), Duration::ZERO);
        let share = |name: &str, pool: &str, max_read, weight| Share {
            name: name.into(),
            pools: [pool.to_string()].into(),
            max_read_drives: max_read,
            max_write_drives: None,
            weight,
        };
        p.shares = vec![
            share("big", "pa", None, 3),
            share("small", "pb", Some(2), 1),
        ];
        let now = 10_000.0;
        let recall = |key: &str, pool: &str, oldest: f64| Candidate {
            pool: pool.into(),
            ..queue(MountKind::Recall, key, 1, oldest)
        };
        let order = |drives: &[(&str, u64)]| -> Vec<String> {
            let drives: PoolDrives = drives
                .iter()
                .map(|(p, n)| (p.to_string(), (*n, 0)))
                .collect();
            rank_shared(
                vec![
                    recall("A", "pa", now - 100.0),
                    recall("B", "pb", now - 50.0),
                ],
                &p,
                now,
                &drives,
            )
            .into_iter()
            .map(|c| c.key)
            .collect()
        };
        assert_eq!(order(&[]), ["A", "B"], "equal loads: the oldest");
        assert_eq!(order(&[("pa", 2)]), ["B", "A"], "big uses 2/3, small 0");
        assert_eq!(
            order(&[("pa", 2), ("pb", 1)]),
            ["A", "B"],
            "2/3 against 1/1"
        );
        assert_eq!(order(&[("pb", 2)]), ["A", "B"], "small at its maximum");
        assert_eq!(
            order(&[("pa", 9), ("pb", 2)]),
            ["A", "B"],
            "small at its maximum goes last however busy big is"
        );
    }

    #[test]
    fn overdue_first_then_priority_then_age() {
        let mut p = policy();
        p.pools.insert(
            "urgent".into(),
            PoolPolicy {
                archive: Some(QueuePolicy {
                    priority: 9,
                    ..p.archive.clone()
                }),
                recall: None,
            },
        );
        let now = 10_000.0;
        let ranked = rank(
            vec![
                queue(MountKind::Migration, "p", 50, now - 100.0),
                queue(MountKind::Recall, "V1", 1, now - 40.0),
                queue(MountKind::Migration, "urgent", 50, now - 50.0),
                queue(MountKind::Migration, "old", 1, now - 700.0),
                queue(MountKind::Migration, "small", 1, now - 5.0),
            ],
            &p,
            now,
        );
        let keys: Vec<&str> = ranked.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["old", "urgent", "V1", "p"]);
    }
}
