//! What the scheduler needs of a SQL database, and nothing more: statements
//! with `$1`-style parameters, rows of plain values, and write transactions.
//! The scheduler's logic is written once against [`Conn`]; SQLite and
//! PostgreSQL each implement it (`sqlite`, `postgres`), with their own
//! schema files and versioned migrations.
//!
//! The SQL the scheduler writes is the common subset of both dialects:
//! `RETURNING`, `ON CONFLICT DO NOTHING`, partial indexes, `CAST(.. AS
//! BIGINT)` around sums (PostgreSQL sums integers as numeric). Row locks
//! are written `FOR UPDATE [OF t] SKIP LOCKED` at the end of a statement:
//! SQLite, whose write transactions take the whole database, drops them.

pub mod postgres;
pub mod sqlite;

use super::SchedulerError;

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

macro_rules! int_value {
    ($($t:ty),*) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::Int(v as i64)
            }
        })*
    };
}
int_value!(i64, i32, u32, u16, usize);

impl From<u64> for Value {
    /// Counts, sizes and ids stay far below 2^63; anything above is clamped
    /// rather than wrapped into a negative number.
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(v.into())
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds the parameter list of a statement.
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::scheduler::sql::Value::from($v)),*][..]
    };
}
pub(crate) use params;

/// A value read from a row, converted to what the caller expects.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

macro_rules! unsigned_from_value {
    ($($t:ty),*) => {
        $(impl FromValue for $t {
            fn from_value(v: &Value) -> Option<Self> {
                match v {
                    Value::Int(i) => <$t>::try_from(*i).ok(),
                    _ => None,
                }
            }
        })*
    };
}
unsigned_from_value!(u64, u32, u16);

impl FromValue for bool {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Real(r) => Some(*r),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One row of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Column `i` as a `T`; a NULL or a value of another type where the
    /// schema promises a `T` is an error, never a default.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, SchedulerError> {
        let v = self.0.get(i).unwrap_or(&Value::Null);
        T::from_value(v).ok_or_else(|| {
            SchedulerError::Invalid(format!(
                "the catalogue returned {v:?} in column {i} where {} was expected",
                std::any::type_name::<T>()
            ))
        })
    }
}

/// Which SQL engine sits behind a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection to the scheduler's database.
pub trait Conn: Send {
    fn dialect(&self) -> Dialect;
    /// Starts a write transaction (SQLite takes the write lock now, so two
    /// processes never deadlock upgrading a read lock).
    fn begin(&mut self) -> Result<(), SchedulerError>;
    fn commit(&mut self) -> Result<(), SchedulerError>;
    /// Best effort: a connection that is gone has nothing to roll back.
    fn rollback(&mut self);
    /// The connection broke (the server ended it, or went away): the next
    /// call connects again. An embedded database never loses it.
    fn lost(&self) -> bool {
        false
    }
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SchedulerError>;
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SchedulerError>;

    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, SchedulerError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
    fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, SchedulerError> {
        self.query_opt(sql, params)?.ok_or_else(|| {
            SchedulerError::Invalid(format!("the catalogue returned no row for: {sql}"))
        })
    }
}

/// The statement as SQLite reads it: `$N` becomes `?N`, and a trailing
/// row-lock clause is dropped (a SQLite write transaction already holds the
/// whole database).
pub fn to_sqlite(sql: &str) -> String {
    let body = match sql.find(" FOR UPDATE") {
        Some(at) => &sql[..at],
        None => sql,
    };
    body.replace('$', "?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_translate_to_sqlite() {
        assert_eq!(
            to_sqlite("SELECT a FROM t WHERE b = $1 AND c = $12 FOR UPDATE OF t SKIP LOCKED"),
            "SELECT a FROM t WHERE b = ?1 AND c = ?12"
        );
        assert_eq!(to_sqlite("UPDATE t SET a = $2"), "UPDATE t SET a = ?2");
    }

    #[test]
    fn values_convert_both_ways_and_refuse_the_wrong_type() {
        let row = Row(vec![
            Value::from(7u64),
            Value::Null,
            Value::from("x"),
            Value::from(-1i64),
            Value::from(true),
        ]);
        assert_eq!(row.get::<u64>(0).unwrap(), 7);
        assert_eq!(row.get::<Option<u64>>(1).unwrap(), None);
        assert_eq!(row.get::<String>(2).unwrap(), "x");
        assert!(row.get::<u64>(1).is_err(), "NULL is not a number");
        assert!(row.get::<u64>(2).is_err(), "text is not a number");
        assert!(row.get::<u64>(3).is_err(), "a negative count is refused");
        assert!(row.get::<bool>(4).unwrap());
        assert!(
            row.get::<String>(9).is_err(),
            "a missing column is an error"
        );
        assert_eq!(Value::from(u64::MAX), Value::Int(i64::MAX));
    }
}
