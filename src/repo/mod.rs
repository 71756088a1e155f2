//! Queries per aggregate, as plain functions over `&mut DbConn` returning diesel's `QueryResult`. No HTTP here;
//! the caller owns the transaction.

pub mod agents;
pub mod calendar_tokens;
pub mod customers;
pub mod deliveries;
pub mod idempotency;
pub mod interactions;
pub mod messages;
pub mod metrics;
pub mod promises;
pub mod prompts;
pub mod service_state;
pub mod sessions;
pub mod teams;
pub mod tokens;
