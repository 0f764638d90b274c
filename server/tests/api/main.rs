//! Integration tests of every route, against PostgreSQL and SQLite.

mod support;

mod about;
// Runs the relay and a worker in-process, which only the standalone build links.
#[cfg(feature = "standalone")]
mod broker_down;
mod compose_cache;
mod create;
mod dashboard;
mod delete;
mod errors;
mod events;
mod get;
mod idempotency;
mod list;
mod oidc;
mod outbox;
mod page_cache;
mod permissions;
mod proxy;
mod renew;
mod schema;
