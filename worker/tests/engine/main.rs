//! Integration tests of the compose engine against real RPMs and real tools (createrepo_c's
//! parser, dnf, rpmbuild).

mod support;

mod compose;
mod createrepo;
mod repo_source;
