//! Units as operators write them, shared by the config and the layers it
//! configures: sizes ("256KiB", "80GB" or a number of bytes), durations
//! ("5m", "30s", "100ms"), and the tape block size limit.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// Largest tape block the file-backed drive and the labels accept.
pub const MAX_BLOCK_SIZE: u64 = 16 * 1024 * 1024;

/// A byte count read from "256KiB", "80GB" or a plain integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "u64")]
pub struct ByteSize(pub u64);

impl From<ByteSize> for u64 {
    fn from(size: ByteSize) -> u64 {
        size.0
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(de).map_err(|_| {
            serde::de::Error::custom(
                "expected a size such as \"256KiB\", \"80GB\" or a number of bytes",
            )
        })? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(text) => parse_size::parse_size(text.trim())
                .map(ByteSize)
                .map_err(|e| {
                    serde::de::Error::custom(format!(
                        "expected a size such as \"256KiB\" or \"80GB\", got {text:?} ({e})"
                    ))
                }),
        }
    }
}

/// A duration read from "5m", "30s", "100ms".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(into = "String")]
pub struct Interval(pub Duration);

impl From<Interval> for String {
    fn from(interval: Interval) -> String {
        humantime::format_duration(interval.0).to_string()
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let text = String::deserialize(de).map_err(|_| {
            serde::de::Error::custom("expected a duration such as \"30s\" or \"5m\"")
        })?;
        humantime::parse_duration(text.trim())
            .map(Interval)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "expected a duration such as \"30s\" or \"5m\", got {text:?} ({e})"
                ))
            })
    }
}
