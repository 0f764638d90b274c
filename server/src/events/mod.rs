//! Server-Sent Events of compose state changes: `GET /api/1/composes/{id}/events` and
//! `GET /api/1/events`.
//!
//! Every state change writes a message to the `messages` table in the transition's own
//! transaction (see `odcs_common::db::lifecycle`); an event is that message, its body the body
//! published on the bus. One [`hub::EventHub`] per process reads new messages when it hears
//! they were committed (the database's `odcs_state_history` notice through the change feed, or
//! this process's own commits) and passes them to every open stream. A stream first replays
//! what its client missed from the table, then follows the hub; [`cursor`] is what lets a
//! client that reconnects with `Last-Event-ID` miss nothing.

pub mod cursor;
pub mod filter;
pub mod frames;
pub mod hub;
pub mod stream;

pub use hub::{EventHub, HubWaker, StateEvent};
