//! The `deployment` table: one row naming this deployment's store, written by its migration.
//! Compose directories carry the name in a marker file (`.odcs-deployment`), so cleanups
//! delete only what this deployment created.

use diesel::prelude::*;

use crate::compose::ComposeId;
use crate::db::schema::deployment;
use crate::db::DbConnection;

/// The marker file in each compose directory this deployment creates.
pub const MARKER_FILE: &str = ".odcs-deployment";

/// This deployment's store.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = deployment)]
pub struct Deployment {
    /// A random name, fixed when the store was created.
    pub id: String,
    /// When this store was a reference ODCS database adopted by `odcs-server migrate`: the
    /// highest compose id the reference left. Those composes' directories have no marker.
    pub adopted_up_to: Option<i64>,
}

impl Deployment {
    /// The store's deployment.
    pub fn current(conn: &mut DbConnection) -> QueryResult<Deployment> {
        deployment::table
            .select(Deployment::as_select())
            .first(conn)
    }

    /// Whether the compose directory `dir` was created by this deployment (its marker names
    /// it).
    pub fn created(&self, dir: &std::path::Path) -> bool {
        std::fs::read_to_string(dir.join(MARKER_FILE)).is_ok_and(|text| text.trim() == self.id)
    }

    /// Whether the directory `dir` of compose `id` is this deployment's to delete: it was
    /// created here, or it belongs to a compose adopted from the reference and carries no
    /// other deployment's marker.
    pub fn owns(&self, id: ComposeId, dir: &std::path::Path) -> bool {
        let adopted = self
            .adopted_up_to
            .is_some_and(|last| i64::from(id.get()) <= last);
        self.created(dir) || (adopted && !dir.join(MARKER_FILE).exists())
    }

    /// Marks the compose directory `dir` (created if needed) as this deployment's.
    pub fn mark(&self, dir: &std::path::Path) -> std::io::Result<()> {
        let marker = dir.join(MARKER_FILE);
        if self.created(dir) {
            return Ok(());
        }
        std::fs::create_dir_all(dir)?;
        std::fs::write(marker, format!("{}\n", self.id))
    }
}
