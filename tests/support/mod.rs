//! What the integration tests and the benches share: a scratch PostgreSQL database for a run, and the real
//! `tendero` binary as a child process. Each test binary and bench includes this module with `#[path]`:
//! `#[path = "support/mod.rs"] mod support;` from `tests/`, `#[path = "../support/mod.rs"]` from `tests/api/`,
//! `#[path = "../tests/support/mod.rs"]` from `benches/`.

// Every includer uses a part: the API tests the database and not the process, the crash tests the reverse,
// so what one leaves unused is not dead.
#![allow(dead_code, unused_imports, reason = "each test binary and bench uses only part of the shared support")]

pub mod process;
pub mod scratch;

pub use process::{Server, Tendero};
pub use scratch::ScratchDatabase;
