//! HTTP routes: the JSON API under `/api/v1`, the operational endpoints, and who is calling.

pub mod api;
pub mod caller;
pub mod ops;
