//! ODCS workers: turning compose requests into repositories on disk.
//!
//! This crate owns compose generation: reading RPM packages ([`package`]), writing repository
//! metadata that means what createrepo_c writes ([`repodata`]), and laying composes out as the
//! reference ODCS does. The queue consumer and the beat job that drive it live here too.

pub mod beat;
pub mod cancel;
pub mod checksum;
pub mod command;
pub mod compose;
pub mod consumer;
pub mod durable;
pub mod fetch;
pub mod gather;
pub mod generate;
pub mod git;
pub mod heartbeat;
pub mod koji;
pub mod logging;
pub mod metrics;
pub mod modules;
pub mod package;
pub mod package_set;
pub mod pipeline;
pub mod publisher;
pub mod pulp;
pub mod pungi;
pub mod relay;
pub mod repodata;
pub mod scan;
pub mod services;
pub mod source;

#[cfg(test)]
mod test_fixtures;
