//! The time engine: customer wall-clock times resolved in IANA zones (Temporal/jiff gap and fold rules),
//! weekly contact windows and shifts, cron recurrences on wall-clock time, ISO 8601 durations, relative
//! deadlines and holiday calendars. Pure functions over `chrono`/`chrono-tz`; no I/O, no panics on input.
//!
//! Two facts about the bundled tz database carry several algorithms here (checked for tzdata 2025b over
//! 1900-2100 by the ignored test `zone::tests::transitions_are_at_least_six_days_apart`):
//! consecutive offset changes in one zone are at least 6.9 days apart, and one change moves the clock by at
//! most 24 h (Kwajalein 1993, Pacific/Apia 2011). So any 5-day stretch holds at most one transition, and
//! the offsets in force over it are the ones at its two ends.
//!
//! This module is compiled both inside `tendero` and in a stand-alone test crate, so it refers to itself
//! with `self::`/`super::` paths only.

mod duration;
mod error;
mod holidays;
mod recurrence;
mod relative;
mod window;
mod zone;

#[cfg(test)]
mod testkit;

pub use chrono_tz::Tz;

pub use self::duration::{format_duration, parse_duration};
pub use self::error::TimeError;
pub use self::holidays::HolidayCalendar;
pub use self::recurrence::{Occurrence, Occurrences, Recurrence};
pub use self::relative::{
    within_business_days, within_days, within_days_iso, MAX_RELATIVE_BUSINESS_DAYS, MAX_RELATIVE_DAYS,
};
pub use self::window::{NearestSlots, WeeklyWindow};
pub use self::zone::{
    format_offset, local_offset_at, parse_local, parse_zone, resolve_local, still_matches, tzdata_version, Adjustment,
    Disambiguation, Resolved,
};
