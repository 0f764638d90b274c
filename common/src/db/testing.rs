//! Throwaway databases for tests (feature `test-support`): a fresh PostgreSQL database or
//! SQLite file per test, dropped afterwards, so tests never share state.

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::Connection;

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The PostgreSQL server at `ODCS_TEST_POSTGRES_URL` (default: local, user postgres).
    Postgres,
    /// A file in a temporary directory.
    Sqlite,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("ODCS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database that exists for one test and is dropped with this value.
pub struct TestDb {
    /// Its `database_url`.
    pub url: String,
    /// Its backend.
    pub store: Store,
    name: String,
    dir: Option<PathBuf>,
}

impl TestDb {
    /// A new, empty database (not migrated).
    ///
    /// # Panics
    /// When PostgreSQL is not running: the tests need it.
    pub fn new(store: Store) -> TestDb {
        let name = format!("odcs_test_{}", uuid::Uuid::new_v4().simple());
        match store {
            Store::Postgres => {
                let admin = postgres_admin_url();
                #[allow(clippy::expect_used)] // a test precondition
                let mut conn = diesel::PgConnection::establish(&format!("{admin}/postgres"))
                    .expect("PostgreSQL must run for the tests (see .ci/test)");
                #[allow(clippy::expect_used)]
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                TestDb {
                    url: format!("{admin}/{name}?sslmode=disable"),
                    store,
                    name,
                    dir: None,
                }
            }
            Store::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                let _ = std::fs::create_dir_all(&dir);
                TestDb {
                    url: format!("sqlite://{}/odcs.db", dir.display()),
                    store,
                    name,
                    dir: Some(dir),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self.store {
            Store::Postgres => {
                let admin = postgres_admin_url();
                if let Ok(mut conn) = diesel::PgConnection::establish(&format!("{admin}/postgres"))
                {
                    let _ = conn.batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    ));
                }
            }
            Store::Sqlite => {
                if let Some(dir) = &self.dir {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
        }
    }
}
