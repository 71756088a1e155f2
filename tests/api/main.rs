//! One integration binary: every test spawns Tendero on port 0 over its own SQLite file.

mod errors;
mod helpers;
mod roles;
mod stories;
mod tzdata;
