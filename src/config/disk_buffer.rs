//! `[buffer]`: the disk buffer in front of the tapes (the filesystem the
//! archive roots are on). With the section present the daemon keeps its
//! free space between two watermarks, evicting the disk copies of files
//! that are on tape and not pinned, least recently used first, and a recall
//! mount starts only when its files fit below the high watermark. Without
//! it nothing is evicted unless asked (`stager evict`) and recalls write
//! until the filesystem is full.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use crate::units::Interval;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DiskBufferConfig {
    /// A directory on the buffer's filesystem (default: the first of
    /// `[paths] archive_roots`). Only files beneath it are evicted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The collector starts evicting once the filesystem is fuller than
    /// this, and recalls fill it no further.
    #[serde(default = "default_high")]
    pub high_watermark: Percent,
    /// ...and evicts until it is no fuller than this.
    #[serde(default = "default_low")]
    pub low_watermark: Percent,
    /// How often the collector looks at the buffer.
    #[serde(default = "default_interval")]
    pub collect_interval: Interval,
}

fn default_high() -> Percent {
    Percent(90)
}

fn default_low() -> Percent {
    Percent(80)
}

fn default_interval() -> Interval {
    Interval(std::time::Duration::from_secs(30))
}

impl DiskBufferConfig {
    /// (key, message) of the first bad setting.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(p) = &self.path
            && !p.is_absolute()
        {
            return Err((
                "buffer.path",
                format!("expected an absolute path, got {}", p.display()),
            ));
        }
        for (key, p) in [
            ("buffer.high_watermark", self.high_watermark),
            ("buffer.low_watermark", self.low_watermark),
        ] {
            if p.0 == 0 || p.0 > 100 {
                return Err((key, format!("expected 1% to 100%, got {}%", p.0)));
            }
        }
        if self.low_watermark.0 >= self.high_watermark.0 {
            return Err((
                "buffer.low_watermark",
                format!(
                    "expected below high_watermark ({}%), got {}%: the collector evicts from the high watermark down to the low one",
                    self.high_watermark.0, self.low_watermark.0
                ),
            ));
        }
        if self.collect_interval.0.is_zero() {
            return Err((
                "buffer.collect_interval",
                "expected a duration above 0 (30s)".into(),
            ));
        }
        Ok(())
    }

    /// The buffer's directory, given the archive roots of `[paths]`.
    pub fn path_or(&self, archive_roots: &[PathBuf]) -> Option<PathBuf> {
        self.path.clone().or_else(|| archive_roots.first().cloned())
    }
}

/// A share of a filesystem: "90%" or 90.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Percent(pub u8);

impl From<Percent> for String {
    fn from(p: Percent) -> String {
        format!("{}%", p.0)
    }
}

impl Percent {
    /// This share of `total`, rounded down.
    pub fn of(self, total: u64) -> u64 {
        (u128::from(total) * u128::from(self.0) / 100) as u64
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        let bad = |got: &str| {
            serde::de::Error::custom(format!(
                "expected a percentage of the filesystem (\"90%\" or 90), got {got}"
            ))
        };
        let n = match Raw::deserialize(de)? {
            Raw::Number(n) => n,
            Raw::Text(t) => t
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<i64>().ok())
                .ok_or_else(|| bad(&format!("{t:?}")))?,
        };
        u8::try_from(n)
            .ok()
            .filter(|n| *n <= 100)
            .map(Percent)
            .ok_or_else(|| bad(&n.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DiskBufferConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn watermarks_read_as_percentages_or_numbers() {
        let c = parse("high_watermark = \"95%\"\nlow_watermark = 70").unwrap();
        assert_eq!(
            (c.high_watermark, c.low_watermark),
            (Percent(95), Percent(70))
        );
        assert!(c.check().is_ok());
        let d = parse("").unwrap();
        assert_eq!(
            (d.high_watermark, d.low_watermark),
            (Percent(90), Percent(80))
        );
        assert_eq!(Percent(90).of(1000), 900);
    }

    #[test]
    fn bad_watermarks_are_refused_naming_the_key() {
        for text in [
            "high_watermark = \"ninety\"",
            "high_watermark = 101",
            "low_watermark = -1",
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains("expected a percentage"), "{text}: {e}");
        }
        let c = parse("high_watermark = 80\nlow_watermark = 85").unwrap();
        assert_eq!(c.check().unwrap_err().0, "buffer.low_watermark");
        let c = parse("path = \"rel\"").unwrap();
        assert_eq!(c.check().unwrap_err().0, "buffer.path");
        let c = parse("high_watermark = 0\nlow_watermark = 0").unwrap();
        assert_eq!(c.check().unwrap_err().0, "buffer.high_watermark");
    }
}
