//! Schema migrations, embedded in the binaries and applied at start-up and by `migrate`.
//!
//! PostgreSQL and SQLite keep separate directories under `migrations/` only because their
//! auto-increment syntax differs; the tables and columns are the same.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{DbConnection, DbError};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// A lock id all ODCS processes agree on, so two starting at once migrate one after the other.
const MIGRATION_LOCK: i64 = 0x0DC5_0001;

/// Applies every pending migration and returns the versions applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        DbConnection::Postgresql(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let result = pg.run_pending_migrations(POSTGRES).map(versions);
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            result
        }
        DbConnection::Sqlite(lite) => lite.run_pending_migrations(SQLITE).map(versions),
    };
    applied.map_err(|e| DbError::Migration(e.to_string()))
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
