//! tapegw's Prometheus endpoint (`[gateway] metrics_listen`, loopback
//! only, plain HTTP): requests by method, endpoint (the route, not the
//! request id) and status, the time each took, files asked to stage, and
//! how long stage requests took from submission to their last file, each
//! observed once, when a poll first sees it complete. The disk buffer's
//! figures (used, pinned, evicted) are the daemon's (`tapeserver_buffer_*`).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Completed requests remembered so each is observed once.
const REMEMBERED: usize = 100_000;

pub struct GatewayMetrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    request_seconds: Family<Labels, Histogram>,
    staged_files: Counter,
    stage_seconds: Histogram,
    completed: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GatewayMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tapegw");
        let requests = Family::<Labels, Counter>::default();
        let request_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 4.0, 10))
        });
        let staged_files = Counter::default();
        // From a second to a few days: a stage waits for mounts.
        let stage_seconds = Histogram::new(exponential_buckets(1.0, 3.0, 12));
        registry.register(
            "requests",
            "API requests by method, endpoint and status",
            requests.clone(),
        );
        registry.register(
            "request_seconds",
            "Time taken to answer API requests, by endpoint",
            request_seconds.clone(),
        );
        registry.register(
            "staged_files",
            "Files asked for in accepted stage requests",
            staged_files.clone(),
        );
        registry.register(
            "stage_request_seconds",
            "Stage requests from submission to their last file done, seen when a poll first found them complete",
            stage_seconds.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            staged_files,
            stage_seconds,
            completed: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    pub fn request(&self, method: &str, endpoint: &str, status: u16, seconds: f64) {
        let labels = |more: &[(&str, String)]| -> Labels {
            more.iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        self.requests
            .get_or_create(&labels(&[
                ("method", method.to_string()),
                ("endpoint", endpoint.to_string()),
                ("status", status.to_string()),
            ]))
            .inc();
        self.request_seconds
            .get_or_create(&labels(&[("endpoint", endpoint.to_string())]))
            .observe(seconds);
    }

    pub fn staged(&self, files: usize) {
        self.staged_files.inc_by(files as u64);
    }

    /// A poll found request `id` complete, `seconds` after it was made.
    pub fn stage_completed(&self, id: &str, seconds: f64) {
        let mut guard = self.completed.lock().unwrap_or_else(|p| p.into_inner());
        let (seen, order) = &mut *guard;
        if !seen.insert(id.to_string()) {
            return;
        }
        order.push_back(id.to_string());
        if order.len() > REMEMBERED
            && let Some(old) = order.pop_front()
        {
            seen.remove(&old);
        }
        self.stage_seconds.observe(seconds.max(0.0));
    }

    pub fn text(&self) -> String {
        let mut text = String::new();
        if let Err(e) = encode(&mut text, &self.registry) {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completed_request_is_observed_once() {
        let m = GatewayMetrics::new();
        m.request("POST", "/api/v1/stage", 201, 0.01);
        m.staged(3);
        m.stage_completed("r1", 5.0);
        m.stage_completed("r1", 9.0);
        let text = m.text();
        assert!(
            text.contains(
                "tapegw_requests_total{method=\"POST\",endpoint=\"/api/v1/stage\",status=\"201\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("tapegw_staged_files_total 3"), "{text}");
        assert!(
            text.contains("tapegw_stage_request_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("tapegw_stage_request_seconds_sum 5.0"),
            "{text}"
        );
    }
}
