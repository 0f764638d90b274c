//! Where a compose's packages come from. Each source type resolves its request into package
//! files (and carried metadata); later stages do not care which source it was.

pub mod koji;
pub mod repo;
