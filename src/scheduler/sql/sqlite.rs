//! The SQLite connection: the embedded default (WAL, `synchronous=FULL`),
//! and its schema versions (`PRAGMA user_version`). The first schema
//! (`sqlite_v1.sql`) is created if missing; each later version is one batch
//! applied in order, in a write transaction that re-reads the version, so
//! processes opening the database at once agree.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::{Conn, Dialect, Row, Value};
use crate::scheduler::SchedulerError;
use crate::scheduler::clock::Clock;

const V1: &str = include_str!("sqlite_v1.sql");
const MIGRATIONS: [&str; 15] = [
    include_str!("sqlite_v2.sql"),
    include_str!("sqlite_v3.sql"),
    include_str!("v4.sql"),
    include_str!("v5.sql"),
    include_str!("v6.sql"),
    include_str!("v7.sql"),
    include_str!("sqlite_v8.sql"),
    include_str!("v9.sql"),
    include_str!("v10.sql"),
    include_str!("v11.sql"),
    include_str!("sqlite_v12.sql"),
    include_str!("v13.sql"),
    include_str!("v14.sql"),
    include_str!("v15.sql"),
    include_str!("v16.sql"),
];
/// The schema version this binary writes, the same for both backends.
pub const LATEST: i64 = 1 + MIGRATIONS.len() as i64;

pub struct SqliteConn {
    conn: Connection,
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::from(rusqlite::types::Null),
            Value::Int(i) => ToSqlOutput::from(*i),
            Value::Real(r) => ToSqlOutput::from(*r),
            Value::Text(s) => ToSqlOutput::from(s.as_str()),
        })
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t).into()),
    }
}

impl SqliteConn {
    /// Opens (creating or upgrading) the catalogue in `path`; `ts_now()`
    /// reads `clock`.
    pub fn open(path: &Path, clock: Clock) -> Result<Self, SchedulerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| SchedulerError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut conn = Connection::open(path)?;
        conn.create_scalar_function(
            "ts_now",
            0,
            rusqlite::functions::FunctionFlags::SQLITE_UTF8,
            move |_| Ok(clock.sqlite_now()),
        )?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Off while the schema is upgraded (a table is rebuilt under its
        // references); the upgrade checks every reference before it commits.
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        upgrade(&mut conn)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Self { conn })
    }

    /// The connection itself, for tests that build old catalogues.
    #[cfg(test)]
    pub fn raw(&self) -> &Connection {
        &self.conn
    }
}

/// Brings the schema to the latest version; refuses a newer one.
fn upgrade(conn: &mut Connection) -> Result<(), SchedulerError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > LATEST {
        return Err(SchedulerError::SchemaTooNew {
            found: version,
            supported: LATEST,
        });
    }
    let empty: bool = tx.query_row(
        "SELECT COUNT(*) = 0 FROM sqlite_master WHERE name = 'tapes'",
        [],
        |r| r.get(0),
    )?;
    if empty {
        tx.execute_batch(V1)?;
    }
    // The first schema carried no version.
    version = version.max(1);
    for (i, batch) in MIGRATIONS.iter().enumerate() {
        let target = i as i64 + 2;
        if version < target {
            tx.execute_batch(batch)?;
            tx.pragma_update(None, "user_version", target)?;
            if !empty {
                tracing::info!(version = target, "catalogue schema upgraded");
            }
            version = target;
        }
    }
    let broken: i64 = tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })?;
    if broken > 0 {
        return Err(SchedulerError::Invalid(format!(
            "the catalogue has {broken} rows whose references are broken: not upgraded"
        )));
    }
    tx.commit()?;
    Ok(())
}

impl Conn for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn begin(&mut self) -> Result<(), SchedulerError> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    fn commit(&mut self) -> Result<(), SchedulerError> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SchedulerError> {
        let mut stmt = self.conn.prepare_cached(&super::to_sqlite(sql))?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(columns);
            for i in 0..columns {
                row.push(value(r.get_ref(i)?));
            }
            out.push(Row(row));
        }
        Ok(out)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SchedulerError> {
        let mut stmt = self.conn.prepare_cached(&super::to_sqlite(sql))?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
    }
}
