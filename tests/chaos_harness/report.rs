//! What a chaos run reports: kills, restarts, files checked, repacks,
//! violations.

use std::collections::BTreeMap;
use std::time::Duration;

use super::site;

#[derive(Default)]
pub struct Report {
    pub iterations: u32,
    pub kills: BTreeMap<&'static str, u32>,
    pub restarts: BTreeMap<&'static str, u32>,
    pub archived: usize,
    pub recalled_exact: usize,
    pub catalogue_checks: usize,
    /// Files deleted between kills (and the one undeleted at the end).
    pub deleted: usize,
    /// Repacks run to their end, the files they moved, and the most the
    /// repack buffer held at once (sampled all along).
    pub repacks: usize,
    pub repacked_files: u64,
    pub buffer_peak: u64,
    pub drives_down: u32,
    /// Each drive left down: its last state line from the log.
    pub down_reasons: Vec<String>,
    pub link_samples: u64,
    pub violations: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    pub fn print(&self, name: &str, seed: u64) {
        println!("chaos {name}: seed {seed}");
        println!("  iterations      {}", self.iterations);
        let kills: Vec<String> = self.kills.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "  kills           {} ({})",
            self.kills.values().sum::<u32>(),
            kills.join(", ")
        );
        let restarts: Vec<String> = self
            .restarts
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!("  unit restarts   {}", restarts.join(", "));
        println!("  files archived  {}", self.archived);
        println!(
            "  files checked   {} (catalogue, per iteration, summed)",
            self.catalogue_checks
        );
        println!("  recalled exact  {}", self.recalled_exact);
        println!(
            "  deleted         {} (never recalled while deleted; the first undeleted at the end)",
            self.deleted
        );
        println!(
            "  repacks         {} ({} files moved; buffer peak {} of {} bytes)",
            self.repacks,
            self.repacked_files,
            self.buffer_peak,
            site::REPACK_BUFFER
        );
        println!(
            "  drives down     {} (each with its logged reason)",
            self.drives_down
        );
        for r in &self.down_reasons {
            println!("    - {r}");
        }
        println!("  link samples    {}", self.link_samples);
        println!("  violations      {}", self.violations.len());
        for v in &self.violations {
            println!("    - {v}");
        }
        println!("  elapsed         {:.0} s", self.elapsed.as_secs_f64());
    }
}
