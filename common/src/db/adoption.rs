//! Taking over a reference ODCS database in place.
//!
//! The reference keeps its composes in an Alembic-managed `composes` table whose columns are
//! the ones our first migration creates (we kept its names), with four narrower integer columns,
//! a nullable `flags` and one index fewer. Adopting such a database changes exactly those, and
//! records our first migration as applied; the later migrations then add our own columns and
//! tables beside the reference's rows. Every compose keeps its id, state and times, the id
//! sequence goes on where the reference left it, and the reference's `alembic_version`,
//! `users` and `metrics` tables stay untouched.

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::{DbConnection, DbError};

/// Alembic revisions of reference databases this version adopts: the head of ODCS 0.9.2's
/// migrations. An older database is brought there by the reference's own
/// `odcs-manager db upgrade` first.
pub const ADOPTABLE_REVISIONS: &[&str] = &["92e7e6946717"];

/// A reference ODCS database, recognised by its Alembic version table beside a `composes`
/// table and no migrations of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceStore {
    /// The Alembic revision the reference's migrations left it at.
    pub revision: String,
}

impl ReferenceStore {
    /// Whether this version knows the reference schema at this revision.
    pub fn adoptable(&self) -> bool {
        ADOPTABLE_REVISIONS.contains(&self.revision.as_str())
    }
}

/// What an adoption took over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    /// The reference's Alembic revision.
    pub revision: String,
    /// How many composes the reference left, in any state.
    pub composes: i64,
    /// The highest compose id among them; later composes get higher ones.
    pub last_id: Option<i64>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    composes: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    last_id: Option<i64>,
}

/// The reference database `conn` holds, if it holds one not yet adopted.
pub fn detect(conn: &mut DbConnection) -> Result<Option<ReferenceStore>, DbError> {
    let tables_query = match conn {
        DbConnection::Postgresql(_) => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema()"
        }
        DbConnection::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table'",
    };
    let tables: Vec<String> = diesel::sql_query(tables_query)
        .load::<Name>(conn)?
        .into_iter()
        .map(|t| t.name)
        .collect();
    let has = |table: &str| tables.iter().any(|t| t == table);
    if !has("alembic_version") || !has("composes") || has("__diesel_schema_migrations") {
        return Ok(None);
    }
    let revision = diesel::sql_query("SELECT version_num AS name FROM alembic_version")
        .load::<Name>(conn)?
        .into_iter()
        .next()
        .map(|row| row.name)
        .unwrap_or_default();
    Ok(Some(ReferenceStore { revision }))
}

/// Brings the reference's `composes` table to our first migration's shape and records that
/// migration (`first_version`) as applied. Runs inside the caller's transaction.
pub fn prepare(conn: &mut DbConnection, first_version: &str) -> Result<(), DbError> {
    match conn {
        DbConnection::Postgresql(pg) => {
            pg.batch_execute(
                "ALTER TABLE composes \
                     ALTER COLUMN koji_event TYPE BIGINT, \
                     ALTER COLUMN koji_task_id TYPE BIGINT, \
                     ALTER COLUMN base_module_br_stream_version_lte TYPE BIGINT, \
                     ALTER COLUMN base_module_br_stream_version_gte TYPE BIGINT; \
                 UPDATE composes SET flags = 0 WHERE flags IS NULL; \
                 ALTER TABLE composes \
                     ALTER COLUMN flags SET DEFAULT 0, \
                     ALTER COLUMN flags SET NOT NULL; \
                 CREATE INDEX ix_composes_owner ON composes (owner);",
            )?;
            pg.setup()?;
        }
        // SQLite's columns take any integer; the nullable `flags` stays nullable in the table
        // but holds no NULL, and every row we write sets it.
        DbConnection::Sqlite(lite) => {
            lite.batch_execute(
                "UPDATE composes SET flags = 0 WHERE flags IS NULL; \
                 CREATE INDEX ix_composes_owner ON composes (owner);",
            )?;
            lite.setup()?;
        }
    }
    diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ($1)")
        .bind::<Text, _>(first_version)
        .execute(conn)?;
    Ok(())
}

/// Records, once our migrations have run, that the composes up to the highest id the
/// reference left are this deployment's: their directories carry no marker of ours, and the
/// beat deletes them when they expire all the same.
pub fn record(conn: &mut DbConnection, store: ReferenceStore) -> Result<Adoption, DbError> {
    let counts = diesel::sql_query(
        "SELECT COUNT(*) AS composes, CAST(MAX(id) AS BIGINT) AS last_id FROM composes",
    )
    .get_result::<Counts>(conn)?;
    diesel::sql_query("UPDATE deployment SET adopted_up_to = $1")
        .bind::<Nullable<BigInt>, _>(counts.last_id)
        .execute(conn)?;
    Ok(Adoption {
        revision: store.revision,
        composes: counts.composes,
        last_id: counts.last_id,
    })
}
