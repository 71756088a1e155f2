//! HTTP routes: the JSON API under `/api/v1` and the operational endpoints.

pub mod api;
pub mod ops;
