//! Modular content: module streams from MBS or Koji, their RPMs, their defaults, and the
//! `modules.yaml` and `modules.json` a compose carries so dnf can enable them.

pub mod mbs;
pub mod modulemd;
