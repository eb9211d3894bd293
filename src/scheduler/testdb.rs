//! Throwaway catalogues for tests: a SQLite file in a temporary directory,
//! or a fresh database on the PostgreSQL server named by
//! `TAPESERVER_TEST_PG` (an admin URL; `scripts/test` starts a server and
//! sets it). Without that variable a PostgreSQL test fails and says so:
//! it is never skipped.

use std::sync::atomic::{AtomicU64, Ordering};

use super::SqlScheduler;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    dir: tempfile::TempDir,
    /// The admin URL and the database made for this test.
    postgres: Option<(String, String)>,
}

/// The admin URL of the test server.
pub fn admin_url() -> String {
    std::env::var("TAPESERVER_TEST_PG").unwrap_or_else(|_| {
        panic!("TAPESERVER_TEST_PG is not set: run scripts/test, which starts a PostgreSQL server for the tests")
    })
}

impl TestDb {
    pub fn new(backend: Backend) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = tempfile::tempdir().unwrap();
        let postgres = (backend == Backend::Postgres).then(|| {
            let admin = admin_url();
            let name = format!(
                "t{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .unwrap();
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            (admin, name)
        });
        Self { dir, postgres }
    }

    pub fn url(&self) -> String {
        match &self.postgres {
            Some((admin, name)) => {
                let (base, _) = admin.rsplit_once('/').unwrap();
                format!("{base}/{name}")
            }
            None => format!(
                "sqlite://{}",
                self.dir.path().join("db/scheduler.db").display()
            ),
        }
    }

    pub fn connect(&self) -> SqlScheduler {
        self.connect_with_clock(super::clock::Clock::Database)
    }

    /// A connection whose `ts_now()` is `clock`.
    pub fn connect_with_clock(&self, clock: super::clock::Clock) -> SqlScheduler {
        match &self.postgres {
            Some(_) => SqlScheduler::postgres_with_clock(&self.url(), None, clock).unwrap(),
            None => SqlScheduler::open_with_clock(&self.dir.path().join("db/scheduler.db"), clock)
                .unwrap(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut client) = postgres::Client::connect(admin, postgres::NoTls)
        {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// Each named test function, taking a [`Backend`], becomes one test per
/// backend: `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name($crate::scheduler::testdb::Backend::Sqlite)
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name($crate::scheduler::testdb::Backend::Postgres)
            })*
        }
    };
}
pub(crate) use on_both_backends;
