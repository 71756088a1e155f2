//! Relative deadlines: "within 15 days", "within 10 business days", turned into a due instant at the
//! close of the customer's contact window on the promised local day.
//!
//! The rule, in order:
//! 1. The promised day is the customer's local today plus the days (for business days: counting only
//!    Monday-Friday that are not holidays in the region's calendar).
//! 2. Due is when the contact window last closes that day ([`WeeklyWindow::last_close_on`]: the end of its
//!    last open minute, at most 23:59).
//! 3. If the window is closed that day, due is its last close on an earlier day, never later than the
//!    promised day, as long as that close is still in the future.
//! 4. Otherwise (no window at all, or no close between now and the promised day) due is 23:59 local on the
//!    promised day.

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use super::error::TimeError;
use super::holidays::HolidayCalendar;
use super::window::WeeklyWindow;
use super::zone::{first_instant_at_or_after, local_at};

/// Longest `within` accepted, in days (ten years).
pub const MAX_RELATIVE_DAYS: u32 = 3_660;
/// Longest `within_business_days` accepted (about ten years of working days).
pub const MAX_RELATIVE_BUSINESS_DAYS: u32 = 2_600;

/// Due instant for "within `days` days" promised at `now` to a customer in `zone` with contact `window`.
/// See the module notes for the rule.
pub fn within_days(now: DateTime<Utc>, zone: Tz, days: u32, window: &WeeklyWindow) -> Result<DateTime<Utc>, TimeError> {
    if days == 0 || days > MAX_RELATIVE_DAYS {
        return Err(TimeError::InvalidRelative {
            input: format!("{days} days"),
            reason: format!("must be between 1 and {MAX_RELATIVE_DAYS} days"),
        });
    }
    let today = today(now, zone)?;
    let target = today
        .checked_add_days(Days::new(u64::from(days)))
        .ok_or_else(|| TimeError::out_of_range(format!("{today} plus {days} days")))?;
    due_on(now, zone, today, target, window)
}

/// Like [`within_days`] with the ISO 8601 form used in the API: `P15D` or `P2W` (days or weeks only;
/// `P1M` is refused because a month is not a fixed number of days).
pub fn within_days_iso(
    now: DateTime<Utc>,
    zone: Tz,
    spec: &str,
    window: &WeeklyWindow,
) -> Result<DateTime<Utc>, TimeError> {
    let fail = || TimeError::InvalidRelative {
        input: spec.to_string(),
        reason: "use a whole number of days or weeks, like P15D or P2W".into(),
    };
    let upper = spec.trim().to_ascii_uppercase();
    let body = upper.strip_prefix('P').ok_or_else(fail)?;
    // Split before the last character, not the last byte: the unit may be any character a client sent.
    let split = body.char_indices().last().map_or(0, |(i, _)| i);
    let (number, unit) = body.split_at(split);
    if number.is_empty() || number.len() > 6 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail());
    }
    let n: u32 = number.parse().map_err(|_| fail())?;
    let days = match unit {
        "D" => n,
        "W" => n.checked_mul(7).ok_or_else(fail)?,
        _ => return Err(fail()),
    };
    within_days(now, zone, days, window)
}

/// Due instant for "within `n` business days": the `n`-th Monday-Friday after today (local) that is not
/// a holiday in `calendar`, at the window's close that day (same closed-day rule as [`within_days`]).
/// Without a calendar only weekends are skipped; past the calendar's years, too.
pub fn within_business_days(
    now: DateTime<Utc>,
    zone: Tz,
    n: u32,
    window: &WeeklyWindow,
    calendar: Option<&HolidayCalendar>,
) -> Result<DateTime<Utc>, TimeError> {
    if n == 0 || n > MAX_RELATIVE_BUSINESS_DAYS {
        return Err(TimeError::InvalidRelative {
            input: format!("{n} business days"),
            reason: format!("must be between 1 and {MAX_RELATIVE_BUSINESS_DAYS} business days"),
        });
    }
    let today = today(now, zone)?;
    let mut day = today;
    let mut counted = 0;
    while counted < n {
        day = day.succ_opt().ok_or_else(|| TimeError::out_of_range(format!("{today} plus {n} business days")))?;
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        if !weekend && !calendar.is_some_and(|c| c.is_holiday(day)) {
            counted += 1;
        }
    }
    due_on(now, zone, today, day, window)
}

fn today(now: DateTime<Utc>, zone: Tz) -> Result<NaiveDate, TimeError> {
    local_at(zone, now).map(|l| l.date()).ok_or_else(|| TimeError::out_of_range(format!("{now} in {zone}")))
}

/// Steps 2-4 of the module rule for the promised local day `target`.
fn due_on(
    now: DateTime<Utc>,
    zone: Tz,
    today: NaiveDate,
    target: NaiveDate,
    window: &WeeklyWindow,
) -> Result<DateTime<Utc>, TimeError> {
    if let Some(close) = window.last_close_on(target, zone) {
        if close > now {
            return Ok(close);
        }
    } else if !window.is_empty() {
        // A weekly window is open on some day of any seven in a row.
        let mut day = target;
        for _ in 0..7 {
            match day.pred_opt() {
                Some(d) if d >= today => day = d,
                _ => break,
            }
            if let Some(close) = window.last_close_on(day, zone) {
                if close > now {
                    return Ok(close);
                }
                break;
            }
        }
    }
    end_of_day(target, zone)
}

/// 23:59 local on `date`: one minute before the next day's first instant.
fn end_of_day(date: NaiveDate, zone: Tz) -> Result<DateTime<Utc>, TimeError> {
    date.succ_opt()
        .and_then(|next| first_instant_at_or_after(next.and_time(NaiveTime::MIN), zone))
        .and_then(|start| start.checked_sub_signed(Duration::minutes(1)))
        .ok_or_else(|| TimeError::out_of_range(format!("the end of {date} in {zone}")))
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{tz, utc};
    use super::*;
    use proptest::prelude::*;

    fn contact() -> WeeklyWindow {
        WeeklyWindow::parse("mon-sat 09:00-21:00").unwrap()
    }

    #[test]
    fn an_invoice_fix_within_15_days_is_due_at_2100_on_day_15() {
        let madrid = tz("Europe/Madrid");
        // Promised Wednesday 13 May; day 15 is Thursday 28 May, window closes 21:00 CEST.
        let due = within_days(utc("2026-05-13T08:00:00Z"), madrid, 15, &contact()).unwrap();
        assert_eq!(due, utc("2026-05-28T19:00:00Z"));
        assert_eq!(within_days_iso(utc("2026-05-13T08:00:00Z"), madrid, "P15D", &contact()).unwrap(), due);
        // Day 15 a Sunday (closed): the Saturday before, at 21:00.
        let due = within_days(utc("2026-05-16T08:00:00Z"), madrid, 15, &contact()).unwrap();
        assert_eq!(due, utc("2026-05-30T19:00:00Z"));
        // Across the spring change: promised in CET, due in CEST.
        let due = within_days(utc("2026-03-20T10:00:00Z"), madrid, 15, &contact()).unwrap();
        assert_eq!(due, utc("2026-04-04T19:00:00Z"));
        // Two weeks.
        let due = within_days_iso(utc("2026-05-13T08:00:00Z"), madrid, "p2w", &contact()).unwrap();
        assert_eq!(due, utc("2026-05-27T19:00:00Z"));
    }

    #[test]
    fn the_local_day_not_the_utc_day_counts() {
        // 23:30 in Madrid on 13 May is 21:30Z on the 13th; in Auckland it is already the 14th.
        let due = within_days(utc("2026-05-13T21:30:00Z"), tz("Pacific/Auckland"), 1, &contact()).unwrap();
        // Auckland: today 14 May (Thu) + 1 = Friday 15 May, 21:00 NZST (+12) = 09:00Z.
        assert_eq!(due, utc("2026-05-15T09:00:00Z"));
    }

    #[test]
    fn without_a_window_or_an_earlier_close_the_deadline_is_2359() {
        let madrid = tz("Europe/Madrid");
        let due = within_days(utc("2026-05-13T08:00:00Z"), madrid, 15, &WeeklyWindow::never()).unwrap();
        assert_eq!(due, utc("2026-05-28T21:59:00Z"));
        // Saturday 22:00, promised "within 1 day": Sunday is closed and Saturday's close has passed.
        let due = within_days(utc("2026-05-16T20:00:00Z"), madrid, 1, &contact()).unwrap();
        assert_eq!(due, utc("2026-05-17T21:59:00Z"));
        // An always-open window ends the day at 23:59 too.
        let due = within_days(utc("2026-05-13T08:00:00Z"), madrid, 2, &WeeklyWindow::always()).unwrap();
        assert_eq!(due, utc("2026-05-15T21:59:00Z"));
    }

    #[test]
    fn ten_business_days_skip_weekends_and_spanish_holidays() {
        let madrid = tz("Europe/Madrid");
        let es = HolidayCalendar::for_region("ES");
        let now = utc("2026-12-01T09:00:00Z"); // Tuesday
                                               // 2,3,4, 7, (8 Inmaculada), 9,10,11, 14,15,16 -> Wednesday 16 December, 21:00 CET.
        assert_eq!(within_business_days(now, madrid, 10, &contact(), es).unwrap(), utc("2026-12-16T20:00:00Z"));
        // 17 business days pass Christmas Day (Friday 25th) and land on Monday 28th.
        assert_eq!(within_business_days(now, madrid, 17, &contact(), es).unwrap(), utc("2026-12-28T20:00:00Z"));
        // Without a calendar only weekends are skipped.
        assert_eq!(within_business_days(now, madrid, 10, &contact(), None).unwrap(), utc("2026-12-15T20:00:00Z"));
    }

    #[test]
    fn canary_easter_skips_holy_thursday_and_good_friday() {
        let canary = tz("Atlantic/Canary");
        let cn = HolidayCalendar::for_region("ES-CN");
        // Wednesday 1 April 2026 -> Monday 6 April, 21:00 WEST (+01).
        let due = within_business_days(utc("2026-04-01T10:00:00Z"), canary, 1, &contact(), cn).unwrap();
        assert_eq!(due, utc("2026-04-06T20:00:00Z"));
        // The national calendar has no Holy Thursday.
        let due =
            within_business_days(utc("2026-04-01T10:00:00Z"), canary, 1, &contact(), HolidayCalendar::for_region("ES"))
                .unwrap();
        assert_eq!(due, utc("2026-04-02T20:00:00Z"));
    }

    #[test]
    fn nonsense_is_refused() {
        let madrid = tz("Europe/Madrid");
        let now = utc("2026-05-13T08:00:00Z");
        for spec in ["P1M", "PT5H", "15", "P", "P1.5D", "P-1D", "P0D", "P9999999D", "P1D2", ""] {
            let e = within_days_iso(now, madrid, spec, &contact()).unwrap_err();
            assert_eq!(e.code(), "invalid_relative_deadline", "{spec}");
        }
        assert!(within_days(now, madrid, 0, &contact()).is_err());
        assert!(within_days(now, madrid, MAX_RELATIVE_DAYS + 1, &contact()).is_err());
        assert!(within_business_days(now, madrid, 0, &contact(), None).is_err());
        assert!(within_days(DateTime::<Utc>::MAX_UTC, madrid, MAX_RELATIVE_DAYS, &contact()).is_err());
        assert!(within_business_days(DateTime::<Utc>::MAX_UTC, madrid, 5, &contact(), None).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// The deadline is never after the promised local day, and is in the future.
        #[test]
        fn never_later_than_the_promised_day(
            seconds in 1_700_000_000i64..2_000_000_000,
            days in 1u32..60,
            zone_pick in 0usize..4,
        ) {
            let zone = tz(["Europe/Madrid", "America/Sao_Paulo", "Pacific/Apia", "Asia/Kathmandu"][zone_pick]);
            let now = DateTime::from_timestamp(seconds, 0).unwrap();
            let due = within_days(now, zone, days, &contact()).unwrap();
            let today = local_at(zone, now).unwrap().date();
            let promised = today + Duration::days(days as i64);
            prop_assert!(due > now);
            prop_assert!(local_at(zone, due).unwrap().date() <= promised);
        }

        #[test]
        fn iso_parser_never_panics(s in "\\PC*") {
            let _ = within_days_iso(utc("2026-05-13T08:00:00Z"), tz("UTC"), &s, &WeeklyWindow::always());
        }
    }

    /// Found by the property above: a multi-byte last character used to be split in the middle.
    #[test]
    fn a_multibyte_unit_is_refused_not_split() {
        let err = within_days_iso(utc("2026-05-13T08:00:00Z"), tz("UTC"), "P1=🕴", &WeeklyWindow::always());
        assert!(err.is_err());
        let err = within_days_iso(utc("2026-05-13T08:00:00Z"), tz("UTC"), "P15Ď", &WeeklyWindow::always());
        assert!(err.is_err());
    }
}
