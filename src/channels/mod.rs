//! The ways things leave Tendero: the live stream of prompts (Server-Sent Events, relayed across instances),
//! webhook and email sends (queued in the transaction that caused them, sent by the sender with retries), and the
//! calendar feed.

pub mod calendar;
pub mod live;
pub mod relay;
pub mod sender;
pub mod webhook;
