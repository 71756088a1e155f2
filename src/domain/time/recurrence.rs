//! Recurrences: cron expressions evaluated on the customer's wall clock, each occurrence resolved with
//! the gap/fold rules of `zone`. Written by hand because the `cron` crate evaluates in a `TimeZone` and
//! silently skips wall-clock times that fall in a gap, while a promised 02:30 call must still happen.
//!
//! Long on purpose: the cron evaluator is one state machine over wall-clock fields, and more than a third of
//! the file is its tests across DST changes.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;

use super::error::TimeError;
use super::zone::{days_in_month, offset_band, resolve_local, Disambiguation, Resolved};

/// How far ahead `next_after` looks before giving up ("0 0 30 2 *" never matches). Ten years covers the
/// eight-year stretch between leap days around 2100.
const HORIZON_DAYS: i64 = 3_660;
/// Upper bound on matcher steps per `next_after` call, so no expression can make it spin.
const STEP_BUDGET: u32 = 100_000;
const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2199;

/// A parsed cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 (seconds first) or
/// 7 (seconds first, year last); `*`, `?`, lists, ranges, steps, names (`jan`, `mon`) and the macros
/// `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`. Day of week: 0 or 7 = Sunday, 1 = Monday.
/// When both day fields are restricted a day matching either fires (classic Vixie cron rule).
#[derive(Clone, Debug)]
pub struct Recurrence {
    expression: String,
    seconds: u64,
    minutes: u64,
    hours: u32,
    days_of_month: u32,      // bit d = day d (1..=31)
    months: u16,             // bit m = month m (1..=12)
    days_of_week: u8,        // bit 0 = Sunday .. bit 6 = Saturday
    years: Option<[u64; 4]>, // bit (y - 1970); None = every year
    dom_restricted: bool,
    dow_restricted: bool,
}

/// One firing of a recurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occurrence {
    /// The wall-clock time the expression names (before any gap adjustment).
    pub local: NaiveDateTime,
    /// That time resolved in the zone; `resolved.local` differs from `local` when it fell in a gap.
    pub resolved: Resolved,
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTH_NAMES: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DOW_NAMES: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const SECOND: FieldSpec = FieldSpec { name: "second", min: 0, max: 59, names: &[] };
const MINUTE: FieldSpec = FieldSpec { name: "minute", min: 0, max: 59, names: &[] };
const HOUR: FieldSpec = FieldSpec { name: "hour", min: 0, max: 23, names: &[] };
const DOM: FieldSpec = FieldSpec { name: "day of month", min: 1, max: 31, names: &[] };
const MONTH: FieldSpec = FieldSpec { name: "month", min: 1, max: 12, names: MONTH_NAMES };
const DOW: FieldSpec = FieldSpec { name: "day of week", min: 0, max: 7, names: DOW_NAMES };
const YEAR: FieldSpec = FieldSpec { name: "year", min: FIRST_YEAR as u32, max: LAST_YEAR as u32, names: &[] };

impl Recurrence {
    /// Parses a cron expression. Errors carry the 1-based field and the character offset of the problem.
    pub fn parse(expr: &str) -> Result<Self, TimeError> {
        let fail = |field: Option<u8>, offset: usize, reason: String| TimeError::InvalidCron {
            expression: expr.to_string(),
            field,
            offset,
            reason,
        };
        if expr.len() > 512 {
            return Err(fail(None, 0, "longer than 512 characters".into()));
        }
        let trimmed = expr.trim();
        if trimmed.is_empty() {
            return Err(fail(None, 0, "empty; expected e.g. '0 9 * * mon-fri'".into()));
        }
        let lead = expr.chars().take_while(|c| c.is_whitespace()).count();
        let body = if let Some(name) = trimmed.strip_prefix('@') {
            match name.to_ascii_lowercase().as_str() {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                _ => {
                    return Err(fail(
                        None,
                        lead,
                        "unknown macro; use @yearly, @monthly, @weekly, @daily or @hourly".into(),
                    ))
                }
            }
        } else {
            trimmed
        };
        let from_macro = body.as_ptr() != trimmed.as_ptr();

        // Fields with their character offsets in `expr`.
        let mut fields: Vec<(usize, &str)> = Vec::new();
        let mut start: Option<(usize, usize)> = None; // (byte, char)
        for (chars, (byte, c)) in body.char_indices().enumerate() {
            if c.is_whitespace() {
                if let Some((b, ch)) = start.take() {
                    fields.push((ch, &body[b..byte]));
                }
            } else if start.is_none() {
                start = Some((byte, chars));
            }
        }
        if let Some((b, ch)) = start {
            fields.push((ch, &body[b..]));
        }
        let specs: &[&FieldSpec] = match fields.len() {
            5 => &[&MINUTE, &HOUR, &DOM, &MONTH, &DOW],
            6 => &[&SECOND, &MINUTE, &HOUR, &DOM, &MONTH, &DOW],
            7 => &[&SECOND, &MINUTE, &HOUR, &DOM, &MONTH, &DOW, &YEAR],
            n => {
                return Err(fail(
                    None,
                    lead,
                    format!(
                        "expected 5 fields (minute hour day-of-month month day-of-week), or 6/7 with seconds \
                         first and year last; found {n}"
                    ),
                ))
            }
        };
        let mut sets = Vec::with_capacity(specs.len());
        for (i, ((offset, text), spec)) in fields.iter().zip(specs).enumerate() {
            let at = if from_macro { lead } else { lead + offset };
            let values = parse_field(text, spec, at).map_err(|(off, reason)| fail(Some(i as u8 + 1), off, reason))?;
            sets.push(values);
        }
        let shift = if specs.len() == 5 { 0 } else { 1 };
        let mask = |values: &[u32]| values.iter().fold(0u64, |m, v| m | (1u64 << v));
        let restricted = |i: usize| !(fields[i].1.starts_with('*') || fields[i].1.starts_with('?'));
        let dow_mask = sets[4 + shift].iter().fold(0u8, |m, v| m | (1u8 << (v % 7)));
        Ok(Recurrence {
            expression: trimmed.to_string(),
            seconds: if shift == 1 { mask(&sets[0]) } else { 1 },
            minutes: mask(&sets[shift]),
            hours: mask(&sets[1 + shift]) as u32,
            days_of_month: mask(&sets[2 + shift]) as u32,
            months: mask(&sets[3 + shift]) as u16,
            days_of_week: dow_mask,
            years: sets.get(6).map(|ys| {
                let mut bits = [0u64; 4];
                for y in ys {
                    let i = (*y - FIRST_YEAR as u32) as usize;
                    bits[i / 64] |= 1 << (i % 64);
                }
                bits
            }),
            dom_restricted: restricted(2 + shift),
            dow_restricted: restricted(4 + shift),
        })
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first occurrence strictly after `after`, each wall-clock match resolved in `zone` with `how`.
    ///
    /// A time that falls in a gap fires once at its resolved instant (never skipped); a time in a fold fires
    /// once (never twice). `Reject` is treated as `Compatible` here: an occurrence cannot be refused when
    /// it comes due. Two wall-clock matches that resolve to the same instant fire once, reported as the
    /// one that needed no adjustment. Returns `None` past `until` (inclusive bound), or when nothing matches
    /// within ten years.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        zone: Tz,
        how: Disambiguation,
        until: Option<DateTime<Utc>>,
    ) -> Option<Occurrence> {
        let how = match how {
            Disambiguation::Reject => Disambiguation::Compatible,
            other => other,
        };
        // Every resolution uses an offset in force near the instant it lands on, so an occurrence after
        // `after` has a wall-clock time after `after + lowest offset` nearby; start the scan there.
        let (low, _) = offset_band(zone, after);
        let start = after.naive_utc().checked_add_signed(Duration::seconds(low as i64))?;
        let mut cursor = start.with_nanosecond(0)?.checked_add_signed(Duration::seconds(1))?;
        let mut horizon =
            after.naive_utc().checked_add_signed(Duration::days(HORIZON_DAYS)).unwrap_or(NaiveDateTime::MAX);
        if let Some(u) = until {
            // A wall-clock time more than two days after `until` cannot resolve to before it.
            if let Some(h) = u.naive_utc().checked_add_signed(Duration::days(2)) {
                horizon = horizon.min(h);
            }
        }
        let mut budget = STEP_BUDGET;
        let mut best: Option<(Occurrence, NaiveDateTime)> = None;
        while let Some(candidate) = self.next_match(cursor, horizon, &mut budget) {
            if let Some((_, stop)) = &best {
                // Later wall-clock times resolve to later instants than the best one from here on.
                if candidate > *stop {
                    break;
                }
            }
            if let Ok(r) = resolve_local(candidate, zone, how) {
                let in_range = r.instant > after && until.is_none_or(|u| r.instant <= u);
                let better = in_range
                    && match &best {
                        None => true,
                        Some((b, _)) => {
                            r.instant < b.resolved.instant
                                || (r.instant == b.resolved.instant
                                    && r.adjustment.is_none()
                                    && b.resolved.adjustment.is_some())
                        }
                    };
                if better {
                    let (_, high) = offset_band(zone, r.instant);
                    let stop = r
                        .instant
                        .naive_utc()
                        .checked_add_signed(Duration::seconds(high as i64))
                        .unwrap_or(NaiveDateTime::MAX);
                    best = Some((Occurrence { local: candidate, resolved: r }, stop));
                }
            }
            cursor = candidate.checked_add_signed(Duration::seconds(1))?;
        }
        best.map(|(o, _)| o)
    }

    /// All occurrences after `after` (up to `until`), in order; each step is a `next_after`.
    pub fn occurrences(
        &self,
        after: DateTime<Utc>,
        zone: Tz,
        how: Disambiguation,
        until: Option<DateTime<Utc>>,
    ) -> Occurrences<'_> {
        Occurrences { recurrence: self, after, zone, how, until }
    }

    /// First wall-clock time at or after `from` (whole seconds) that the expression names, not past `limit`.
    fn next_match(&self, from: NaiveDateTime, limit: NaiveDateTime, budget: &mut u32) -> Option<NaiveDateTime> {
        let mut date = from.date();
        let (mut h, mut mi, mut s) = (from.hour(), from.minute(), from.second());
        loop {
            if *budget == 0 || date > limit.date() {
                return None;
            }
            *budget -= 1;
            let y = date.year();
            if !self.year_ok(y) {
                date = NaiveDate::from_ymd_opt(self.next_year(y)?, 1, 1)?;
                (h, mi, s) = (0, 0, 0);
                continue;
            }
            let m = date.month();
            if self.months & (1 << m) == 0 {
                date = match next_bit(u64::from(self.months), m + 1) {
                    Some(next) if next <= 12 => NaiveDate::from_ymd_opt(y, next, 1)?,
                    _ => NaiveDate::from_ymd_opt(y.checked_add(1)?, 1, 1)?,
                };
                (h, mi, s) = (0, 0, 0);
                continue;
            }
            if !self.day_ok(date) {
                date = self.next_day(date)?;
                (h, mi, s) = (0, 0, 0);
                continue;
            }
            let Some(hour) = next_bit(u64::from(self.hours), h) else {
                date = date.succ_opt()?;
                (h, mi, s) = (0, 0, 0);
                continue;
            };
            if hour != h {
                (h, mi, s) = (hour, 0, 0);
            }
            let Some(minute) = next_bit(self.minutes, mi) else {
                if h >= 23 {
                    date = date.succ_opt()?;
                    h = 0;
                } else {
                    h += 1;
                }
                (mi, s) = (0, 0);
                continue;
            };
            if minute != mi {
                (mi, s) = (minute, 0);
            }
            let Some(second) = next_bit(self.seconds, s) else {
                if mi >= 59 {
                    mi = 0;
                    if h >= 23 {
                        date = date.succ_opt()?;
                        h = 0;
                    } else {
                        h += 1;
                    }
                } else {
                    mi += 1;
                }
                s = 0;
                continue;
            };
            let t = date.and_hms_opt(h, mi, second)?;
            return (t <= limit).then_some(t);
        }
    }

    fn year_ok(&self, y: i32) -> bool {
        match &self.years {
            None => true,
            Some(bits) => {
                (FIRST_YEAR..=LAST_YEAR).contains(&y) && {
                    let i = (y - FIRST_YEAR) as usize;
                    bits[i / 64] & (1 << (i % 64)) != 0
                }
            }
        }
    }

    fn next_year(&self, y: i32) -> Option<i32> {
        match &self.years {
            None => y.checked_add(1),
            Some(_) => (y.max(FIRST_YEAR - 1) + 1..=LAST_YEAR).find(|&c| self.year_ok(c)),
        }
    }

    fn day_ok(&self, date: NaiveDate) -> bool {
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.dom_restricted && self.dow_restricted {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// The next day worth checking after `date` (jumps straight to the next named day of the month when
    /// only the day-of-month field restricts).
    fn next_day(&self, date: NaiveDate) -> Option<NaiveDate> {
        if self.dom_restricted && !self.dow_restricted {
            let last = days_in_month(date.year(), date.month());
            return match next_bit(u64::from(self.days_of_month), date.day() + 1) {
                Some(d) if d <= last => date.with_day(d),
                _ => {
                    let first = date.with_day(1)?;
                    first.checked_add_months(chrono::Months::new(1))
                }
            };
        }
        date.succ_opt()
    }
}

impl std::fmt::Display for Recurrence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.expression)
    }
}

impl std::str::FromStr for Recurrence {
    type Err = TimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Recurrence {
    /// As the expression text.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.expression)
    }
}

impl<'de> serde::Deserialize<'de> for Recurrence {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Iterator over a recurrence's occurrences; see [`Recurrence::occurrences`].
#[derive(Clone, Debug)]
pub struct Occurrences<'a> {
    recurrence: &'a Recurrence,
    after: DateTime<Utc>,
    zone: Tz,
    how: Disambiguation,
    until: Option<DateTime<Utc>>,
}

impl Iterator for Occurrences<'_> {
    type Item = Occurrence;

    fn next(&mut self) -> Option<Occurrence> {
        let o = self.recurrence.next_after(self.after, self.zone, self.how, self.until)?;
        self.after = o.resolved.instant;
        Some(o)
    }
}

fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let m = mask & (u64::MAX << from);
    (m != 0).then(|| m.trailing_zeros())
}

/// Parses one field into its sorted values; errors as (character offset in the expression, reason).
fn parse_field(text: &str, spec: &FieldSpec, at: usize) -> Result<Vec<u32>, (usize, String)> {
    let mut values = Vec::new();
    let mut char_pos = at;
    for item in text.split(',') {
        let here = char_pos;
        char_pos += item.chars().count() + 1;
        if item.is_empty() {
            return Err((here, format!("{}: empty item in a list", spec.name)));
        }
        if item.contains('#') || (spec.names.is_empty() && item.contains(['L', 'W', 'l', 'w'])) {
            return Err((here, format!("{}: 'L', 'W' and '#' are not supported", spec.name)));
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some((s, here + r.chars().count() + 1))),
            None => (item, None),
        };
        let step = match step {
            None => 1,
            Some((s, pos)) => match number(s) {
                Some(n) if n >= 1 => n,
                _ => {
                    return Err((
                        pos,
                        format!("{}: step '{}' must be a whole number of at least 1", spec.name, clip_short(s)),
                    ))
                }
            },
        };
        let is_star = range == "*" || range == "?";
        if range == "?" && !spec.name.starts_with("day") {
            return Err((here, format!("{}: '?' is only allowed in the day fields", spec.name)));
        }
        let (lo, hi) = if is_star {
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let lo = value(a, spec).map_err(|r| (here, r))?;
            let hi = value(b, spec).map_err(|r| (here + a.chars().count() + 1, r))?;
            (lo, hi)
        } else {
            let v = value(range, spec).map_err(|r| (here, r))?;
            (v, if step > 1 || item.contains('/') { spec.max } else { v })
        };
        let sequence: Vec<u32> = if lo <= hi {
            (lo..=hi).collect()
        } else if spec.max == 7 {
            // Day-of-week ranges may wrap the weekend: fri-mon.
            (lo..=6).chain(0..=hi).collect()
        } else {
            return Err((
                here,
                format!(
                    "{}: range {lo}-{hi} goes backwards; list both parts instead ({lo}-{},{}-{hi})",
                    spec.name, spec.max, spec.min
                ),
            ));
        };
        values.extend(sequence.into_iter().step_by(step as usize));
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

fn number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn value(s: &str, spec: &FieldSpec) -> Result<u32, String> {
    if let Some(n) = number(s) {
        if n < spec.min || n > spec.max {
            return Err(format!("{} {n} is out of range {}-{}", spec.name, spec.min, spec.max));
        }
        return Ok(n);
    }
    if !spec.names.is_empty() && s.len() >= 3 {
        let lower = s.to_ascii_lowercase();
        if let Some(i) =
            spec.names.iter().position(|n| lower == *n || (lower.len() > 3 && full_name_matches(&lower, n)))
        {
            return Ok(i as u32 + spec.min);
        }
    }
    Err(if s.is_empty() {
        format!("{}: a value is missing", spec.name)
    } else if spec.names.is_empty() {
        format!("{}: '{}' is not a number", spec.name, clip_short(s))
    } else {
        format!(
            "{}: unknown '{}'; use {} or numbers {}-{}",
            spec.name,
            clip_short(s),
            spec.names.join(", "),
            spec.min,
            spec.max
        )
    })
}

/// `monday`, `january`: full English names, matched by their three-letter abbreviation.
fn full_name_matches(lower: &str, abbrev: &str) -> bool {
    const FULL: &[&str] = &[
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    FULL.iter().any(|f| *f == lower && f.starts_with(abbrev))
}

fn clip_short(s: &str) -> String {
    s.chars().take(20).collect()
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{local, tz, utc, zone_at};
    use super::super::zone::{local_at, Adjustment};
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::str::FromStr;

    fn cron(expr: &str) -> Recurrence {
        Recurrence::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    fn firings(
        expr: &str,
        zone: &str,
        how: Disambiguation,
        from: &str,
        n: usize,
    ) -> Vec<(DateTime<Utc>, NaiveDateTime, Option<&'static str>)> {
        cron(expr)
            .occurrences(utc(from), tz(zone), how, None)
            .take(n)
            .map(|o| (o.resolved.instant, o.resolved.local, o.resolved.adjustment.map(|a| a.code())))
            .collect()
    }

    #[test]
    fn a_daily_0230_call_in_new_york_still_happens_on_the_spring_forward_day() {
        let got = firings("30 2 * * *", "America/New_York", Disambiguation::Compatible, "2026-03-07T12:00:00Z", 2);
        assert_eq!(
            got,
            vec![
                (utc("2026-03-08T07:30:00Z"), local(2026, 3, 8, 3, 30), Some("dst_gap_shifted")),
                (utc("2026-03-09T06:30:00Z"), local(2026, 3, 9, 2, 30), None),
            ]
        );
    }

    #[test]
    fn the_cron_crate_skips_that_call_which_is_why_it_is_not_used() {
        use chrono::TimeZone;
        let schedule = cron::Schedule::from_str("0 30 2 * * *").unwrap();
        let ny = tz("America/New_York");
        let from = ny.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap();
        let days: Vec<u32> = schedule.after(&from).take(2).map(|t| t.day()).collect();
        assert_eq!(days, vec![9, 10], "the cron crate jumps from the 7th to the 9th");
    }

    #[test]
    fn a_daily_0130_call_fires_once_on_the_fall_back_night() {
        let got = firings("30 1 * * *", "America/New_York", Disambiguation::Compatible, "2026-10-31T12:00:00Z", 2);
        assert_eq!(
            got,
            vec![
                (utc("2026-11-01T05:30:00Z"), local(2026, 11, 1, 1, 30), Some("dst_fold_earlier")),
                (utc("2026-11-02T06:30:00Z"), local(2026, 11, 2, 1, 30), None),
            ]
        );
        let later = firings("30 1 * * *", "America/New_York", Disambiguation::Later, "2026-10-31T12:00:00Z", 2);
        assert_eq!(later[0].0, utc("2026-11-01T06:30:00Z"));
        assert_eq!(later[1].0, utc("2026-11-02T06:30:00Z"));
        // Starting between the two 01:30s does not fire the second one.
        let between = firings("30 1 * * *", "America/New_York", Disambiguation::Compatible, "2026-11-01T06:00:00Z", 1);
        assert_eq!(between[0].0, utc("2026-11-02T06:30:00Z"));
    }

    #[test]
    fn a_weekly_tuesday_1100_in_madrid_keeps_1100_across_the_change() {
        let got = firings("0 11 * * tue", "Europe/Madrid", Disambiguation::Compatible, "2026-10-15T00:00:00Z", 2);
        assert_eq!(
            got,
            vec![
                (utc("2026-10-20T09:00:00Z"), local(2026, 10, 20, 11, 0), None),
                (utc("2026-10-27T10:00:00Z"), local(2026, 10, 27, 11, 0), None),
            ]
        );
    }

    #[test]
    fn an_hourly_update_through_the_gap_fires_once_per_real_instant() {
        let compat = firings("30 * * * *", "Europe/Madrid", Disambiguation::Compatible, "2026-03-29T00:00:00Z", 3);
        assert_eq!(
            compat,
            vec![
                (utc("2026-03-29T00:30:00Z"), local(2026, 3, 29, 1, 30), None),
                // 02:30 does not exist; it would fire at 03:30 CEST, which 03:30 itself names.
                (utc("2026-03-29T01:30:00Z"), local(2026, 3, 29, 3, 30), None),
                (utc("2026-03-29T02:30:00Z"), local(2026, 3, 29, 4, 30), None),
            ]
        );
        let earlier = firings("30 * * * *", "Europe/Madrid", Disambiguation::Earlier, "2026-03-29T00:00:00Z", 2);
        assert_eq!(earlier[0], (utc("2026-03-29T00:30:00Z"), local(2026, 3, 29, 1, 30), None));
        assert_eq!(earlier[1], (utc("2026-03-29T01:30:00Z"), local(2026, 3, 29, 3, 30), None));
    }

    #[test]
    fn apia_skips_a_day_and_the_update_fires_on_the_next_real_morning() {
        let got = firings("0 10 * * *", "Pacific/Apia", Disambiguation::Compatible, "2011-12-28T21:00:00Z", 3);
        assert_eq!(
            got,
            vec![
                (utc("2011-12-29T20:00:00Z"), local(2011, 12, 29, 10, 0), None),
                (utc("2011-12-30T20:00:00Z"), local(2011, 12, 31, 10, 0), None),
                (utc("2011-12-31T20:00:00Z"), local(2012, 1, 1, 10, 0), None),
            ]
        );
    }

    #[test]
    fn impossible_and_bounded_expressions_end() {
        let never = cron("0 0 30 2 *");
        assert_eq!(
            never.next_after(utc("2026-01-01T00:00:00Z"), tz("Europe/Madrid"), Disambiguation::Compatible, None),
            None
        );
        let leap = cron("0 12 29 2 *");
        let next = leap.next_after(utc("2026-03-01T00:00:00Z"), tz("Europe/Madrid"), Disambiguation::Compatible, None);
        assert_eq!(next.map(|o| o.local), Some(local(2028, 2, 29, 12, 0)));
        let until = Some(utc("2026-05-01T00:00:00Z"));
        let daily = cron("0 9 * * *");
        let n = daily
            .occurrences(utc("2026-04-01T00:00:00Z"), tz("Europe/Madrid"), Disambiguation::Compatible, until)
            .count();
        assert_eq!(n, 30);
        let far = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let last = daily.next_after(far, tz("Europe/Madrid"), Disambiguation::Compatible, None);
        assert_eq!(last.map(|o| o.local), Some(local(9999, 12, 31, 9, 0)));
        assert_eq!(daily.next_after(DateTime::<Utc>::MAX_UTC, tz("UTC"), Disambiguation::Compatible, None), None);
        assert!(daily.next_after(DateTime::<Utc>::MIN_UTC, tz("UTC"), Disambiguation::Compatible, None).is_some());
    }

    #[test]
    fn fields_forms_and_names() {
        let at = |expr: &str, from: &str| {
            cron(expr).next_after(utc(from), tz("UTC"), Disambiguation::Compatible, None).map(|o| o.local)
        };
        assert_eq!(at("*/15 9-17 * jan,jul mon-fri", "2026-01-02T17:50:00Z"), Some(local(2026, 1, 5, 9, 0)));
        assert_eq!(at("0 9 * * 7", "2026-05-11T00:00:00Z"), Some(local(2026, 5, 17, 9, 0))); // 7 = Sunday
        assert_eq!(at("0 9 * * sat-mon", "2026-05-12T00:00:00Z"), Some(local(2026, 5, 16, 9, 0)));
        assert_eq!(at("0 9 13 * fri", "2026-05-01T12:00:00Z"), Some(local(2026, 5, 8, 9, 0))); // either day field
        assert_eq!(at("0 9 13 * fri", "2026-05-08T12:00:00Z"), Some(local(2026, 5, 13, 9, 0)));
        assert_eq!(at("0 9 */10 * *", "2026-05-02T00:00:00Z"), Some(local(2026, 5, 11, 9, 0))); // * prefix: AND
        assert_eq!(at("30 0 9 * * *", "2026-05-02T00:00:00Z"), Some(local(2026, 5, 2, 9, 0) + Duration::seconds(30)));
        assert_eq!(at("0 0 9 1 1 * 2027", "2026-05-02T00:00:00Z"), Some(local(2027, 1, 1, 9, 0)));
        assert_eq!(at("0 0 9 1 1 ? 2027-2030/2", "2027-05-02T00:00:00Z"), Some(local(2029, 1, 1, 9, 0)));
        assert_eq!(at("@daily", "2026-05-02T10:00:00Z"), Some(local(2026, 5, 3, 0, 0)));
        assert_eq!(at("@hourly", "2026-05-02T10:00:00Z"), Some(local(2026, 5, 2, 11, 0)));
        assert_eq!(at("5/20 * * * *", "2026-05-02T10:26:00Z"), Some(local(2026, 5, 2, 10, 45)));
        assert_eq!(at("0 9 * * MONDAY", "2026-05-12T00:00:00Z"), Some(local(2026, 5, 18, 9, 0)));
        assert_eq!(cron("  0 9 * * mon ").expression(), "0 9 * * mon");
        assert_eq!(cron("0 9 * * mon").to_string(), "0 9 * * mon");
    }

    #[test]
    fn errors_point_at_the_field_and_character() {
        let err = |expr: &str| match Recurrence::parse(expr) {
            Err(TimeError::InvalidCron { field, offset, reason, .. }) => (field, offset, reason),
            other => panic!("{expr}: {other:?}"),
        };
        assert_eq!(err("0 25 * * *"), (Some(2), 2, "hour 25 is out of range 0-23".to_string()));
        assert_eq!(
            Recurrence::parse("0 25 * * *").unwrap_err().to_string(),
            "invalid cron expression '0 25 * * *': field 2, character 2: hour 25 is out of range 0-23"
        );
        let (field, offset, reason) = err("0 9 * * mon-fry");
        assert_eq!((field, offset), (Some(5), 12));
        assert!(reason.contains("unknown 'fry'"), "{reason}");
        let (field, offset, _) = err("0 9 1,,2 * *");
        assert_eq!((field, offset), (Some(3), 6));
        let (field, offset, reason) = err("*/0 * * * *");
        assert_eq!((field, offset), (Some(1), 2));
        assert!(reason.contains("step"));
        let (field, _, reason) = err("* * * *");
        assert_eq!(field, None);
        assert!(reason.contains("found 4"));
        assert!(err("0 9 L * *").2.contains("not supported"));
        assert!(err("0 9 * * 1#2").2.contains("not supported"));
        assert!(err("0 22-2 * * *").2.contains("goes backwards"));
        assert!(err("@reboot").2.contains("unknown macro"));
        assert!(err("").2.contains("empty"));
        assert!(Recurrence::parse("0 9 ? * *").is_ok());
        assert!(err("? 9 * * *").2.contains("only allowed in the day fields"));
        assert_eq!(Recurrence::parse("0 25 * * *").unwrap_err().code(), "invalid_cron");
    }

    /// The minute-by-minute reference: every wall-clock minute of the range the expression names, resolved;
    /// matches landing on the same instant fire once (as the unadjusted one when there is one).
    fn reference(
        minutes: &[u32],
        hours: &[u32],
        dows: &[u32],
        zone: Tz,
        how: Disambiguation,
        year: i32,
    ) -> Vec<(DateTime<Utc>, NaiveDateTime)> {
        let mut by_instant: BTreeMap<DateTime<Utc>, (NaiveDateTime, bool)> = BTreeMap::new();
        let mut t = local(year, 1, 1, 0, 0);
        let end = local(year + 1, 1, 1, 0, 0);
        while t < end {
            let dow = t.weekday().num_days_from_sunday();
            if minutes.contains(&t.minute()) && hours.contains(&t.hour()) && dows.contains(&dow) {
                let r = resolve_local(t, zone, how).unwrap();
                let plain = r.adjustment.is_none();
                by_instant
                    .entry(r.instant)
                    .and_modify(|e| {
                        if plain && !e.1 {
                            *e = (t, true);
                        }
                    })
                    .or_insert((t, plain));
            }
            t += Duration::minutes(1);
        }
        by_instant.into_iter().map(|(i, (l, _))| (i, l)).collect()
    }

    const DST_ZONES: &[&str] = &[
        "Europe/Madrid",
        "America/New_York",
        "America/Sao_Paulo",
        "Australia/Lord_Howe",
        "Pacific/Apia",
        "America/Santiago",
        "Africa/Casablanca",
        "Pacific/Chatham",
        "Asia/Kathmandu",
        "Europe/London",
    ];

    fn list(max: u32, len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u32>> {
        prop::collection::btree_set(0..max, len).prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// A year of a random simple expression in a random zone agrees with the reference, in order.
        #[test]
        fn agrees_with_a_minute_by_minute_reference(
            minutes in list(60, 1..3),
            hours in list(24, 1..3),
            dows in list(7, 1..8),
            zone_pick in 0usize..10_000,
            year in 1975i32..2037,
            how_pick in 0usize..3,
            dst_hours in any::<bool>(),
        ) {
            let zone = if zone_pick % 2 == 0 { tz(DST_ZONES[zone_pick / 2 % DST_ZONES.len()]) } else { zone_at(zone_pick) };
            let how = [Disambiguation::Compatible, Disambiguation::Earlier, Disambiguation::Later][how_pick];
            // Half the time aim at the hours around the zone's first transition that year.
            let (mut hours, mut dows) = (hours, dows);
            if dst_hours {
                let mut from = local(year, 1, 1, 0, 0).and_utc();
                let mut aimed = Vec::new();
                while let Some((at, before, after)) = super::super::testkit::next_transition(zone, from, 366) {
                    if at.year() > year || aimed.len() >= 4 {
                        break;
                    }
                    // The wall clock just before and just after the change: the gap or fold hours.
                    let wall = |o: i32| (at.naive_utc() + Duration::seconds(o as i64)).hour();
                    aimed.extend([wall(before), wall(after)]);
                    from = at + Duration::days(1);
                }
                if !aimed.is_empty() {
                    aimed.sort_unstable();
                    aimed.dedup();
                    hours = aimed;
                    dows = (0..7).collect();
                }
            }
            let join = |v: &[u32]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
            let expr = format!("{} {} * * {}", join(&minutes), join(&hours), join(&dows));
            let rec = cron(&expr);
            let want = reference(&minutes, &hours, &dows, zone, how, year);
            // Compare away from the year's edges, where the reference is cut off.
            let lo = local(year, 1, 3, 0, 0).and_utc();
            let hi = local(year, 12, 29, 0, 0).and_utc();
            let want: Vec<_> = want.into_iter().filter(|(i, _)| *i > lo && *i < hi).collect();
            let got: Vec<_> = rec
                .occurrences(lo, zone, how, Some(hi - Duration::seconds(1)))
                .map(|o| (o.resolved.instant, o.local))
                .collect();
            prop_assert_eq!(got, want, "{} in {} ({})", expr, zone, how);
        }

        /// Strictly increasing, every named day fired, nothing fired twice, in random zones over a year.
        #[test]
        fn daily_firings_never_skip_or_double(
            minute in 0u32..60,
            hour in 0u32..24,
            zone_pick in 0usize..10_000,
            year in 1975i32..2037,
            how_pick in 0usize..3,
        ) {
            let zone = if zone_pick % 2 == 0 { tz(DST_ZONES[zone_pick / 2 % DST_ZONES.len()]) } else { zone_at(zone_pick) };
            let how = [Disambiguation::Compatible, Disambiguation::Earlier, Disambiguation::Later][how_pick];
            let rec = cron(&format!("{minute} {hour} * * *"));
            let from = local(year, 1, 1, 0, 0).and_utc();
            let until = from + Duration::days(365);
            let got: Vec<Occurrence> = rec.occurrences(from, zone, how, Some(until)).collect();
            for pair in got.windows(2) {
                prop_assert!(pair[0].resolved.instant < pair[1].resolved.instant);
                prop_assert!(pair[0].local < pair[1].local);
            }
            let fired: std::collections::BTreeSet<_> = got.iter().map(|o| o.resolved.instant).collect();
            let first_day = local_at(zone, from).unwrap().date() + Duration::days(2);
            let mut day = first_day;
            while day < first_day + Duration::days(350) {
                let named = day.and_hms_opt(hour, minute, 0).unwrap();
                let instant = resolve_local(named, zone, how).unwrap().instant;
                prop_assert!(fired.contains(&instant), "{} ({}) not fired in {}", named, instant, zone);
                day += Duration::days(1);
            }
            prop_assert!(got.iter().all(|o| !matches!(o.resolved.adjustment, Some(Adjustment::FoldLater)) || how == Disambiguation::Later));
        }

        #[test]
        fn cron_parser_never_panics(s in "\\PC*") {
            let _ = Recurrence::parse(&s);
        }

        #[test]
        fn near_valid_cron_never_panics(s in "([0-9*/,?-]{1,6}|[a-zA-Z]{3}) ([0-9*/,-]{1,6} ){3,5}[0-9a-zA-Z*/,#?-]{1,8}") {
            if let Ok(r) = Recurrence::parse(&s) {
                let _ = r.next_after(utc("2026-03-29T00:00:00Z"), tz("Europe/Madrid"), Disambiguation::Compatible, None);
            }
        }
    }
}
