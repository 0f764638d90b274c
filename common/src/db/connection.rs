//! The connection type over both backends.
// The derive generates public helper items that cannot carry docs; they are diesel's.
#![allow(missing_docs)]

/// A connection to either supported backend; the variants are the backends' own types.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}
