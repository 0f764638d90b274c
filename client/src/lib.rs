//! Rust client library for the ODCS REST API.
