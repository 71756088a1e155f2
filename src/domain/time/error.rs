//! The one error type of the time engine: each variant names the input it refused and maps to a stable
//! snake_case code that the API puts in problem+json.

use chrono::NaiveDateTime;
use chrono_tz::Tz;

/// Why a time input was refused. `Display` is a complete sentence for an end user (it quotes the input,
/// clipped to 80 characters); [`TimeError::code`] is the stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The name is not an IANA time zone (neither exactly nor ignoring case).
    #[error("unknown time zone '{}': use an IANA name such as Europe/Madrid{}", clip(.name), did_you_mean(.suggestion))]
    UnknownTimeZone {
        /// What was given.
        name: String,
        /// A zone whose city part matches what was given (`Madrid` -> `Europe/Madrid`), if any.
        suggestion: Option<&'static str>,
    },

    /// The text is not a wall-clock date and time (bad shape, impossible date, offset given, ...).
    #[error("invalid local time '{}': {reason}", clip(.input))]
    InvalidLocalTime {
        /// What was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The wall-clock time falls in a gap (clocks jumped over it) and the caller asked to reject that.
    #[error(
        "{} does not exist in {zone}: clocks jump forward {} there; the same moment is {} on the old clock \
         or {} on the new one (use disambiguation 'earlier' or 'later')",
        iso(.local), super::zone::human_span(*.gap_seconds), iso(.earlier), iso(.later)
    )]
    NonexistentLocalTime {
        /// The wall-clock time asked for.
        local: NaiveDateTime,
        /// The zone it was asked in.
        zone: Tz,
        /// Length of the gap in seconds.
        gap_seconds: i32,
        /// What `earlier` would give (local minus the gap).
        earlier: NaiveDateTime,
        /// What `later`/`compatible` would give (local plus the gap).
        later: NaiveDateTime,
    },

    /// The wall-clock time happens twice (clocks went back) and the caller asked to reject that.
    #[error(
        "{} happens twice in {zone}: first at UTC{}, then again at UTC{} (use disambiguation 'earlier' or 'later')",
        iso(.local), super::zone::format_offset(*.first_offset), super::zone::format_offset(*.second_offset)
    )]
    AmbiguousLocalTime {
        /// The wall-clock time asked for.
        local: NaiveDateTime,
        /// The zone it was asked in.
        zone: Tz,
        /// UTC offset (seconds) of the first occurrence.
        first_offset: i32,
        /// UTC offset (seconds) of the second occurrence.
        second_offset: i32,
    },

    /// A date or instant beyond what the engine handles (years 1-9999, durations up to 100 years).
    #[error("{what} is outside the supported range")]
    OutOfRange {
        /// What overflowed, in words.
        what: String,
    },

    /// Not one of `compatible`, `earlier`, `later`, `reject`.
    #[error("invalid disambiguation '{}': use compatible, earlier, later or reject", clip(.input))]
    InvalidDisambiguation {
        /// What was given.
        input: String,
    },

    /// A weekly window (contact window, shift) that does not parse.
    #[error("invalid window '{}': {reason}", clip(.input))]
    InvalidWindow {
        /// What was given (text form, or JSON rendered as text).
        input: String,
        /// Which part is wrong and why.
        reason: String,
    },

    /// A cron expression that does not parse; `field` is 1-based, `offset` counts characters from 0.
    #[error("invalid cron expression '{}': {}{reason}", clip(.expression), cron_place(*.field, *.offset))]
    InvalidCron {
        /// What was given.
        expression: String,
        /// 1-based field position, when the problem is inside one field.
        field: Option<u8>,
        /// Character offset (0-based) of the offending part.
        offset: usize,
        /// What is wrong.
        reason: String,
    },

    /// An ISO 8601 duration that does not parse or is not a fixed length.
    #[error("invalid duration '{}': {reason}", clip(.input))]
    InvalidDuration {
        /// What was given.
        input: String,
        /// What is wrong.
        reason: String,
    },

    /// A relative deadline (`within`, `within_business_days`) that cannot be used.
    #[error("invalid relative deadline '{}': {reason}", clip(.input))]
    InvalidRelative {
        /// What was given.
        input: String,
        /// What is wrong.
        reason: String,
    },

    /// An embedded or supplied holiday calendar file that does not parse.
    #[error("invalid holiday calendar '{region}': {reason}")]
    InvalidHolidayData {
        /// Region code or file name.
        region: String,
        /// What is wrong.
        reason: String,
    },
}

impl TimeError {
    /// Stable snake_case code for API clients and metrics; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            TimeError::UnknownTimeZone { .. } => "unknown_time_zone",
            TimeError::InvalidLocalTime { .. } => "invalid_local_time",
            TimeError::NonexistentLocalTime { .. } => "nonexistent_local_time",
            TimeError::AmbiguousLocalTime { .. } => "ambiguous_local_time",
            TimeError::OutOfRange { .. } => "time_out_of_range",
            TimeError::InvalidDisambiguation { .. } => "invalid_disambiguation",
            TimeError::InvalidWindow { .. } => "invalid_window",
            TimeError::InvalidCron { .. } => "invalid_cron",
            TimeError::InvalidDuration { .. } => "invalid_duration",
            TimeError::InvalidRelative { .. } => "invalid_relative_deadline",
            TimeError::InvalidHolidayData { .. } => "invalid_holiday_data",
        }
    }

    pub(super) fn out_of_range(what: impl Into<String>) -> Self {
        TimeError::OutOfRange { what: what.into() }
    }
}

/// Inputs are echoed back to users; a megabyte of garbage should not be.
pub(super) fn clip(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

fn did_you_mean(s: &Option<&'static str>) -> String {
    match s {
        Some(name) => format!(" (did you mean {name}?)"),
        None => String::new(),
    }
}

fn iso(t: &NaiveDateTime) -> String {
    super::zone::format_local(*t)
}

fn cron_place(field: Option<u8>, offset: usize) -> String {
    match field {
        Some(f) => format!("field {f}, character {offset}: "),
        None => format!("character {offset}: "),
    }
}
