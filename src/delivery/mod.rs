//! Getting prompts and events out: the live hub behind Server-Sent Events, webhook and email messages (queued in
//! the transaction that caused them, sent by the sender loop with retries), and the calendar feed.

pub mod events;
pub mod hub;
pub mod ical;
pub mod relay;
pub mod sender;
pub mod webhook_signing;
