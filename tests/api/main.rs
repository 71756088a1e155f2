//! One integration binary: every test spawns Tendero on port 0 over its own SQLite file.

mod backends;
mod bad_input;
mod browser;
mod delivery;
mod errors;
mod helpers;
mod lifecycle;
mod metrics;
mod roles;
mod scheduler;
mod snapshots;
mod stories;
#[path = "../support/mod.rs"]
mod support;
mod tzdata;
