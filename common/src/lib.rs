//! The ODCS domain shared by the frontend, the workers and the client.
//!
//! This crate owns what every part agrees on: compose states, source types, flags and results
//! with the reference ODCS's numbering ([`compose`]), the typed compose request from the API to
//! the worker ([`spec`]), the configuration ([`config`]), request bodies ([`request`]) and the
//! JSON shapes of the API ([`api`]). With the `db` feature it also
//! owns storage ([`db`]): the schema, migrations, the connection pool and every query.
//!
//! It does no HTTP and no messaging; those live in the binaries.
#![warn(missing_docs)]

#[cfg(feature = "amqp")]
pub mod amqp;
pub mod api;
pub mod arch;
pub mod compose;
pub mod config;
#[cfg(feature = "db")]
pub mod db;
#[cfg(feature = "amqp")]
pub mod dispatch;
pub mod messaging;
pub mod pyrepr;
pub mod reason;
pub mod redact;
pub mod report;
pub mod request;
pub mod spec;
#[cfg(feature = "test-pki")]
pub mod test_pki;
pub mod time;
