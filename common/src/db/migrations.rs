//! Schema migrations, embedded in the binaries and applied at start-up and by `migrate`.
//!
//! PostgreSQL and SQLite keep separate directories under `migrations/` only because their
//! auto-increment syntax differs; the tables and columns are the same.

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::adoption::{self, Adoption};
use super::{DbConnection, DbError};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// A lock id all ODCS processes agree on, so two starting at once migrate one after the other.
const MIGRATION_LOCK: i64 = 0x0DC5_0001;

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The reference ODCS database taken over first, if the store was one.
    pub adopted: Option<Adoption>,
    /// The migrations applied, oldest first.
    pub applied: Vec<String>,
}

/// Applies every pending migration and returns the versions applied. A reference ODCS
/// database is left alone: it is refused with [`DbError::ReferenceNotAdopted`], since taking
/// it over is the operator's decision ([`migrate`], `odcs-server migrate`).
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    locked(conn, |conn| {
        if let Some(store) = adoption::detect(conn)? {
            return Err(DbError::ReferenceNotAdopted(store.revision));
        }
        apply(conn)
    })
}

/// Applies every pending migration, first adopting the store in place if it is a reference
/// ODCS database at a known revision, all in one transaction where the backend allows it:
/// an adoption that fails leaves the reference's database as it was.
pub fn migrate(conn: &mut DbConnection) -> Result<Migrated, DbError> {
    locked(conn, |conn| {
        let Some(store) = adoption::detect(conn)? else {
            return Ok(Migrated {
                adopted: None,
                applied: apply(conn)?,
            });
        };
        if !store.adoptable() {
            return Err(DbError::UnknownReferenceRevision {
                revision: store.revision,
                known: adoption::ADOPTABLE_REVISIONS.join(", "),
            });
        }
        conn.transaction(|conn| {
            adoption::prepare(conn, &first_version(conn))?;
            let applied = apply(conn)?;
            let adopted = adoption::record(conn, store)?;
            Ok(Migrated {
                adopted: Some(adopted),
                applied,
            })
        })
    })
}

/// Runs `work` holding the migration lock (PostgreSQL; SQLite has one writer anyway).
fn locked<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let DbConnection::Postgresql(pg) = conn else {
        return work(conn);
    };
    pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let result = work(conn);
    if let DbConnection::Postgresql(pg) = conn {
        pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
    }
    result
}

fn apply(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        DbConnection::Postgresql(pg) => pg.run_pending_migrations(POSTGRES).map(versions),
        DbConnection::Sqlite(lite) => lite.run_pending_migrations(SQLITE).map(versions),
    };
    applied.map_err(|e| DbError::Migration(e.to_string()))
}

/// The version of the first migration: the one that creates `composes`.
fn first_version(conn: &DbConnection) -> String {
    let versions = match conn {
        DbConnection::Postgresql(_) => migration_versions::<diesel::pg::Pg>(&POSTGRES),
        DbConnection::Sqlite(_) => migration_versions::<diesel::sqlite::Sqlite>(&SQLITE),
    };
    versions.into_iter().min().unwrap_or_default()
}

fn migration_versions<DB: diesel::backend::Backend>(
    source: &impl MigrationSource<DB>,
) -> Vec<String> {
    source
        .migrations()
        .map(|list| {
            list.iter()
                .map(|m| m.name().version().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Reverts the most recent migration (used by tests that prove every `down.sql` works).
pub fn revert_last(conn: &mut DbConnection) -> Result<String, DbError> {
    let reverted = match conn {
        DbConnection::Postgresql(pg) => pg.revert_last_migration(POSTGRES),
        DbConnection::Sqlite(lite) => lite.revert_last_migration(SQLITE),
    };
    reverted
        .map(|v| v.to_string())
        .map_err(|e| DbError::Migration(e.to_string()))
}

fn versions(list: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    list.into_iter().map(|v| v.to_string()).collect()
}
