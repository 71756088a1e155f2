//! Reading the values rows store as text (zones, weekly windows, kinds, lead reminders): a value that does not
//! read is an error naming the row it came from, never a silent default. Every such value was validated when
//! written, so one that fails here is a corrupt row (or a build that lost a zone), worth a 500 that says where.

use chrono_tz::Tz;

use crate::domain::time::{parse_zone, WeeklyWindow};
use crate::domain::vocab::{PromiseKind, PromiseStatus};
use crate::error::AppError;
use crate::repo::promises::Promise;

/// The error for a stored `field` of `table` row `id` that does not read.
pub fn corrupt(table: &str, id: &str, field: &str, why: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("{table} `{id}`: the stored {field} does not read: {why}"))
}

/// A stored IANA zone.
pub fn zone(table: &str, id: &str, text: &str) -> Result<Tz, AppError> {
    parse_zone(text).map_err(|e| corrupt(table, id, "time_zone", e))
}

/// A stored weekly window (a contact window or a shift).
pub fn window(table: &str, id: &str, field: &str, text: &str) -> Result<WeeklyWindow, AppError> {
    WeeklyWindow::parse(text).map_err(|e| corrupt(table, id, field, e))
}

/// A promise's kind.
pub fn kind(promise: &Promise) -> Result<PromiseKind, AppError> {
    promise.kind.parse().map_err(|e| corrupt("promise", &promise.id, "kind", e))
}

/// A promise's status.
pub fn status(promise: &Promise) -> Result<PromiseStatus, AppError> {
    promise.status.parse().map_err(|e| corrupt("promise", &promise.id, "status", e))
}

/// A promise's lead reminders, seconds before due.
pub fn leads(promise: &Promise) -> Result<Vec<i64>, AppError> {
    serde_json::from_str(&promise.lead_seconds).map_err(|e| corrupt("promise", &promise.id, "lead_seconds", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_does_not_read_names_its_row() {
        let err = zone("customer", "cus_1", "Mars/Olympus").unwrap_err();
        assert!(err.to_string().contains("customer `cus_1`") || format!("{err:?}").contains("cus_1"), "{err:?}");
        assert!(window("agent", "agt_1", "shift", "someday 25:00-26:00").is_err());
        assert_eq!(zone("customer", "cus_1", "Europe/Madrid").unwrap(), chrono_tz::Europe::Madrid);
    }
}
