//! One integration binary: every test spawns Tendero on port 0 over its own SQLite file.

mod browser;
mod delivery;
mod errors;
mod helpers;
mod roles;
mod scheduler;
mod stories;
mod tzdata;
