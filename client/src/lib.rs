//! Rust client library for the ODCS REST API (v1), the one the `odcs` command uses.
//!
//! [`Client`] has one method per route; [`wait::wait_for_compose`] waits for a compose on the
//! server's event stream ([`events`]) when it offers one, or, with the `amqp` feature and a
//! broker configured, on the bus's state-change messages, or else the way the reference
//! client does (polling with a growing interval); it can tail the compose log while waiting. Requests log in with an OpenID Connect token ([`oidc`] gets one
//! by the client credentials grant), a client certificate, or Kerberos ([`kerberos`]).

#[cfg(feature = "amqp")]
pub mod amqp;
pub mod client;
pub mod error;
pub mod events;
pub mod kerberos;
pub mod model;
pub mod oidc;
pub mod wait;

pub use client::{new_idempotency_key, Auth, Client, CREATE_ATTEMPTS, IDEMPOTENCY_KEY};
pub use error::ClientError;
pub use model::ComposeFilter;
pub use odcs_common::api::{ComposeJson, ComposeList, PageMeta};
pub use odcs_common::compose::ComposeId;
pub use odcs_common::request::ComposeRequest;
pub use odcs_common::spec;
