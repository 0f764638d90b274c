//! One module per table: the row type, the insertable type and the queries on them.

pub mod compose;
pub mod deployment;
pub mod idempotency;
pub mod message;
pub mod worker;

pub use compose::{
    Compose, ComposeFilter, ComposeOrder, NewCompose, OrderKey, RawConfigCount, StateCount,
};
pub use deployment::Deployment;
pub use idempotency::{IdempotencyClaim, KeyUse};
pub use message::{NewMessage, OutboxMessage};
pub use worker::WorkerHeartbeat;
