//! The PostgreSQL connection: several tape servers share one queue and
//! catalogue. Statements are prepared once per connection; a connection
//! that breaks is re-opened at the next transaction (the caller retries
//! the operation). The schema version lives in `schema_version`; a new
//! database is created at the latest version, under an advisory lock so
//! servers starting at once agree.

use std::collections::HashMap;
use std::error::Error;
use std::str::FromStr;
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Config, NoTls, Statement};

use super::{Conn, Dialect, Row, Value};
use crate::scheduler::SchedulerError;
use crate::scheduler::clock::{self, Clock};

/// `ts_now()` on the server: its own clock, read when the statement runs
/// (not the transaction's start), or the virtual clock's value sent before
/// the statement.
const SERVER_NOW: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)";
const VIRTUAL_NOW: &str = "CAST(current_setting('tapeserver.now') AS DOUBLE PRECISION)";

const V3: &str = include_str!("postgres_v3.sql");
/// Later versions, applied in order: (version, batch).
const MIGRATIONS: [(i64, &str); 13] = [
    (4, include_str!("v4.sql")),
    (5, include_str!("v5.sql")),
    (6, include_str!("v6.sql")),
    (7, include_str!("v7.sql")),
    (8, include_str!("postgres_v8.sql")),
    (9, include_str!("v9.sql")),
    (10, include_str!("v10.sql")),
    (11, include_str!("v11.sql")),
    (12, include_str!("postgres_v12.sql")),
    (13, include_str!("v13.sql")),
    (14, include_str!("v14.sql")),
    (15, include_str!("v15.sql")),
    (16, include_str!("v16.sql")),
];
/// Any constant shared by every tapeserver: the lock taken while the
/// schema is created or upgraded.
const SCHEMA_LOCK: i64 = 0x7461_7065_7365_7276;

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => Err(format!("an integer cannot be sent as {ty}").into()),
            },
            Value::Real(r) => match *ty {
                Type::FLOAT8 => r.to_sql(ty, out),
                Type::FLOAT4 => (*r as f32).to_sql(ty, out),
                _ => Err(format!("a real number cannot be sent as {ty}").into()),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn value(row: &postgres::Row, i: usize) -> Result<Value, postgres::Error> {
    let ty = row.columns()[i].type_();
    Ok(match *ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map_or(Value::Null, |v| Value::Int(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map_or(Value::Null, |v| Value::Int(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)?
            .map_or(Value::Null, |v| Value::Int(v.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)?
            .map_or(Value::Null, Value::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)?
            .map_or(Value::Null, |v| Value::Real(v.into())),
        _ => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text),
    })
}

pub struct PgConn {
    config: Config,
    client: Option<Client>,
    statements: HashMap<String, Statement>,
    clock: Clock,
    /// The virtual time this connection's session was last told.
    sent_now: Option<f64>,
}

/// The connection settings of `url`, with the password read from
/// `password_file` (never from a command line).
pub fn config(url: &str, password: Option<&str>) -> Result<Config, SchedulerError> {
    let mut config = Config::from_str(url).map_err(|e| {
        SchedulerError::Invalid(format!("scheduler URL is not a PostgreSQL URL: {e}"))
    })?;
    if let Some(password) = password {
        config.password(password);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.application_name("tapeserver");
    Ok(config)
}

impl PgConn {
    pub fn open(config: Config, clock: Clock) -> Result<Self, SchedulerError> {
        let mut conn = Self {
            config,
            client: None,
            statements: HashMap::new(),
            clock,
            sent_now: None,
        };
        let client = conn.client()?;
        upgrade(client)?;
        Ok(conn)
    }

    /// The live client, connecting again if the last one broke.
    fn client(&mut self) -> Result<&mut Client, SchedulerError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            self.statements.clear();
            self.sent_now = None;
            let mut client = self.config.connect(NoTls).map_err(SchedulerError::from)?;
            // Plan each statement for its values: a generic plan of a long
            // IN list, made before the statistics know the queue's size,
            // scans the whole table.
            client.batch_execute("SET plan_cache_mode = force_custom_plan")?;
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| SchedulerError::Unavailable("no connection".into()))
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, SchedulerError> {
        // Connect first: a new connection forgets the old one's statements.
        self.client()?;
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let now = match self.clock {
            Clock::Database => SERVER_NOW,
            Clock::Virtual(_) => VIRTUAL_NOW,
        };
        let stmt = self.client()?.prepare(&sql.replace(clock::NOW, now));
        let stmt = self.check(stmt)?;
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    /// An error that ended the session (the server closed it, or is
    /// shutting down or restarting: SQLSTATE classes 08 and 57P) drops the
    /// client, so `lost` says so and the next call connects again.
    fn check<T>(&mut self, done: Result<T, postgres::Error>) -> Result<T, SchedulerError> {
        done.map_err(|e| {
            let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
            let fatal = e
                .as_db_error()
                .is_some_and(|d| matches!(d.severity(), "FATAL" | "PANIC"));
            if e.is_closed() || fatal || code.starts_with("08") || code.starts_with("57P") {
                self.client = None;
            }
            SchedulerError::from(e)
        })
    }

    /// With a virtual clock, tells the session the time before a statement.
    fn send_now(&mut self) -> Result<(), SchedulerError> {
        let Clock::Virtual(v) = &self.clock else {
            return Ok(());
        };
        let now = v.now();
        if self.sent_now == Some(now) {
            return Ok(());
        }
        let done = self.client()?.execute(
            "SELECT set_config('tapeserver.now', $1, false)",
            &[&now.to_string()],
        );
        self.check(done)?;
        self.sent_now = Some(now);
        Ok(())
    }

    fn params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }
}

/// Creates the schema in an empty database, upgrades an older one, and
/// refuses one newer than this binary.
fn upgrade(client: &mut Client) -> Result<(), SchedulerError> {
    let latest = super::sqlite::LATEST;
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?
        .get(0);
    let mut version = if exists {
        tx.query_one("SELECT version FROM schema_version", &[])?
            .get::<_, i64>(0)
    } else {
        tx.batch_execute(V3)?;
        tx.batch_execute("CREATE TABLE schema_version (version BIGINT NOT NULL)")?;
        tx.execute("INSERT INTO schema_version VALUES (3)", &[])?;
        3
    };
    if version > latest {
        return Err(SchedulerError::SchemaTooNew {
            found: version,
            supported: latest,
        });
    }
    for (target, batch) in MIGRATIONS {
        if version < target {
            tx.batch_execute(batch)?;
            tx.execute("UPDATE schema_version SET version = $1", &[&target])?;
            tracing::info!(version = target, "catalogue schema upgraded");
            version = target;
        }
    }
    tx.commit()?;
    Ok(())
}

impl Conn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn begin(&mut self) -> Result<(), SchedulerError> {
        let done = self.client()?.batch_execute("BEGIN");
        self.check(done)
    }

    fn commit(&mut self) -> Result<(), SchedulerError> {
        let done = self.client()?.batch_execute("COMMIT");
        self.check(done)
    }

    fn lost(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }

    fn rollback(&mut self) {
        // A setting made in the transaction goes with it.
        self.sent_now = None;
        if let Some(client) = self.client.as_mut().filter(|c| !c.is_closed()) {
            let _ = client.batch_execute("ROLLBACK");
        }
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SchedulerError> {
        let stmt = self.statement(sql)?;
        self.send_now()?;
        let rows = self.client()?.query(&stmt, &Self::params(params));
        let rows = self.check(rows)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| value(r, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
                    .map_err(SchedulerError::from)
            })
            .collect()
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SchedulerError> {
        let stmt = self.statement(sql)?;
        self.send_now()?;
        let done = self.client()?.execute(&stmt, &Self::params(params));
        self.check(done)
    }
}
