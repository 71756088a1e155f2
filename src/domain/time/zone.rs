//! Zones and wall-clock resolution: turns a customer's local date-time plus IANA zone into a UTC instant,
//! with Temporal's (and jiff's) rules for times that do not exist (gaps) or happen twice (folds), and says
//! in plain words what was adjusted.
//!
//! Long on purpose: about half the file is its table tests (every gap and fold rule, checked against an
//! independent oracle in many zones), kept beside the code they pin down.

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::{GapInfo, Tz};

use super::error::{clip, TimeError};

/// Finds an IANA zone by name: exact spelling first, then ignoring ASCII case (`europe/madrid`).
/// Surrounding whitespace is ignored. The error suggests a zone when only the city was given.
pub fn parse_zone(name: &str) -> Result<Tz, TimeError> {
    let trimmed = name.trim();
    if let Ok(tz) = Tz::from_str(trimmed) {
        return Ok(tz);
    }
    // No IANA name is longer than ~32 bytes; skip the scan for anything absurd.
    if trimmed.len() <= 64 {
        if let Some(tz) = chrono_tz::TZ_VARIANTS.iter().find(|z| z.name().eq_ignore_ascii_case(trimmed)) {
            return Ok(*tz);
        }
    }
    Err(TimeError::UnknownTimeZone { name: name.to_string(), suggestion: suggest_zone(trimmed) })
}

/// "Madrid" or "new york" -> the zone whose last path part matches, so the error can say what was meant.
fn suggest_zone(input: &str) -> Option<&'static str> {
    if input.is_empty() || input.len() > 64 {
        return None;
    }
    let city = input.rsplit('/').next().unwrap_or(input).trim().replace(' ', "_");
    if city.is_empty() {
        return None;
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|z| z.name())
        .find(|n| n.rsplit('/').next().is_some_and(|c| c.eq_ignore_ascii_case(&city)))
}

/// Version of the IANA tz database compiled into the binary (e.g. "2025b"). Stored next to derived
/// instants so a start-up check can tell when rules may have changed.
pub fn tzdata_version() -> &'static str {
    chrono_tz::IANA_TZDB_VERSION
}

/// What to do when a wall-clock time does not exist (gap) or happens twice (fold).
/// Same four options and meanings as Temporal and jiff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disambiguation {
    /// Gap: move forward by the gap length. Fold: the first occurrence. (RFC 5545 behaviour.)
    #[default]
    Compatible,
    /// Gap: move back by the gap length. Fold: the first occurrence.
    Earlier,
    /// Gap: move forward by the gap length. Fold: the second occurrence.
    Later,
    /// Gap or fold: refuse with `nonexistent_local_time` / `ambiguous_local_time`.
    Reject,
}

impl Disambiguation {
    /// The snake_case name used in the API and in storage.
    pub fn as_str(&self) -> &'static str {
        match self {
            Disambiguation::Compatible => "compatible",
            Disambiguation::Earlier => "earlier",
            Disambiguation::Later => "later",
            Disambiguation::Reject => "reject",
        }
    }
}

impl FromStr for Disambiguation {
    type Err = TimeError;

    /// Accepts the four names in any ASCII case, surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        [Disambiguation::Compatible, Disambiguation::Earlier, Disambiguation::Later, Disambiguation::Reject]
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| TimeError::InvalidDisambiguation { input: s.to_string() })
    }
}

impl std::fmt::Display for Disambiguation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a wall-clock time had to be adjusted to become an instant; reported to the caller as a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adjustment {
    /// The time was in a gap and moved forward by `by` (the gap length).
    GapShiftedForward {
        /// How far the wall clock moved.
        by: Duration,
    },
    /// The time was in a gap and moved back by `by` (the gap length).
    GapShiftedBackward {
        /// How far the wall clock moved.
        by: Duration,
    },
    /// The time happens twice; the first occurrence was taken.
    FoldEarlier,
    /// The time happens twice; the second occurrence was taken.
    FoldLater,
}

impl Adjustment {
    /// Stable warning code: `dst_gap_shifted`, `dst_fold_earlier` or `dst_fold_later`.
    pub fn code(&self) -> &'static str {
        match self {
            Adjustment::GapShiftedForward { .. } | Adjustment::GapShiftedBackward { .. } => "dst_gap_shifted",
            Adjustment::FoldEarlier => "dst_fold_earlier",
            Adjustment::FoldLater => "dst_fold_later",
        }
    }

    /// Plain-English explanation for the wall-clock time `local` that was asked for in `zone`, e.g.
    /// "02:30 does not exist on 2026-03-29 in Europe/Madrid (clocks jump forward 1 h); moved to 03:30".
    pub fn message(&self, local: NaiveDateTime, zone: Tz) -> String {
        let when = clock(local);
        let day = local.date();
        match *self {
            Adjustment::GapShiftedForward { by } | Adjustment::GapShiftedBackward { by } => {
                let forward = matches!(self, Adjustment::GapShiftedForward { .. });
                let moved = if forward { local.checked_add_signed(by) } else { local.checked_sub_signed(by) };
                let target = match moved {
                    Some(m) if m.date() == day => clock(m),
                    Some(m) => format!("{} on {}", clock(m), m.date()),
                    None => "the nearest valid time".to_string(),
                };
                format!(
                    "{when} does not exist on {day} in {zone} (clocks jump forward {}); moved {}to {target}",
                    human_span(by.num_seconds().clamp(i32::MIN as i64, i32::MAX as i64) as i32),
                    if forward { "" } else { "back " },
                )
            }
            Adjustment::FoldEarlier | Adjustment::FoldLater => {
                let which = if matches!(self, Adjustment::FoldEarlier) { "first" } else { "second" };
                match fold_offsets(local, zone) {
                    Some((first, second)) => {
                        let chosen = if which == "first" { first } else { second };
                        format!(
                            "{when} happens twice on {day} in {zone} (clocks go back {}); using the {which}, at UTC{}",
                            human_span(first - second),
                            format_offset(chosen)
                        )
                    }
                    None => format!("{when} happens twice on {day} in {zone}; using the {which}"),
                }
            }
        }
    }
}

/// A wall-clock time pinned to an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The instant.
    pub instant: DateTime<Utc>,
    /// UTC offset in force at `instant`, in seconds (east positive).
    pub offset_seconds: i32,
    /// The wall-clock time actually used: the input, or the input moved out of a gap.
    pub local: NaiveDateTime,
    /// What was adjusted, if anything.
    pub adjustment: Option<Adjustment>,
}

/// Resolves the wall-clock time `local` in `zone`.
///
/// - Exists once: that instant.
/// - Gap (clocks jumped over it): `compatible`/`later` use the offset in force before the jump, which lands
///   the gap length later on the new clock (02:30 -> 03:30); `earlier` uses the offset after the jump,
///   the gap length earlier (02:30 -> 01:30); `reject` errors with `nonexistent_local_time`.
/// - Fold (happens twice): `compatible`/`earlier` take the first, `later` the second; `reject` errors with
///   `ambiguous_local_time`.
pub fn resolve_local(local: NaiveDateTime, zone: Tz, how: Disambiguation) -> Result<Resolved, TimeError> {
    let out_of_range = || TimeError::out_of_range(format!("{} in {zone}", format_local(local)));
    match zone.offset_from_local_datetime(&local) {
        LocalResult::Single(off) => {
            let o = off.fix().local_minus_utc();
            Ok(Resolved {
                instant: instant_of(local, o).ok_or_else(out_of_range)?,
                offset_seconds: o,
                local,
                adjustment: None,
            })
        }
        LocalResult::Ambiguous(a, b) => {
            let (oa, ob) = (a.fix().local_minus_utc(), b.fix().local_minus_utc());
            // The larger offset gives the earlier instant; do not trust the order chrono-tz returns.
            let (first, second) = (oa.max(ob), oa.min(ob));
            let (offset, adjustment) = match how {
                Disambiguation::Compatible | Disambiguation::Earlier => (first, Adjustment::FoldEarlier),
                Disambiguation::Later => (second, Adjustment::FoldLater),
                Disambiguation::Reject => {
                    return Err(TimeError::AmbiguousLocalTime {
                        local,
                        zone,
                        first_offset: first,
                        second_offset: second,
                    })
                }
            };
            Ok(Resolved {
                instant: instant_of(local, offset).ok_or_else(out_of_range)?,
                offset_seconds: offset,
                local,
                adjustment: Some(adjustment),
            })
        }
        LocalResult::None => {
            let (before, after) = gap_offsets(local, zone).ok_or_else(out_of_range)?;
            let gap = after - before;
            let instant = match how {
                // Reading the wall clock with the old offset lands `gap` later on the new clock.
                Disambiguation::Compatible | Disambiguation::Later => instant_of(local, before),
                Disambiguation::Earlier => instant_of(local, after),
                Disambiguation::Reject => {
                    let span = Duration::seconds(gap as i64);
                    return Err(TimeError::NonexistentLocalTime {
                        local,
                        zone,
                        gap_seconds: gap,
                        earlier: local.checked_sub_signed(span).ok_or_else(out_of_range)?,
                        later: local.checked_add_signed(span).ok_or_else(out_of_range)?,
                    });
                }
            }
            .ok_or_else(out_of_range)?;
            let offset = offset_at(zone, instant);
            let used = local_of(instant, offset).ok_or_else(out_of_range)?;
            let by = used.signed_duration_since(local);
            let adjustment = if by >= Duration::zero() {
                Adjustment::GapShiftedForward { by }
            } else {
                Adjustment::GapShiftedBackward { by: -by }
            };
            Ok(Resolved { instant, offset_seconds: offset, local: used, adjustment: Some(adjustment) })
        }
    }
}

/// Offsets (seconds) in force just before and just after the gap that swallows `local`.
fn gap_offsets(local: NaiveDateTime, zone: Tz) -> Option<(i32, i32)> {
    if let Some(GapInfo { begin: Some((_, before)), end: Some(end) }) = GapInfo::new(&local, &zone) {
        let (b, a) = (before.fix().local_minus_utc(), end.offset().fix().local_minus_utc());
        if a > b {
            return Some((b, a));
        }
    }
    // Temporal's own method: offsets one day either side. Exact here because transitions are days apart.
    let guess = local.and_utc();
    let b = offset_at(zone, guess.checked_sub_signed(Duration::days(1))?);
    let a = offset_at(zone, guess.checked_add_signed(Duration::days(1))?);
    (a > b).then_some((b, a))
}

/// The two offsets of a fold at `local` (first, second), if it is one.
fn fold_offsets(local: NaiveDateTime, zone: Tz) -> Option<(i32, i32)> {
    match zone.offset_from_local_datetime(&local) {
        LocalResult::Ambiguous(a, b) => {
            let (oa, ob) = (a.fix().local_minus_utc(), b.fix().local_minus_utc());
            Some((oa.max(ob), oa.min(ob)))
        }
        _ => None,
    }
}

/// Parses a wall-clock date-time: `2026-03-29T02:30`, `2026-03-29T02:30:15`, a space instead of `T`,
/// optional fractional seconds. Refuses UTC offsets and `Z` (the zone travels separately) and impossible
/// dates, naming what is wrong.
pub fn parse_local(text: &str) -> Result<NaiveDateTime, TimeError> {
    let fail = |reason: String| TimeError::InvalidLocalTime { input: text.to_string(), reason };
    let s = text.trim();
    if s.is_empty() {
        return Err(fail("empty; expected a date and time like 2026-03-29T10:00".into()));
    }
    let b = s.as_bytes();
    let shape = "expected a date and time like 2026-03-29T10:00";
    let date_part = s.get(..10).ok_or_else(|| fail(shape.into()))?;
    let db = date_part.as_bytes();
    let digits = |r: std::ops::Range<usize>, bytes: &[u8]| -> Option<u32> {
        let slice = bytes.get(r)?;
        if slice.is_empty() || !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        slice.iter().try_fold(0u32, |acc, d| Some(acc * 10 + u32::from(d - b'0')))
    };
    let (year, month, day) = match (db.get(4), db.get(7)) {
        (Some(b'-'), Some(b'-')) => (digits(0..4, db), digits(5..7, db), digits(8..10, db)),
        _ => (None, None, None),
    };
    let (Some(year), Some(month), Some(day)) = (year, month, day) else {
        return Err(fail(format!("{shape} (date as YYYY-MM-DD)")));
    };
    if year == 0 {
        return Err(fail("year must be between 0001 and 9999".into()));
    }
    if !(1..=12).contains(&month) {
        return Err(fail(format!("month {month:02} does not exist")));
    }
    let Some(date) = NaiveDate::from_ymd_opt(year as i32, month, day) else {
        let max = days_in_month(year as i32, month);
        return Err(fail(format!(
            "{date_part} is not a date: {} {year} has {max} days",
            MONTH_NAMES[(month - 1) as usize]
        )));
    };
    let Some(&sep) = b.get(10) else {
        return Err(fail(format!("a time is missing; expected e.g. {date_part}T10:00")));
    };
    if !matches!(sep, b'T' | b't' | b' ') {
        return Err(fail(format!("{shape} ('T' or a space between date and time)")));
    }
    let rest = s.get(11..).ok_or_else(|| fail(shape.into()))?.trim_start();
    let rb = rest.as_bytes();
    let (Some(hour), Some(b':'), Some(minute)) = (digits(0..2, rb), rb.get(2), digits(3..5, rb)) else {
        return Err(fail(format!("{shape} (time as HH:MM or HH:MM:SS)")));
    };
    let mut pos = 5;
    let mut second = 0;
    let mut nanos = 0u32;
    if rb.get(pos) == Some(&b':') {
        second = digits(pos + 1..pos + 3, rb).ok_or_else(|| fail(format!("{shape} (seconds as two digits)")))?;
        pos += 3;
        if matches!(rb.get(pos), Some(b'.') | Some(b',')) {
            let start = pos + 1;
            let mut end = start;
            while rb.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            if end == start || end - start > 9 {
                return Err(fail("fractional seconds need 1 to 9 digits".into()));
            }
            let frac = digits(start..end, rb).ok_or_else(|| fail(shape.into()))?;
            nanos = frac * 10u32.pow(9 - (end - start) as u32);
            pos = end;
        }
    }
    let tail = rest.get(pos..).unwrap_or("").trim();
    if !tail.is_empty() {
        let offset_like = tail.starts_with(['Z', 'z', '+', '-', '\u{2212}'])
            || tail.eq_ignore_ascii_case("utc")
            || tail.eq_ignore_ascii_case("gmt");
        return Err(fail(if offset_like {
            "carries a UTC offset: due_local is wall-clock time; give the zone in time_zone".into()
        } else {
            format!("unexpected '{}' after the time", clip(tail))
        }));
    }
    if hour == 24 {
        return Err(fail("24:00 is not a time of day; use 00:00 of the next day".into()));
    }
    if hour > 23 {
        return Err(fail(format!("hour {hour} does not exist (00-23)")));
    }
    if minute > 59 {
        return Err(fail(format!("minute {minute} does not exist (00-59)")));
    }
    if second > 59 {
        return Err(fail(format!("second {second} does not exist (00-59; leap seconds are not supported)")));
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos).ok_or_else(|| fail(shape.into()))?;
    Ok(date.and_time(time))
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Days in a month of the proleptic Gregorian calendar.
pub(super) fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// UTC offset in seconds (east positive) in force in `zone` at `instant`.
pub fn local_offset_at(instant: DateTime<Utc>, zone: Tz) -> i32 {
    offset_at(zone, instant)
}

/// Formats an offset in seconds as `+01:00`, `+05:45`, `-03:00` (seconds only when not whole minutes).
pub fn format_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    if s == 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    }
}

/// True when resolving `local` in `zone` with `how` still gives `stored_instant`. Used at start-up: a
/// false means the tz rules changed since the instant was derived and the promise must be recomputed.
pub fn still_matches(stored_instant: DateTime<Utc>, local: NaiveDateTime, zone: Tz, how: Disambiguation) -> bool {
    resolve_local(local, zone, how).is_ok_and(|r| r.instant == stored_instant)
}

// ---- helpers shared by the other submodules ----

pub(super) fn offset_at(zone: Tz, instant: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&instant.naive_utc()).fix().local_minus_utc()
}

/// Wall clock at `instant` given the offset in force.
pub(super) fn local_of(instant: DateTime<Utc>, offset: i32) -> Option<NaiveDateTime> {
    instant.naive_utc().checked_add_signed(Duration::seconds(offset as i64))
}

/// Wall clock at `instant` in `zone`.
pub(super) fn local_at(zone: Tz, instant: DateTime<Utc>) -> Option<NaiveDateTime> {
    local_of(instant, offset_at(zone, instant))
}

/// The instant at which the wall clock reads `local` under `offset`.
pub(super) fn instant_of(local: NaiveDateTime, offset: i32) -> Option<DateTime<Utc>> {
    local.checked_sub_signed(Duration::seconds(offset as i64)).map(|n| n.and_utc())
}

/// Smallest and largest offsets in force within 60 h of `t`. Exact, not sampled: a 120 h stretch holds at
/// most one transition (see the module notes), so the ends of the stretch carry every offset in it.
pub(super) fn offset_band(zone: Tz, t: DateTime<Utc>) -> (i32, i32) {
    let reach = Duration::hours(60);
    let here = offset_at(zone, t);
    let before = t.checked_sub_signed(reach).map_or(here, |p| offset_at(zone, p));
    let after = t.checked_add_signed(reach).map_or(here, |p| offset_at(zone, p));
    (here.min(before).min(after), here.max(before).max(after))
}

/// The first instant whose wall clock reads `local` or later: `local` itself when it exists (first
/// occurrence in a fold), the end of the gap when it does not. Used for "start of this local day".
pub(super) fn first_instant_at_or_after(local: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.offset_from_local_datetime(&local) {
        LocalResult::Single(o) => instant_of(local, o.fix().local_minus_utc()),
        LocalResult::Ambiguous(a, b) => {
            let first = a.fix().local_minus_utc().max(b.fix().local_minus_utc());
            instant_of(local, first)
        }
        LocalResult::None => {
            if let Some(GapInfo { end: Some(end), .. }) = GapInfo::new(&local, &zone) {
                return Some(end.with_timezone(&Utc));
            }
            // Read with the new offset `local` is just before the jump, with the old one just after it.
            let (before, after) = gap_offsets(local, zone)?;
            let lower = instant_of(local, after)?;
            let upper = instant_of(local, before)?;
            first_offset_change(zone, lower, upper, offset_at(zone, lower))
        }
    }
}

/// First instant in `(from, to]` whose offset differs from `offset` (the offset at `from`), to the second.
pub(super) fn first_offset_change(
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    offset: i32,
) -> Option<DateTime<Utc>> {
    // Probes 48 h apart cannot step over a change and its reversal (they are days apart).
    let step = Duration::hours(48);
    let mut lo = from;
    while lo < to {
        let hi = lo.checked_add_signed(step).map_or(to, |h| h.min(to));
        if offset_at(zone, hi) != offset {
            return Some(bisect_change(zone, lo, hi, offset));
        }
        lo = hi;
    }
    None
}

/// Last instant in `[from, to)` whose offset differs from `offset` (the offset at `to`), to the second.
pub(super) fn last_offset_change(
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    offset: i32,
) -> Option<DateTime<Utc>> {
    let step = Duration::hours(48);
    let mut hi = to;
    while hi > from {
        let lo = hi.checked_sub_signed(step).map_or(from, |l| l.max(from));
        let lo_offset = offset_at(zone, lo);
        if lo_offset != offset {
            // The change is in (lo, hi]; its first instant minus one second is the answer.
            let change = bisect_change(zone, lo, hi, lo_offset);
            return change.checked_sub_signed(Duration::seconds(1));
        }
        hi = lo;
    }
    None
}

/// Given offset(lo) == `offset` != offset(hi), the first whole second in (lo, hi] with another offset.
fn bisect_change(zone: Tz, lo: DateTime<Utc>, hi: DateTime<Utc>, offset: i32) -> DateTime<Utc> {
    let (mut lo_s, mut hi_s) = (lo.timestamp(), hi.timestamp());
    if hi.timestamp_subsec_nanos() > 0 {
        hi_s += 1;
    }
    while hi_s - lo_s > 1 {
        let mid = lo_s + (hi_s - lo_s) / 2;
        let same = DateTime::from_timestamp(mid, 0).is_some_and(|m| offset_at(zone, m) == offset);
        if same {
            lo_s = mid;
        } else {
            hi_s = mid;
        }
    }
    DateTime::from_timestamp(hi_s, 0).unwrap_or(hi)
}

/// "1 h", "30 min", "1 h 30 min", "24 h": lengths of gaps and folds in messages.
pub(super) fn human_span(seconds: i32) -> String {
    let abs = seconds.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

/// `2026-03-29T02:30`, with seconds only when present.
pub(super) fn format_local(t: NaiveDateTime) -> String {
    format!("{}T{}", t.date(), clock(t))
}

/// `02:30`, or `02:30:15` when the seconds are not zero.
fn clock(t: NaiveDateTime) -> String {
    if t.second() == 0 && t.nanosecond() == 0 {
        t.format("%H:%M").to_string()
    } else if t.nanosecond() == 0 {
        t.format("%H:%M:%S").to_string()
    } else {
        t.format("%H:%M:%S%.f").to_string()
    }
}

/// Day of the week as 0 = Monday .. 6 = Sunday.
pub(super) fn weekday_index(d: NaiveDate) -> usize {
    d.weekday().num_days_from_monday() as usize
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{brute_gap, brute_instants, local, next_transition, tz, utc, zone_at};
    use super::*;
    use proptest::prelude::*;
    use Disambiguation::{Compatible, Earlier, Later, Reject};

    /// (zone, wall clock, how, expected): Ok((instant, offset, wall clock used, warning code)) or Err(code).
    type Row = (
        &'static str,
        &'static str,
        Disambiguation,
        Result<(&'static str, &'static str, &'static str, Option<&'static str>), &'static str>,
    );

    const GAP: Option<&str> = Some("dst_gap_shifted");
    const FIRST: Option<&str> = Some("dst_fold_earlier");
    const SECOND: Option<&str> = Some("dst_fold_later");

    /// Expected values worked out by hand from the zone rules (offsets before/after each transition).
    const TABLE: &[Row] = &[
        // Madrid, spring forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z).
        (
            "Europe/Madrid",
            "2026-03-29T02:30",
            Compatible,
            Ok(("2026-03-29T01:30:00Z", "+02:00", "2026-03-29T03:30", GAP)),
        ),
        ("Europe/Madrid", "2026-03-29T02:30", Later, Ok(("2026-03-29T01:30:00Z", "+02:00", "2026-03-29T03:30", GAP))),
        ("Europe/Madrid", "2026-03-29T02:30", Earlier, Ok(("2026-03-29T00:30:00Z", "+01:00", "2026-03-29T01:30", GAP))),
        ("Europe/Madrid", "2026-03-29T02:30", Reject, Err("nonexistent_local_time")),
        ("Europe/Madrid", "2026-03-29T01:59", Reject, Ok(("2026-03-29T00:59:00Z", "+01:00", "2026-03-29T01:59", None))),
        ("Europe/Madrid", "2026-03-29T03:00", Reject, Ok(("2026-03-29T01:00:00Z", "+02:00", "2026-03-29T03:00", None))),
        // Madrid, fall back 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z).
        (
            "Europe/Madrid",
            "2026-10-25T02:30",
            Compatible,
            Ok(("2026-10-25T00:30:00Z", "+02:00", "2026-10-25T02:30", FIRST)),
        ),
        (
            "Europe/Madrid",
            "2026-10-25T02:30",
            Earlier,
            Ok(("2026-10-25T00:30:00Z", "+02:00", "2026-10-25T02:30", FIRST)),
        ),
        (
            "Europe/Madrid",
            "2026-10-25T02:30",
            Later,
            Ok(("2026-10-25T01:30:00Z", "+01:00", "2026-10-25T02:30", SECOND)),
        ),
        ("Europe/Madrid", "2026-10-25T02:30", Reject, Err("ambiguous_local_time")),
        // Canary Islands, one hour behind the peninsula: 01:00 WET -> 02:00 WEST, and back.
        (
            "Atlantic/Canary",
            "2026-03-29T01:30",
            Compatible,
            Ok(("2026-03-29T01:30:00Z", "+01:00", "2026-03-29T02:30", GAP)),
        ),
        ("Atlantic/Canary", "2026-03-29T01:30", Later, Ok(("2026-03-29T01:30:00Z", "+01:00", "2026-03-29T02:30", GAP))),
        (
            "Atlantic/Canary",
            "2026-03-29T01:30",
            Earlier,
            Ok(("2026-03-29T00:30:00Z", "+00:00", "2026-03-29T00:30", GAP)),
        ),
        ("Atlantic/Canary", "2026-03-29T01:30", Reject, Err("nonexistent_local_time")),
        (
            "Atlantic/Canary",
            "2026-10-25T01:30",
            Compatible,
            Ok(("2026-10-25T00:30:00Z", "+01:00", "2026-10-25T01:30", FIRST)),
        ),
        (
            "Atlantic/Canary",
            "2026-10-25T01:30",
            Earlier,
            Ok(("2026-10-25T00:30:00Z", "+01:00", "2026-10-25T01:30", FIRST)),
        ),
        (
            "Atlantic/Canary",
            "2026-10-25T01:30",
            Later,
            Ok(("2026-10-25T01:30:00Z", "+00:00", "2026-10-25T01:30", SECOND)),
        ),
        ("Atlantic/Canary", "2026-10-25T01:30", Reject, Err("ambiguous_local_time")),
        // New York: 02:00 EST -> 03:00 EDT on 2026-03-08, 02:00 EDT -> 01:00 EST on 2026-11-01.
        (
            "America/New_York",
            "2026-03-08T02:30",
            Compatible,
            Ok(("2026-03-08T07:30:00Z", "-04:00", "2026-03-08T03:30", GAP)),
        ),
        (
            "America/New_York",
            "2026-03-08T02:30",
            Later,
            Ok(("2026-03-08T07:30:00Z", "-04:00", "2026-03-08T03:30", GAP)),
        ),
        (
            "America/New_York",
            "2026-03-08T02:30",
            Earlier,
            Ok(("2026-03-08T06:30:00Z", "-05:00", "2026-03-08T01:30", GAP)),
        ),
        ("America/New_York", "2026-03-08T02:30", Reject, Err("nonexistent_local_time")),
        (
            "America/New_York",
            "2026-11-01T01:30",
            Compatible,
            Ok(("2026-11-01T05:30:00Z", "-04:00", "2026-11-01T01:30", FIRST)),
        ),
        (
            "America/New_York",
            "2026-11-01T01:30",
            Earlier,
            Ok(("2026-11-01T05:30:00Z", "-04:00", "2026-11-01T01:30", FIRST)),
        ),
        (
            "America/New_York",
            "2026-11-01T01:30",
            Later,
            Ok(("2026-11-01T06:30:00Z", "-05:00", "2026-11-01T01:30", SECOND)),
        ),
        ("America/New_York", "2026-11-01T01:30", Reject, Err("ambiguous_local_time")),
        // Sao Paulo 2018: midnight did not exist (00:00 -03 -> 01:00 -02); DST ended 2019-02-17 00:00 -> 23:00.
        (
            "America/Sao_Paulo",
            "2018-11-04T00:00",
            Compatible,
            Ok(("2018-11-04T03:00:00Z", "-02:00", "2018-11-04T01:00", GAP)),
        ),
        (
            "America/Sao_Paulo",
            "2018-11-04T00:00",
            Later,
            Ok(("2018-11-04T03:00:00Z", "-02:00", "2018-11-04T01:00", GAP)),
        ),
        (
            "America/Sao_Paulo",
            "2018-11-04T00:00",
            Earlier,
            Ok(("2018-11-04T02:00:00Z", "-03:00", "2018-11-03T23:00", GAP)),
        ),
        ("America/Sao_Paulo", "2018-11-04T00:00", Reject, Err("nonexistent_local_time")),
        (
            "America/Sao_Paulo",
            "2019-02-16T23:30",
            Earlier,
            Ok(("2019-02-17T01:30:00Z", "-02:00", "2019-02-16T23:30", FIRST)),
        ),
        (
            "America/Sao_Paulo",
            "2019-02-16T23:30",
            Later,
            Ok(("2019-02-17T02:30:00Z", "-03:00", "2019-02-16T23:30", SECOND)),
        ),
        // Lord Howe: half-hour DST. 02:00 -> 02:30 (+10:30 -> +11) on 2026-10-04; 02:00 -> 01:30 on 2026-04-05.
        (
            "Australia/Lord_Howe",
            "2026-10-04T02:15",
            Compatible,
            Ok(("2026-10-03T15:45:00Z", "+11:00", "2026-10-04T02:45", GAP)),
        ),
        (
            "Australia/Lord_Howe",
            "2026-10-04T02:15",
            Later,
            Ok(("2026-10-03T15:45:00Z", "+11:00", "2026-10-04T02:45", GAP)),
        ),
        (
            "Australia/Lord_Howe",
            "2026-10-04T02:15",
            Earlier,
            Ok(("2026-10-03T15:15:00Z", "+10:30", "2026-10-04T01:45", GAP)),
        ),
        ("Australia/Lord_Howe", "2026-10-04T02:15", Reject, Err("nonexistent_local_time")),
        (
            "Australia/Lord_Howe",
            "2026-04-05T01:45",
            Compatible,
            Ok(("2026-04-04T14:45:00Z", "+11:00", "2026-04-05T01:45", FIRST)),
        ),
        (
            "Australia/Lord_Howe",
            "2026-04-05T01:45",
            Earlier,
            Ok(("2026-04-04T14:45:00Z", "+11:00", "2026-04-05T01:45", FIRST)),
        ),
        (
            "Australia/Lord_Howe",
            "2026-04-05T01:45",
            Later,
            Ok(("2026-04-04T15:15:00Z", "+10:30", "2026-04-05T01:45", SECOND)),
        ),
        ("Australia/Lord_Howe", "2026-04-05T01:45", Reject, Err("ambiguous_local_time")),
        // Kathmandu: +05:45 all year, nothing to disambiguate.
        (
            "Asia/Kathmandu",
            "2026-06-15T10:00",
            Compatible,
            Ok(("2026-06-15T04:15:00Z", "+05:45", "2026-06-15T10:00", None)),
        ),
        (
            "Asia/Kathmandu",
            "2026-06-15T10:00",
            Earlier,
            Ok(("2026-06-15T04:15:00Z", "+05:45", "2026-06-15T10:00", None)),
        ),
        ("Asia/Kathmandu", "2026-06-15T10:00", Later, Ok(("2026-06-15T04:15:00Z", "+05:45", "2026-06-15T10:00", None))),
        (
            "Asia/Kathmandu",
            "2026-06-15T10:00",
            Reject,
            Ok(("2026-06-15T04:15:00Z", "+05:45", "2026-06-15T10:00", None)),
        ),
        // Apia skipped 2011-12-30 entirely: 23:59:59 on the 29th (-10) was followed by 00:00 on the 31st (+14).
        (
            "Pacific/Apia",
            "2011-12-30T10:00",
            Compatible,
            Ok(("2011-12-30T20:00:00Z", "+14:00", "2011-12-31T10:00", GAP)),
        ),
        ("Pacific/Apia", "2011-12-30T10:00", Later, Ok(("2011-12-30T20:00:00Z", "+14:00", "2011-12-31T10:00", GAP))),
        ("Pacific/Apia", "2011-12-30T10:00", Earlier, Ok(("2011-12-29T20:00:00Z", "-10:00", "2011-12-29T10:00", GAP))),
        ("Pacific/Apia", "2011-12-30T10:00", Reject, Err("nonexistent_local_time")),
        // Santiago: 00:00 -04 -> 01:00 -03 on 2026-09-06; 00:00 -03 -> 23:00 -04 on 2026-04-05.
        (
            "America/Santiago",
            "2026-09-06T00:30",
            Compatible,
            Ok(("2026-09-06T04:30:00Z", "-03:00", "2026-09-06T01:30", GAP)),
        ),
        (
            "America/Santiago",
            "2026-09-06T00:30",
            Earlier,
            Ok(("2026-09-06T03:30:00Z", "-04:00", "2026-09-05T23:30", GAP)),
        ),
        ("America/Santiago", "2026-09-06T00:30", Reject, Err("nonexistent_local_time")),
        (
            "America/Santiago",
            "2026-04-04T23:30",
            Compatible,
            Ok(("2026-04-05T02:30:00Z", "-03:00", "2026-04-04T23:30", FIRST)),
        ),
        (
            "America/Santiago",
            "2026-04-04T23:30",
            Later,
            Ok(("2026-04-05T03:30:00Z", "-04:00", "2026-04-04T23:30", SECOND)),
        ),
        ("America/Santiago", "2026-04-04T23:30", Reject, Err("ambiguous_local_time")),
        // Casablanca: +01 except in Ramadan. 03:00 -> 02:00 on 2026-02-15, 02:00 -> 03:00 on 2026-03-22.
        (
            "Africa/Casablanca",
            "2026-02-15T02:30",
            Compatible,
            Ok(("2026-02-15T01:30:00Z", "+01:00", "2026-02-15T02:30", FIRST)),
        ),
        (
            "Africa/Casablanca",
            "2026-02-15T02:30",
            Later,
            Ok(("2026-02-15T02:30:00Z", "+00:00", "2026-02-15T02:30", SECOND)),
        ),
        ("Africa/Casablanca", "2026-02-15T02:30", Reject, Err("ambiguous_local_time")),
        (
            "Africa/Casablanca",
            "2026-03-22T02:30",
            Compatible,
            Ok(("2026-03-22T02:30:00Z", "+01:00", "2026-03-22T03:30", GAP)),
        ),
        (
            "Africa/Casablanca",
            "2026-03-22T02:30",
            Earlier,
            Ok(("2026-03-22T01:30:00Z", "+00:00", "2026-03-22T01:30", GAP)),
        ),
        ("Africa/Casablanca", "2026-03-22T02:30", Reject, Err("nonexistent_local_time")),
        (
            "Africa/Casablanca",
            "2026-03-01T12:00",
            Reject,
            Ok(("2026-03-01T12:00:00Z", "+00:00", "2026-03-01T12:00", None)),
        ),
        // Chatham: +12:45 / +13:45. 02:45 -> 03:45 on 2026-09-27; 03:45 -> 02:45 on 2026-04-05.
        (
            "Pacific/Chatham",
            "2026-09-27T03:00",
            Compatible,
            Ok(("2026-09-26T14:15:00Z", "+13:45", "2026-09-27T04:00", GAP)),
        ),
        ("Pacific/Chatham", "2026-09-27T03:00", Later, Ok(("2026-09-26T14:15:00Z", "+13:45", "2026-09-27T04:00", GAP))),
        (
            "Pacific/Chatham",
            "2026-09-27T03:00",
            Earlier,
            Ok(("2026-09-26T13:15:00Z", "+12:45", "2026-09-27T02:00", GAP)),
        ),
        ("Pacific/Chatham", "2026-09-27T03:00", Reject, Err("nonexistent_local_time")),
        (
            "Pacific/Chatham",
            "2026-04-05T03:00",
            Compatible,
            Ok(("2026-04-04T13:15:00Z", "+13:45", "2026-04-05T03:00", FIRST)),
        ),
        (
            "Pacific/Chatham",
            "2026-04-05T03:00",
            Later,
            Ok(("2026-04-04T14:15:00Z", "+12:45", "2026-04-05T03:00", SECOND)),
        ),
        ("Pacific/Chatham", "2026-04-05T03:00", Reject, Err("ambiguous_local_time")),
    ];

    #[test]
    fn resolves_the_table_of_real_transitions() {
        for (zone, wall, how, expected) in TABLE {
            let z = tz(zone);
            let l = parse_local(wall).expect("table wall clocks parse");
            let got = resolve_local(l, z, *how);
            let label = format!("{zone} {wall} {how}");
            match (expected, got) {
                (Ok((instant, offset, used, code)), Ok(r)) => {
                    assert_eq!(r.instant, utc(instant), "{label}: instant");
                    assert_eq!(format_offset(r.offset_seconds), *offset, "{label}: offset");
                    assert_eq!(format_local(r.local), *used, "{label}: wall clock used");
                    assert_eq!(r.adjustment.map(|a| a.code()), *code, "{label}: warning");
                    // The table agrees with the brute-force reference, too.
                    let brute = brute_instants(l, z);
                    match r.adjustment {
                        None => assert_eq!(brute, vec![r.instant], "{label}"),
                        Some(Adjustment::FoldEarlier) => assert_eq!(brute.first(), Some(&r.instant)),
                        Some(Adjustment::FoldLater) => assert_eq!(brute.last(), Some(&r.instant)),
                        Some(_) => assert!(brute.is_empty(), "{label}: a gap has no instant"),
                    }
                }
                (Err(code), Err(e)) => assert_eq!(e.code(), *code, "{label}"),
                (want, got) => panic!("{label}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_customer_in_madrid_hears_in_plain_words_why_0230_became_0330() {
        let l = local(2026, 3, 29, 2, 30);
        let r = resolve_local(l, tz("Europe/Madrid"), Compatible).unwrap();
        let adj = r.adjustment.unwrap();
        assert_eq!(
            adj.message(l, tz("Europe/Madrid")),
            "02:30 does not exist on 2026-03-29 in Europe/Madrid (clocks jump forward 1 h); moved to 03:30"
        );
        let r = resolve_local(l, tz("Europe/Madrid"), Earlier).unwrap();
        assert_eq!(
            r.adjustment.unwrap().message(l, tz("Europe/Madrid")),
            "02:30 does not exist on 2026-03-29 in Europe/Madrid (clocks jump forward 1 h); moved back to 01:30"
        );
        let fold = local(2026, 10, 25, 2, 30);
        let r = resolve_local(fold, tz("Europe/Madrid"), Later).unwrap();
        assert_eq!(
            r.adjustment.unwrap().message(fold, tz("Europe/Madrid")),
            "02:30 happens twice on 2026-10-25 in Europe/Madrid (clocks go back 1 h); using the second, at UTC+01:00"
        );
        let apia = local(2011, 12, 30, 10, 0);
        let r = resolve_local(apia, tz("Pacific/Apia"), Compatible).unwrap();
        assert_eq!(
            r.adjustment.unwrap().message(apia, tz("Pacific/Apia")),
            "10:00 does not exist on 2011-12-30 in Pacific/Apia (clocks jump forward 24 h); moved to 10:00 on 2011-12-31"
        );
        let lh = local(2026, 10, 4, 2, 15);
        let r = resolve_local(lh, tz("Australia/Lord_Howe"), Compatible).unwrap();
        assert!(r
            .adjustment
            .unwrap()
            .message(lh, tz("Australia/Lord_Howe"))
            .contains("clocks jump forward 30 min); moved to 02:45"));
    }

    #[test]
    fn reject_errors_name_the_time_and_the_way_out() {
        let e = resolve_local(local(2026, 3, 29, 2, 30), tz("Europe/Madrid"), Reject).unwrap_err();
        assert_eq!(
            e.to_string(),
            "2026-03-29T02:30 does not exist in Europe/Madrid: clocks jump forward 1 h there; the same moment \
             is 2026-03-29T01:30 on the old clock or 2026-03-29T03:30 on the new one (use disambiguation \
             'earlier' or 'later')"
        );
        let e = resolve_local(local(2026, 11, 1, 1, 30), tz("America/New_York"), Reject).unwrap_err();
        assert_eq!(
            e.to_string(),
            "2026-11-01T01:30 happens twice in America/New_York: first at UTC-04:00, then again at UTC-05:00 \
             (use disambiguation 'earlier' or 'later')"
        );
    }

    #[test]
    fn zones_are_found_exactly_or_ignoring_case_and_errors_suggest() {
        assert_eq!(parse_zone("Europe/Madrid").unwrap(), chrono_tz::Europe::Madrid);
        assert_eq!(parse_zone(" europe/madrid ").unwrap(), chrono_tz::Europe::Madrid);
        assert_eq!(parse_zone("AMERICA/NEW_YORK").unwrap(), chrono_tz::America::New_York);
        assert_eq!(parse_zone("UTC").unwrap(), chrono_tz::UTC);
        let e = parse_zone("Madrid").unwrap_err();
        assert_eq!(e.code(), "unknown_time_zone");
        assert_eq!(
            e.to_string(),
            "unknown time zone 'Madrid': use an IANA name such as Europe/Madrid (did you mean Europe/Madrid?)"
        );
        let e = parse_zone("new york").unwrap_err();
        assert!(e.to_string().contains("did you mean America/New_York?"), "{e}");
        assert!(parse_zone("Europe/Madird").is_err());
        assert!(parse_zone("").is_err());
        assert!(!tzdata_version().is_empty());
    }

    #[test]
    fn wall_clock_text_is_strict_and_says_what_is_wrong() {
        assert_eq!(parse_local("2026-03-29T02:30").unwrap(), local(2026, 3, 29, 2, 30));
        assert_eq!(parse_local("2026-03-29 02:30").unwrap(), local(2026, 3, 29, 2, 30));
        assert_eq!(parse_local("2026-03-29T02:30:15").unwrap(), local(2026, 3, 29, 2, 30) + Duration::seconds(15));
        assert_eq!(
            parse_local("2026-03-29T02:30:15.250").unwrap(),
            local(2026, 3, 29, 2, 30) + Duration::milliseconds(15_250)
        );
        let reason = |s: &str| match parse_local(s) {
            Err(TimeError::InvalidLocalTime { reason, .. }) => reason,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            reason("2026-03-29T02:30+01:00"),
            "carries a UTC offset: due_local is wall-clock time; give the zone in time_zone"
        );
        assert!(reason("2026-03-29T02:30Z").contains("give the zone in time_zone"));
        assert_eq!(reason("2026-02-30T10:00"), "2026-02-30 is not a date: February 2026 has 28 days");
        assert_eq!(reason("2028-02-30T10:00"), "2028-02-30 is not a date: February 2028 has 29 days");
        assert!(reason("2026-13-01T10:00").contains("month 13"));
        assert!(reason("2026-03-29").contains("a time is missing"));
        assert!(reason("2026-03-29T24:00").contains("next day"));
        assert!(reason("2026-03-29T10:60").contains("minute 60"));
        assert!(reason("0000-01-01T10:00").contains("0001 and 9999"));
        assert!(reason("29/03/2026 10:00").contains("expected a date and time"));
        assert!(reason("2026-03-29T10:00 tomorrow").contains("unexpected 'tomorrow'"));
        assert_eq!(
            parse_local("2026-03-29T02:30Z").unwrap_err().to_string(),
            "invalid local time '2026-03-29T02:30Z': carries a UTC offset: due_local is wall-clock time; \
             give the zone in time_zone"
        );
    }

    #[test]
    fn offsets_format_like_iso() {
        assert_eq!(format_offset(3600), "+01:00");
        assert_eq!(format_offset(20_700), "+05:45");
        assert_eq!(format_offset(-10_800), "-03:00");
        assert_eq!(format_offset(0), "+00:00");
        assert_eq!(format_offset(-2_670), "-00:44:30");
        assert_eq!(format_offset(49_500), "+13:45");
        assert_eq!(local_offset_at(utc("2026-07-01T00:00:00Z"), tz("Europe/Madrid")), 7200);
    }

    #[test]
    fn disambiguation_reads_and_writes_its_names() {
        for d in [Compatible, Earlier, Later, Reject] {
            assert_eq!(d.as_str().parse::<Disambiguation>().unwrap(), d);
            assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{}\"", d.as_str()));
            let back: Disambiguation = serde_json::from_str(&format!("\"{}\"", d.as_str())).unwrap();
            assert_eq!(back, d);
        }
        assert_eq!(" LATER ".parse::<Disambiguation>().unwrap(), Later);
        assert_eq!(Disambiguation::default(), Compatible);
        assert_eq!("soonest".parse::<Disambiguation>().unwrap_err().code(), "invalid_disambiguation");
    }

    #[test]
    fn a_changed_rule_is_detected_at_start_up() {
        let l = local(2026, 11, 10, 11, 0);
        let r = resolve_local(l, tz("Europe/Madrid"), Compatible).unwrap();
        assert!(still_matches(r.instant, l, tz("Europe/Madrid"), Compatible));
        // As if the instant had been stored under other rules (one hour off).
        assert!(!still_matches(r.instant + Duration::hours(1), l, tz("Europe/Madrid"), Compatible));
        // A time that became a gap no longer "matches" under reject.
        assert!(!still_matches(r.instant, local(2026, 3, 29, 2, 30), tz("Europe/Madrid"), Reject));
    }

    #[test]
    fn extreme_years_give_answers_or_errors_never_panics() {
        for how in [Compatible, Earlier, Later, Reject] {
            for zone in [tz("Pacific/Kiritimati"), tz("Etc/GMT+12"), tz("Europe/Madrid")] {
                let _ = resolve_local(NaiveDateTime::MIN, zone, how);
                let _ = resolve_local(NaiveDateTime::MAX, zone, how);
                let _ = resolve_local(local(1, 1, 1, 0, 0), zone, how);
                let _ = resolve_local(local(9999, 12, 31, 23, 59), zone, how);
            }
        }
        assert!(parse_local("9999-12-31T23:59").is_ok());
    }

    /// Walks every zone over 1900-2100 a quarter hour at a time. Slow (minutes in release); run after a
    /// tzdata update: `cargo test --release -- --ignored transitions_are`.
    #[test]
    #[ignore]
    fn transitions_are_at_least_six_days_apart() {
        let start = utc("1900-01-01T00:00:00Z");
        let end = utc("2101-01-01T00:00:00Z");
        for zone in chrono_tz::TZ_VARIANTS {
            let mut t = start;
            let mut o = offset_at(zone, t);
            let mut last: Option<DateTime<Utc>> = None;
            while t < end {
                let next = t + Duration::minutes(15);
                let o2 = offset_at(zone, next);
                if o2 != o {
                    assert!((o2 - o).abs() <= 86_400, "{zone}: jump at {next}");
                    if let Some(prev) = last {
                        assert!(next - prev >= Duration::days(6), "{zone}: {prev} and {next}");
                    }
                    last = Some(next);
                }
                (t, o) = (next, o2);
            }
        }
    }

    const DST_ZONES: &[&str] = &[
        "Europe/Madrid",
        "Atlantic/Canary",
        "America/New_York",
        "America/Sao_Paulo",
        "Australia/Lord_Howe",
        "Pacific/Apia",
        "America/Santiago",
        "Africa/Casablanca",
        "Pacific/Chatham",
        "Asia/Tehran",
        "America/Havana",
        "Europe/Chisinau",
        "Antarctica/Troll",
        "America/St_Johns",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

        /// Against the minute-by-minute reference, in random zones and years, half the cases placed right
        /// around a real transition: Single <=> one match; fold <=> first/last match; gap <=> no match, and
        /// compatible lands exactly the gap length later.
        #[test]
        fn resolution_agrees_with_brute_force(
            zone_index in 0usize..10_000,
            seconds in 0i64..4_102_444_800, // 1970..2100
            near in any::<bool>(),
            delta_minutes in 0i64..100_000,
            sub_minute in 0i64..60,
        ) {
            let mut zone = zone_at(zone_index);
            let start = DateTime::from_timestamp(seconds, 0).unwrap();
            let mut transition = if near { next_transition(zone, start, 1100) } else { None };
            if near && transition.is_none() {
                // This zone keeps one offset around then; use one that moves its clocks.
                zone = tz(DST_ZONES[zone_index % DST_ZONES.len()]);
                let start = DateTime::from_timestamp(seconds % 2_000_000_000, 0).unwrap();
                transition = next_transition(zone, start, 1100);
            }
            let l = match transition {
                Some((at, before, after)) => {
                    // Land in the gap or fold (or just beside it) about half the time.
                    let jump = ((after - before).abs() / 60).max(1) as i64;
                    let into = delta_minutes.rem_euclid(jump + 30) - 15;
                    let delta = if after > before { into } else { -into };
                    let wall_before = at.naive_utc() + Duration::seconds(before as i64);
                    wall_before + Duration::minutes(delta) + Duration::seconds(sub_minute)
                }
                None => local_at(zone, start).unwrap() + Duration::seconds(sub_minute),
            };
            let brute = brute_instants(l, zone);
            let compat = resolve_local(l, zone, Compatible).unwrap();
            let earlier = resolve_local(l, zone, Earlier).unwrap();
            let later = resolve_local(l, zone, Later).unwrap();
            let reject = resolve_local(l, zone, Reject);
            match brute.len() {
                1 => {
                    for r in [compat, earlier, later, reject.clone().unwrap()] {
                        prop_assert_eq!(r.instant, brute[0]);
                        prop_assert_eq!(r.local, l);
                        prop_assert_eq!(r.adjustment, None);
                    }
                }
                2 => {
                    prop_assert_eq!(compat.instant, brute[0]);
                    prop_assert_eq!(earlier.instant, brute[0]);
                    prop_assert_eq!(later.instant, brute[1]);
                    prop_assert_eq!(compat.adjustment, Some(Adjustment::FoldEarlier));
                    prop_assert_eq!(later.adjustment, Some(Adjustment::FoldLater));
                    prop_assert_eq!(reject.unwrap_err().code(), "ambiguous_local_time");
                }
                0 => {
                    let (before, after) = brute_gap(l, zone).expect("a gap has a forward jump");
                    let gap = Duration::seconds((after - before) as i64);
                    prop_assert_eq!(compat.local, l + gap);
                    prop_assert_eq!(compat.instant, (l - Duration::seconds(before as i64)).and_utc());
                    prop_assert_eq!(later, compat);
                    prop_assert_eq!(earlier.local, l - gap);
                    prop_assert_eq!(earlier.instant, (l - Duration::seconds(after as i64)).and_utc());
                    prop_assert_eq!(compat.adjustment, Some(Adjustment::GapShiftedForward { by: gap }));
                    prop_assert_eq!(earlier.adjustment, Some(Adjustment::GapShiftedBackward { by: gap }));
                    prop_assert_eq!(reject.unwrap_err().code(), "nonexistent_local_time");
                }
                n => prop_assert!(false, "{} instants read {} in {}", n, l, zone),
            }
            // Whatever happened, the instant's offset is the one reported.
            prop_assert_eq!(offset_at(zone, compat.instant), compat.offset_seconds);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_zone(&s);
            let _ = parse_local(&s);
            let _ = s.parse::<Disambiguation>();
        }

        #[test]
        fn near_valid_wall_clocks_never_panic(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,12})?)?[Z+-]?") {
            if let Ok(l) = parse_local(&s) {
                for how in [Compatible, Earlier, Later, Reject] {
                    let _ = resolve_local(l, tz("Pacific/Apia"), how);
                }
            }
        }
    }
}
