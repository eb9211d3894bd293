//! The states of files, recalls, tapes and mounts as enums, and the one
//! mapping each has to the strings the catalogue stores (and operators'
//! scripts read in JSON): "queued", "on_tape", "disabled"...

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// Declares a state enum with its catalogue strings, `as_str`, `parse`,
/// `Display` and the SQL conversions.
macro_rules! catalogue_state {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$name> for crate::scheduler::sql::Value {
            fn from(v: $name) -> Self {
                crate::scheduler::sql::Value::Text(v.as_str().into())
            }
        }

        impl crate::scheduler::sql::FromValue for $name {
            fn from_value(v: &crate::scheduler::sql::Value) -> Option<Self> {
                match v {
                    crate::scheduler::sql::Value::Text(t) => Self::parse(t),
                    _ => None,
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                Self::parse(text).ok_or_else(|| {
                    FromSqlError::Other(format!("unknown {} {text:?}", stringify!($name)).into())
                })
            }
        }
    };
}

catalogue_state! {
    /// Where an archived file stands.
    FileState {
        Queued = "queued",
        OnTape = "on_tape",
        Failed = "failed",
        /// Its tape was relabelled.
        Lost = "lost",
        /// Deleted by its owner: never recalled again (shown, never stored:
        /// the catalogue keeps the state and a deletion time).
        Deleted = "deleted",
    }
}

catalogue_state! {
    /// Where a recall stands. `Running` is what operators see of a queued
    /// recall a mount has taken; the catalogue stores it as queued.
    RecallState {
        Queued = "queued",
        Running = "running",
        Done = "done",
        Failed = "failed",
    }
}

catalogue_state! {
    TapeState {
        Active = "active",
        Full = "full",
        Disabled = "disabled",
        /// Recalls only: no new file is written to it.
        ReadOnly = "read_only",
        /// Never mounted again (its copies are skipped by recalls).
        Broken = "broken",
        /// Outside the library.
        Exported = "exported",
        /// Mounted only by its repack.
        Repacking = "repacking",
    }
}

catalogue_state! {
    MountKind {
        Migration = "migration",
        Recall = "recall",
        Label = "label",
        Readtp = "readtp",
        /// Reads a tape's files back against the catalogue.
        Verify = "verify",
        /// Reads a repacked tape's files into the repack buffer.
        Repack = "repack",
    }
}

/// The wire form of each state (`proto/stager.proto`), both ways: a value
/// a peer sends that this version does not know reads as None.
macro_rules! wire_state {
    ($name:ident, $wire:ty { $($variant:ident,)* }) => {
        impl From<$name> for $wire {
            fn from(state: $name) -> Self {
                match state {
                    $($name::$variant => <$wire>::$variant,)*
                }
            }
        }

        impl $name {
            pub fn from_wire(value: i32) -> Option<Self> {
                match <$wire>::try_from(value).ok()? {
                    $(<$wire>::$variant => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

wire_state!(
    FileState,
    crate::proto::stager::FileState {
        Queued,
        OnTape,
        Failed,
        Lost,
        Deleted,
    }
);
wire_state!(
    RecallState,
    crate::proto::stager::RecallState {
        Queued,
        Running,
        Done,
        Failed,
    }
);
wire_state!(
    TapeState,
    crate::proto::stager::TapeState {
        Active,
        Full,
        Disabled,
        ReadOnly,
        Broken,
        Exported,
        Repacking,
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_string() {
        fn check<T: Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            as_str: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            for &s in all {
                assert_eq!(parse(as_str(s)), Some(s));
            }
            assert_eq!(parse("nonsense"), None);
        }
        check(FileState::ALL, FileState::as_str, FileState::parse);
        check(RecallState::ALL, RecallState::as_str, RecallState::parse);
        check(TapeState::ALL, TapeState::as_str, TapeState::parse);
        check(MountKind::ALL, MountKind::as_str, MountKind::parse);
        assert_eq!(FileState::OnTape.to_string(), "on_tape");
        for &s in FileState::ALL {
            let wire: crate::proto::stager::FileState = s.into();
            assert_eq!(FileState::from_wire(wire as i32), Some(s));
        }
        for &s in RecallState::ALL {
            let wire: crate::proto::stager::RecallState = s.into();
            assert_eq!(RecallState::from_wire(wire as i32), Some(s));
        }
        for &s in TapeState::ALL {
            let wire: crate::proto::stager::TapeState = s.into();
            assert_eq!(TapeState::from_wire(wire as i32), Some(s));
        }
        assert_eq!(FileState::from_wire(0), None);
        assert_eq!(TapeState::from_wire(99), None);
    }

    #[test]
    fn an_unknown_state_in_the_database_is_an_error_not_a_default() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let bad: rusqlite::Result<FileState> = conn.query_row("SELECT 'half'", [], |r| r.get(0));
        assert!(bad.is_err());
        let good: FileState = conn
            .query_row("SELECT ?1", [FileState::Lost], |r| r.get(0))
            .unwrap();
        assert_eq!(good, FileState::Lost);
    }
}
