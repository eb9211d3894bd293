//! A fresh database on the test PostgreSQL server (`TAPESERVER_TEST_PG`,
//! started by scripts/test), dropped when the test ends.

use std::sync::atomic::{AtomicU64, Ordering};

pub struct TestPg {
    admin: String,
    pub name: String,
    pub url: String,
}

impl TestPg {
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let admin = std::env::var("TAPESERVER_TEST_PG").unwrap_or_else(|_| {
            panic!(
                "TAPESERVER_TEST_PG is not set: run scripts/test, which starts a PostgreSQL server"
            )
        });
        let name = format!(
            "it{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        Self { admin, name, url }
    }

    /// A connection to the test database, for checks behind the daemons' backs.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
