//! The r2d2 connection pool over [`DbConnection`].

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use thiserror::Error;

use super::{sqlite_path, Backend, DbConnection};

/// A pool of connections to the configured database.
pub type DbPool = r2d2::Pool<Manager>;

/// A connection borrowed from a [`DbPool`].
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// Why the database could not be reached or prepared.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL's scheme names no supported backend.
    #[error("database_url must start with postgres://, postgresql:// or sqlite:, got {0:?}")]
    UnsupportedUrl(String),
    /// A connection could not be opened.
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// The pool gave no connection in time.
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    /// A statement failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The database is a reference ODCS one, which only `odcs-server migrate` takes over.
    #[error(
        "the database is a reference ODCS database (Alembic revision {0}); \
         run `odcs-server migrate` once to adopt it in place"
    )]
    ReferenceNotAdopted(String),
    /// The database is a reference ODCS one at a revision this version does not know.
    #[error(
        "the database is a reference ODCS database at Alembic revision {revision}, which this \
         version cannot adopt (it knows {known}); bring it to ODCS 0.9.2's schema with the \
         reference's `odcs-manager db upgrade` first"
    )]
    UnknownReferenceRevision {
        /// The database's revision.
        revision: String,
        /// The revisions this version adopts.
        known: String,
    },
    /// A blocking database task could not finish (it panicked or was cancelled).
    #[error("database task failed: {0}")]
    Task(String),
    /// The directory for an SQLite file could not be created.
    #[error("cannot create the directory for the SQLite database {path}: {source}")]
    SqliteDir {
        /// The directory.
        path: String,
        /// What the filesystem said.
        #[source]
        source: std::io::Error,
    },
}

/// Opens connections for r2d2 by backend, instead of letting `establish` guess from the URL.
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
    url: String,
}

impl Manager {
    /// A manager for `url`, or an error naming the unsupported scheme.
    pub fn new(url: &str) -> Result<Manager, DbError> {
        let backend = Backend::of_url(url).ok_or_else(|| DbError::UnsupportedUrl(redact(url)))?;
        Ok(Manager {
            backend,
            url: url.to_owned(),
        })
    }

    /// The backend this manager connects to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens one connection, set up for concurrent use.
    pub fn connect(&self) -> Result<DbConnection, DbError> {
        match self.backend {
            Backend::Postgres => Ok(DbConnection::Postgresql(PgConnection::establish(
                &self.url,
            )?)),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(sqlite_path(&self.url))?;
                // WAL lets readers run beside the one writer; busy_timeout makes writers wait
                // for each other instead of failing with SQLITE_BUSY.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(DbError::Query)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// A connection kept by the pool, with when work on it last succeeded.
///
/// The pool checks a connection before lending it. One whose last work succeeded a moment ago
/// is known to work, and checking it anyway costs a request a second round trip to the
/// database: code that knows its work succeeded says so with [`PoolSlot::mark_healthy`], and
/// the pool lends such a connection unchecked once. Any other connection is checked.
pub struct PoolSlot {
    conn: DbConnection,
    healthy_at: Option<Instant>,
}

/// How recently work on a connection must have succeeded for the pool to lend it unchecked.
const RECENTLY_HEALTHY: Duration = Duration::from_secs(2);

impl PoolSlot {
    /// Records that work on this connection just succeeded.
    pub fn mark_healthy(&mut self) {
        self.healthy_at = Some(Instant::now());
    }

    /// Runs `work` on the connection and, if it succeeds, marks the connection healthy.
    pub fn run<T, E>(
        &mut self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<T, E> {
        let result = work(&mut self.conn);
        if result.is_ok() {
            self.mark_healthy();
        }
        result
    }
}

impl Deref for PoolSlot {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl DerefMut for PoolSlot {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = PoolSlot;
    type Error = DbError;

    fn connect(&self) -> Result<PoolSlot, DbError> {
        Ok(PoolSlot {
            conn: Manager::connect(self)?,
            healthy_at: None,
        })
    }

    /// Lends a connection marked healthy a moment ago without a round trip; the mark is used
    /// up, so a connection whose next work fails is checked before it is lent again.
    fn is_valid(&self, slot: &mut PoolSlot) -> Result<(), DbError> {
        if slot
            .healthy_at
            .take()
            .is_some_and(|t| t.elapsed() < RECENTLY_HEALTHY)
        {
            return Ok(());
        }
        slot.conn.batch_execute("SELECT 1").map_err(DbError::Query)
    }

    fn has_broken(&self, _slot: &mut PoolSlot) -> bool {
        false
    }
}

/// Builds a pool of at most `max_size` connections to `url`.
///
/// For SQLite the parent directory of the file is created first, so a first run needs no setup.
pub fn build(url: &str, max_size: u32) -> Result<DbPool, DbError> {
    let manager = Manager::new(url)?;
    if manager.backend == Backend::Sqlite {
        let path = std::path::Path::new(sqlite_path(url));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| DbError::SqliteDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
    }
    // Open one connection first: it switches a new SQLite file to WAL before the pool opens
    // the others at once, and reports a bad URL with the real cause instead of a timeout.
    drop(manager.connect()?);
    Ok(r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .build(manager)?)
}

pub use crate::redact::redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://odcs:secret@db/odcs"),
            "postgres://odcs:***@db/odcs"
        );
        assert_eq!(redact("sqlite://odcs.db"), "sqlite://odcs.db");
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(matches!(
            Manager::new("mysql://x"),
            Err(DbError::UnsupportedUrl(_))
        ));
    }
}

#[cfg(all(test, feature = "test-support"))]
mod slot_tests {
    use super::*;
    use crate::db::testing::{Store, TestDb};
    use diesel::sql_types::Integer;
    use diesel::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = Integer)]
        pid: i32,
    }

    fn backend_pid(pool: &DbPool) -> i32 {
        let mut conn = pool.get().expect("connection");
        let DbConnection::Postgresql(pg) = &mut **conn else {
            panic!("a PostgreSQL connection");
        };
        let row: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result(pg)
            .expect("pid");
        conn.mark_healthy();
        row.pid
    }

    fn terminate(db: &TestDb, pid: i32) {
        let mut admin = Manager::new(&db.url)
            .expect("url")
            .connect()
            .expect("admin");
        admin
            .batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
            .expect("terminate");
        std::thread::sleep(Duration::from_millis(200));
    }

    #[test]
    fn a_healthy_connection_is_lent_once_unchecked_and_then_checked_again() {
        let db = TestDb::new(Store::Postgres);
        let pool = build(&db.url, 1).expect("pool");
        let first = backend_pid(&pool);
        assert_eq!(backend_pid(&pool), first, "one connection, kept");

        // Marked healthy a moment ago: lent without the check, so a connection killed
        // meanwhile shows up in the work itself.
        terminate(&db, first);
        let mut conn = pool.get().expect("lent unchecked");
        assert!(
            conn.batch_execute("SELECT 1").is_err(),
            "not checked on loan"
        );
        drop(conn);

        // That work failed and marked nothing: the next loan checks, finds it dead and
        // opens a new connection.
        let second = backend_pid(&pool);
        assert_ne!(second, first, "the dead connection was replaced");
    }
}
