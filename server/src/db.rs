//! Runs blocking diesel work off the async executor.

use actix_web::web;
use odcs_common::db::{DbConnection, DbError, DbPool};

use crate::error::ApiError;

/// Runs `work` with a pooled connection on actix's blocking thread pool, so sync diesel never
/// stalls the executor.
pub async fn run<T, F>(pool: &DbPool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    web::block(move || pool.get().map_err(DbError::Pool)?.run(work))
        .await
        .map_err(ApiError::internal)?
}

/// Runs `work` in one write transaction (retried while SQLite is busy, see
/// [`odcs_common::db::write_transaction`]); an error from `work` rolls it back and is returned.
pub fn in_write_transaction<T>(
    conn: &mut DbConnection,
    mut work: impl FnMut(&mut DbConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut outcome = None;
    let committed = odcs_common::db::write_transaction(conn, |conn| {
        let result = work(conn);
        let failed = result.is_err();
        outcome = Some(result);
        if failed {
            Err(diesel::result::Error::RollbackTransaction)
        } else {
            Ok(())
        }
    });
    match committed {
        Ok(()) | Err(diesel::result::Error::RollbackTransaction) => {
            outcome.unwrap_or(Err(ApiError::Internal))
        }
        Err(other) => Err(other.into()),
    }
}
