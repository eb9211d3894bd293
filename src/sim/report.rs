//! What a simulation measured: per drive where its time went, drive
//! utilisation (the streaming share of drive time), mounts per activity,
//! bytes per mount, request latency percentiles per activity, the rate of
//! each activity while its tapes were mounted, pre-emptions; the same for
//! the FIFO baseline. Printed as a table or as JSON.

use std::collections::BTreeMap;

use serde::Serialize;

/// Where one drive's time went, in seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DriveTime {
    pub mounting: f64,
    pub positioning: f64,
    pub streaming: f64,
    pub unmounting: f64,
    pub idle: f64,
}

impl DriveTime {
    fn add(&mut self, o: &DriveTime) {
        self.mounting += o.mounting;
        self.positioning += o.positioning;
        self.streaming += o.streaming;
        self.unmounting += o.unmounting;
        self.idle += o.idle;
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub count: usize,
}

impl Percentiles {
    pub fn of(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let i = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1;
            values[i]
        };
        Self {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            count: values.len(),
        }
    }
}

/// What one activity moved and how fast while its tapes were mounted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Throughput {
    pub files: u64,
    pub bytes: u64,
    /// Drive time from the end of the load to the start of the unload.
    pub mounted_s: f64,
    pub files_per_s: f64,
    pub mb_per_s: f64,
}

/// One mount, in the order they were given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MountRecord {
    /// Seconds from the start.
    pub at_s: f64,
    pub drive: String,
    pub activity: String,
    pub vid: String,
}

/// The figures of one run (the scheduler's, or the baseline's).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// From the first arrival to the last request served.
    pub span_s: f64,
    /// Streaming time over all drive time.
    pub drive_utilisation: f64,
    pub mounts: BTreeMap<String, u64>,
    pub gb_per_mount: f64,
    pub latency_s: BTreeMap<String, Percentiles>,
    pub throughput: BTreeMap<String, Throughput>,
    pub drive_time_s: DriveTime,
    pub per_drive: Vec<DriveTime>,
    pub preemptions: u64,
    /// Requests still not served at the horizon.
    pub unserved: u64,
    /// Every mount in order (the scheduler's run only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mount_sequence: Vec<MountRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub workload: String,
    pub model: String,
    pub drives: u32,
    #[serde(flatten)]
    pub figures: Figures,
    pub baseline: Figures,
}

/// Collects a run's figures as it goes.
#[derive(Debug, Default)]
pub struct Tally {
    pub drives: Vec<DriveTime>,
    pub mounts: BTreeMap<String, u64>,
    pub latency: BTreeMap<String, Vec<f64>>,
    pub throughput: BTreeMap<String, Throughput>,
    pub preemptions: u64,
    pub unserved: u64,
    pub end: f64,
    pub sequence: Vec<MountRecord>,
}

impl Tally {
    pub fn new(drives: usize) -> Self {
        Self {
            drives: vec![DriveTime::default(); drives],
            ..Default::default()
        }
    }

    pub fn mount(&mut self, activity: &str) {
        *self.mounts.entry(activity.into()).or_default() += 1;
    }

    pub fn served(&mut self, activity: &str, arrived: f64, done: f64) {
        self.latency
            .entry(activity.into())
            .or_default()
            .push(done - arrived);
        self.end = self.end.max(done);
    }

    pub fn moved(&mut self, activity: &str, files: u64, bytes: u64) {
        let t = self.throughput.entry(activity.into()).or_default();
        t.files += files;
        t.bytes += bytes;
    }

    pub fn mounted_for(&mut self, activity: &str, seconds: f64) {
        self.throughput
            .entry(activity.into())
            .or_default()
            .mounted_s += seconds;
    }

    /// The figures, with every drive's idle time up to `span`.
    pub fn figures(mut self, span: f64) -> Figures {
        let mut total = DriveTime::default();
        for d in &mut self.drives {
            let busy = d.mounting + d.positioning + d.streaming + d.unmounting;
            d.idle = (span - busy).max(0.0);
            total.add(d);
        }
        let drive_s = span * self.drives.len() as f64;
        let mounts: u64 = self.mounts.values().sum();
        let bytes: u64 = self.throughput.values().map(|t| t.bytes).sum();
        for t in self.throughput.values_mut() {
            if t.mounted_s > 0.0 {
                t.files_per_s = t.files as f64 / t.mounted_s;
                t.mb_per_s = t.bytes as f64 / 1e6 / t.mounted_s;
            }
        }
        Figures {
            span_s: span,
            drive_utilisation: if drive_s > 0.0 {
                total.streaming / drive_s
            } else {
                0.0
            },
            gb_per_mount: if mounts > 0 {
                bytes as f64 / 1e9 / mounts as f64
            } else {
                0.0
            },
            mounts: self.mounts,
            latency_s: self
                .latency
                .into_iter()
                .map(|(k, v)| (k, Percentiles::of(v)))
                .collect(),
            throughput: self.throughput,
            drive_time_s: total,
            per_drive: self.drives,
            preemptions: self.preemptions,
            unserved: self.unserved,
            mount_sequence: self.sequence,
        }
    }
}

impl Report {
    /// The table `tapesim run` prints.
    pub fn table(&self) -> String {
        let mut out = format!(
            "workload {}: {} {} drives\n\n{:<28} {:>14} {:>14}\n",
            self.workload, self.drives, self.model, "", "scheduler", "FIFO baseline"
        );
        let (s, b) = (&self.figures, &self.baseline);
        let mut row = |name: &str, a: String, c: String| {
            out.push_str(&format!("{name:<28} {a:>14} {c:>14}\n"));
        };
        row("span", hours(s.span_s), hours(b.span_s));
        row(
            "drive utilisation",
            pct(s.drive_utilisation),
            pct(b.drive_utilisation),
        );
        let mut kinds: Vec<&String> = s.mounts.keys().chain(b.mounts.keys()).collect();
        kinds.sort();
        kinds.dedup();
        for k in kinds {
            let n = |f: &Figures| f.mounts.get(k).copied().unwrap_or(0).to_string();
            row(&format!("mounts ({k})"), n(s), n(b));
        }
        row(
            "GB per mount",
            format!("{:.1}", s.gb_per_mount),
            format!("{:.1}", b.gb_per_mount),
        );
        let mut acts: Vec<&String> = s.latency_s.keys().collect();
        acts.sort();
        for a in acts {
            let p = |f: &Figures, q: fn(&Percentiles) -> f64| {
                f.latency_s.get(a).map_or("-".into(), |l| secs(q(l)))
            };
            row(
                &format!("{a} latency p50"),
                p(s, |l| l.p50),
                p(b, |l| l.p50),
            );
            row(
                &format!("{a} latency p95"),
                p(s, |l| l.p95),
                p(b, |l| l.p95),
            );
            row(
                &format!("{a} latency p99"),
                p(s, |l| l.p99),
                p(b, |l| l.p99),
            );
        }
        let mut acts: Vec<&String> = s.throughput.keys().collect();
        acts.sort();
        for a in acts {
            let t = |f: &Figures, q: fn(&Throughput) -> f64| {
                f.throughput
                    .get(a)
                    .map_or("-".into(), |t| format!("{:.1}", q(t)))
            };
            row(
                &format!("{a} files/s mounted"),
                t(s, |t| t.files_per_s),
                t(b, |t| t.files_per_s),
            );
            row(
                &format!("{a} MB/s mounted"),
                t(s, |t| t.mb_per_s),
                t(b, |t| t.mb_per_s),
            );
        }
        row(
            "pre-emptions",
            s.preemptions.to_string(),
            b.preemptions.to_string(),
        );
        row("not served", s.unserved.to_string(), b.unserved.to_string());
        let d = &s.drive_time_s;
        out.push_str(&format!(
            "\ndrive time (scheduler): mounting {}, positioning {}, streaming {}, unmounting {}, idle {}\n",
            hours(d.mounting),
            hours(d.positioning),
            hours(d.streaming),
            hours(d.unmounting),
            hours(d.idle)
        ));
        out
    }
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn secs(v: f64) -> String {
    format!("{v:.0} s")
}

fn hours(v: f64) -> String {
    format!("{:.2} h", v / 3600.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_of_the_values_themselves() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.count), (50.0, 95.0, 99.0, 100));
        let one = Percentiles::of(vec![7.0]);
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        assert_eq!(Percentiles::of(Vec::new()).count, 0);
    }

    #[test]
    fn utilisation_is_streaming_over_all_drive_time() {
        let mut t = Tally::new(2);
        t.drives[0].streaming = 50.0;
        t.drives[1].streaming = 25.0;
        t.drives[1].mounting = 25.0;
        t.mount("recall");
        t.moved("recall", 10, 4_000_000_000);
        let f = t.figures(100.0);
        assert_eq!(f.drive_utilisation, 0.375);
        assert_eq!(f.per_drive[0].idle, 50.0);
        assert_eq!(f.gb_per_mount, 4.0);
    }
}
