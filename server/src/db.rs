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
    web::block(move || {
        let mut conn = pool.get().map_err(DbError::Pool)?;
        work(&mut conn)
    })
    .await
    .map_err(ApiError::internal)?
}
