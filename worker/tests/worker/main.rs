//! Integration tests of the compose engine against real RPMs and real tools (createrepo_c's
//! parser, dnf, rpmbuild).

mod support;

mod amqp;
mod broker_outage;
mod compose;
mod createrepo;
mod fake_pulp;
mod gather;
mod hostile;
mod koji;
mod koji_hub;
mod libsolv;
mod lifecycle;
mod mbs;
mod modules;
mod other_buses;
mod private_broker;
mod pulp;
mod races;
mod raw_config;
mod real_mbs;
mod real_pulp;
mod repo_source;
