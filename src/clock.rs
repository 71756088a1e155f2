//! The service's notion of "now", injectable so tests can move time instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

/// A source of the current instant. The system clock in production; a manual clock in tests.
#[derive(Clone)]
pub struct Clock {
    /// Milliseconds added to the system clock, or the fixed instant when `fixed` is set.
    offset_ms: Arc<AtomicI64>,
    fixed: bool,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { offset_ms: Arc::new(AtomicI64::new(0)), fixed: false }
    }

    /// A clock frozen at `at` until moved with [`Clock::set`] or [`Clock::advance`].
    pub fn manual(at: DateTime<Utc>) -> Self {
        Self { offset_ms: Arc::new(AtomicI64::new(at.timestamp_millis())), fixed: true }
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        let value = self.offset_ms.load(Ordering::SeqCst);
        if self.fixed {
            DateTime::from_timestamp_millis(value).unwrap_or_default()
        } else {
            Utc::now() + Duration::milliseconds(value)
        }
    }

    /// Moves a manual clock to `at` (a system clock is shifted so that now reads `at`).
    pub fn set(&self, at: DateTime<Utc>) {
        if self.fixed {
            self.offset_ms.store(at.timestamp_millis(), Ordering::SeqCst);
        } else {
            self.offset_ms.store((at - Utc::now()).num_milliseconds(), Ordering::SeqCst);
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock {
    /// How long a background loop should sleep before the work due at `next_ms` (none: nothing pending),
    /// capped at `cap` so work written by another process is never waited on for longer than that.
    pub fn sleep_before(&self, next_ms: Option<i64>, cap: std::time::Duration) -> std::time::Duration {
        next_ms
            .map(|at| (from_ms(at) - self.now()).to_std().unwrap_or(std::time::Duration::ZERO))
            .unwrap_or(cap)
            .min(cap)
    }
}

/// Milliseconds since the Unix epoch, the storage form of every instant.
pub fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The instant a stored millisecond value stands for.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A stored instant as RFC 3339 in UTC, e.g. `2026-03-17T10:00:00Z`: the one spelling of instants in answers,
/// payloads and the ledger.
pub fn rfc3339(ms: i64) -> String {
    from_ms(ms).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A new opaque id with a prefix naming its kind (`prm_01j...`); ULIDs sort by creation time, which keeps
/// cursors and indexes in insertion order.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
}
