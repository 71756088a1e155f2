//! Pure business rules: no actix, no diesel, no clock reads. Everything here is tested without a database.

pub mod brief;
pub mod due;
pub mod metrics;
pub mod promise;
pub mod schedule;
pub mod time;
pub mod vocab;
