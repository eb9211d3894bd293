//! `[[scheduler.shares]]`: how contended drives are split between groups
//! of pools (an experiment, a community). Each share names its pools, the
//! most drives it reads and writes with at once, and a weight: drives that
//! several shares want go to the one using the fewest for its weight; a
//! share at its maximum gets a drive only when no other work would take it
//! (it may go over rather than leave a drive idle); overdue work of a
//! share under its maximum goes first, so no share starves.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ShareConfig {
    pub name: String,
    /// The pools whose archives and recalls are this share's.
    pub pools: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_read_drives: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_write_drives: Option<u64>,
    #[serde(default = "one")]
    pub weight: u64,
}

fn one() -> u64 {
    1
}

/// The first share that makes no sense: (key, why).
pub fn validate(shares: &[ShareConfig]) -> Result<(), (String, String)> {
    let key = "scheduler.shares".to_string();
    let mut names = std::collections::BTreeSet::new();
    let mut pools = std::collections::BTreeMap::new();
    for s in shares {
        if s.name.trim().is_empty() {
            return Err((key, "a share needs a name".into()));
        }
        if !names.insert(s.name.as_str()) {
            return Err((key, format!("two shares are named {:?}", s.name)));
        }
        if s.pools.is_empty() {
            return Err((key, format!("share {:?} names no pool", s.name)));
        }
        if s.weight == 0 {
            return Err((
                key,
                format!("share {:?}: weight must be at least 1", s.name),
            ));
        }
        for p in &s.pools {
            if let Some(other) = pools.insert(p.as_str(), s.name.as_str()) {
                return Err((
                    key,
                    format!(
                        "pool {p:?} is in shares {other:?} and {:?}: a pool belongs to one share",
                        s.name
                    ),
                ));
            }
        }
    }
    Ok(())
}
