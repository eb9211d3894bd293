//! The defaults of every key that has one (config/tapeserver.toml shows them).

use std::time::Duration;

use super::{ByteSize, EndpointsConfig, Interval, SessionConfig, WatchdogConfig};

pub(super) fn default_log_level() -> String {
    "info".into()
}
pub(super) fn default_client_timeout() -> Interval {
    Interval(Duration::from_secs(10))
}
pub(super) fn default_poll_interval() -> Interval {
    Interval(Duration::from_secs(2))
}
pub(super) fn default_mount_min_files() -> u64 {
    1000
}
pub(super) fn default_mount_min_bytes() -> ByteSize {
    ByteSize(50_000_000_000)
}
pub(super) fn default_mount_max_age() -> Interval {
    Interval(Duration::from_secs(300))
}
pub(super) fn default_empty_mount_backoff() -> Interval {
    Interval(Duration::from_secs(60))
}
pub(super) fn default_max_file_attempts() -> u32 {
    3
}
pub(super) fn default_max_end_of_medium() -> u32 {
    2
}
pub(super) fn default_error_backoff() -> Interval {
    Interval(Duration::from_secs(30))
}
pub(super) fn default_block_size() -> ByteSize {
    ByteSize(256 * 1024)
}
pub(super) fn default_block_count() -> u64 {
    256
}
pub(super) fn default_disk_threads() -> u64 {
    4
}
pub(super) fn default_bulk_files() -> u64 {
    500
}
pub(super) fn default_bulk_bytes() -> ByteSize {
    ByteSize(80_000_000_000)
}
pub(super) fn default_flush_files() -> u64 {
    200
}
pub(super) fn default_flush_bytes() -> ByteSize {
    ByteSize(32_000_000_000)
}
pub(super) fn default_report_batch_files() -> u64 {
    500
}
pub(super) fn default_recall_retry() -> Interval {
    Interval(Duration::from_secs(300))
}

pub(super) fn default_heartbeat_interval() -> Interval {
    Interval(Duration::from_secs(1))
}
pub(super) fn default_mount_timeout() -> Interval {
    Interval(Duration::from_secs(600))
}
pub(super) fn default_no_data_timeout() -> Interval {
    Interval(Duration::from_secs(600))
}
pub(super) fn default_heartbeat_timeout() -> Interval {
    Interval(Duration::from_secs(60))
}
pub(super) fn default_shutdown_deadline() -> Interval {
    Interval(Duration::from_secs(900))
}

impl Default for EndpointsConfig {
    fn default() -> Self {
        Self {
            stager: String::new(),
            admin: String::new(),
            sessions: String::new(),
            library: String::new(),
            client_timeout: default_client_timeout(),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            block_size: default_block_size(),
            block_count: default_block_count(),
            disk_threads: default_disk_threads(),
            bulk_files: default_bulk_files(),
            bulk_bytes: default_bulk_bytes(),
            flush_files: default_flush_files(),
            flush_bytes: default_flush_bytes(),
            report_batch_files: default_report_batch_files(),
            heartbeat_interval: default_heartbeat_interval(),
            recall_retry: default_recall_retry(),
        }
    }
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        Self {
            mount_timeout: default_mount_timeout(),
            positioning_timeout: default_mount_timeout(),
            no_data_movement_timeout: default_no_data_timeout(),
            heartbeat_timeout: default_heartbeat_timeout(),
            unmount_timeout: default_mount_timeout(),
            shutdown_deadline: default_shutdown_deadline(),
        }
    }
}
/// A robot retries for minutes before it gives up on a move.
pub const DEFAULT_MOVE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How often an offline changer path is probed.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(30);

pub(super) fn default_move_timeout() -> Interval {
    Interval(DEFAULT_MOVE_TIMEOUT)
}
pub(super) fn default_probe_interval() -> Interval {
    Interval(DEFAULT_PROBE_INTERVAL)
}
pub(super) fn default_request_timeout() -> Interval {
    Interval(Duration::from_secs(10))
}
pub(super) fn default_zero_interval() -> Interval {
    Interval(Duration::ZERO)
}
pub(super) fn default_keep_mounted() -> Interval {
    Interval(Duration::from_secs(60))
}
pub(super) fn default_drive_lease() -> Interval {
    Interval(Duration::from_secs(60))
}
