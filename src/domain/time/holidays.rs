//! Public holiday calendars by region, used to skip non-working days in `within_business_days`.
//! The data lives in `config/holidays/*.toml` and is compiled into the binary, so it works from any
//! working directory; a region's file says which years it covers and which are provisional.

use std::ops::RangeInclusive;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};

use super::error::TimeError;

/// Embedded calendars: (region code, file contents).
const EMBEDDED: [(&str, &str); 3] = [
    ("ES", include_str!("../../../config/holidays/es.toml")),
    ("ES-CN", include_str!("../../../config/holidays/es-cn.toml")),
    ("US", include_str!("../../../config/holidays/us.toml")),
];
const KNOWN_REGIONS: [&str; 3] = ["ES", "ES-CN", "US"];

static CALENDARS: OnceLock<Vec<HolidayCalendar>> = OnceLock::new();

/// The public holidays of one region for a range of years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayCalendar {
    region: String,
    name: String,
    years: RangeInclusive<i32>,
    provisional_from: Option<i32>,
    days: Vec<(NaiveDate, String)>, // sorted by date, no duplicates
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    region: String,
    name: String,
    first_year: i32,
    last_year: i32,
    #[serde(default)]
    provisional_from: Option<i32>,
    holidays: Vec<HolidayEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayEntry {
    date: toml::value::Datetime,
    name: String,
}

impl HolidayCalendar {
    /// The embedded calendar for a region code (`ES`, `ES-CN`, `US`; any case), if there is one.
    pub fn for_region(code: &str) -> Option<&'static HolidayCalendar> {
        let code = code.trim();
        CALENDARS
            .get_or_init(|| {
                // A broken embedded file is caught by the tests and by `check_embedded` at start-up;
                // here it only makes that one region unknown instead of taking the process down.
                EMBEDDED.iter().filter_map(|(_, text)| Self::from_toml(text).ok()).collect()
            })
            .iter()
            .find(|c| c.region.eq_ignore_ascii_case(code))
    }

    /// Region codes with an embedded calendar.
    pub fn known_regions() -> &'static [&'static str] {
        &KNOWN_REGIONS
    }

    /// Parses every embedded calendar and checks it names the region it is filed under; for `check` and
    /// start-up.
    pub fn check_embedded() -> Result<(), TimeError> {
        for (code, text) in EMBEDDED {
            let cal = Self::from_toml(text)?;
            if cal.region != code {
                return Err(TimeError::InvalidHolidayData {
                    region: code.to_string(),
                    reason: format!("file declares region '{}'", cal.region),
                });
            }
        }
        Ok(())
    }

    /// Reads a calendar in the format of `config/holidays/*.toml`: `region`, `name`, `first_year`,
    /// `last_year`, optional `provisional_from`, and `holidays = [{ date = 2026-01-01, name = "..." }]`.
    pub fn from_toml(text: &str) -> Result<Self, TimeError> {
        let file: CalendarFile = toml::from_str(text)
            .map_err(|e| TimeError::InvalidHolidayData { region: "?".into(), reason: e.message().to_string() })?;
        let fail = |reason: String| TimeError::InvalidHolidayData { region: file.region.clone(), reason };
        if file.region.trim().is_empty() {
            return Err(fail("region is empty".into()));
        }
        if file.first_year > file.last_year {
            return Err(fail("first_year is after last_year".into()));
        }
        let years = file.first_year..=file.last_year;
        let mut days = Vec::with_capacity(file.holidays.len());
        for entry in &file.holidays {
            let date = match (entry.date.date, entry.date.time) {
                (Some(d), None) => NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day)),
                _ => None,
            }
            .ok_or_else(|| fail(format!("'{}' is not a plain date", entry.date)))?;
            if !years.contains(&date.year()) {
                return Err(fail(format!("{date} is outside {}-{}", file.first_year, file.last_year)));
            }
            days.push((date, entry.name.clone()));
        }
        days.sort_by_key(|(d, _)| *d);
        if let Some(w) = days.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(fail(format!("{} is listed twice", w[0].0)));
        }
        Ok(HolidayCalendar {
            region: file.region.clone(),
            name: file.name.clone(),
            years,
            provisional_from: file.provisional_from,
            days,
        })
    }

    /// Is `d` a public holiday here? Always false outside [`HolidayCalendar::years`].
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.days.binary_search_by_key(&d, |(x, _)| *x).is_ok()
    }

    /// The holiday's name on `d`, if it is one.
    pub fn holiday_name(&self, d: NaiveDate) -> Option<&str> {
        self.days.binary_search_by_key(&d, |(x, _)| *x).ok().map(|i| self.days[i].1.as_str())
    }

    /// All holidays in date order.
    pub fn holidays(&self) -> impl Iterator<Item = (NaiveDate, &str)> + '_ {
        self.days.iter().map(|(d, n)| (*d, n.as_str()))
    }

    /// Region code, e.g. `ES-CN`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Human name of the calendar.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Years the calendar lists; outside them no day counts as a holiday.
    pub fn years(&self) -> RangeInclusive<i32> {
        self.years.clone()
    }

    /// Does the calendar cover the year of `d`? Callers can warn when counting past the data.
    pub fn covers(&self, d: NaiveDate) -> bool {
        self.years.contains(&d.year())
    }

    /// True for days in years whose official list was not yet published when the data was written.
    pub fn is_provisional(&self, d: NaiveDate) -> bool {
        self.provisional_from.is_some_and(|y| d.year() >= y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Weekday};
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// Gregorian Easter Sunday (anonymous algorithm), to check the movable feasts in the data.
    fn easter(y: i32) -> NaiveDate {
        let (a, b, c) = (y % 19, y / 100, y % 100);
        let (dd, e) = (b / 4, b % 4);
        let f = (b + 8) / 25;
        let g = (b - f + 1) / 3;
        let h = (19 * a + b - dd - g + 15) % 30;
        let (i, k) = (c / 4, c % 4);
        let l = (32 + 2 * e + 2 * i - h - k) % 7;
        let m = (a + 11 * h + 22 * l) / 451;
        let month = (h + l - 7 * m + 114) / 31;
        let day = (h + l - 7 * m + 114) % 31 + 1;
        d(y, month as u32, day as u32)
    }

    fn nth_weekday(y: i32, m: u32, w: Weekday, n: u32) -> NaiveDate {
        NaiveDate::from_weekday_of_month_opt(y, m, w, n as u8).unwrap()
    }

    fn last_weekday(y: i32, m: u32, w: Weekday) -> NaiveDate {
        let mut day = d(y, m + 1, 1) - Duration::days(1);
        while day.weekday() != w {
            day -= Duration::days(1);
        }
        day
    }

    fn observed(day: NaiveDate) -> NaiveDate {
        match day.weekday() {
            Weekday::Sat => day - Duration::days(1),
            Weekday::Sun => day + Duration::days(1),
            _ => day,
        }
    }

    #[test]
    fn embedded_calendars_load_for_every_known_region() {
        HolidayCalendar::check_embedded().unwrap();
        for code in HolidayCalendar::known_regions() {
            let cal = HolidayCalendar::for_region(code).unwrap();
            assert_eq!(cal.region(), *code);
            assert_eq!(cal.years(), 2025..=2030);
            assert!(!cal.name().is_empty());
        }
        assert_eq!(HolidayCalendar::for_region("es-cn").unwrap().region(), "ES-CN");
        assert_eq!(HolidayCalendar::for_region(" us ").unwrap().region(), "US");
        assert!(HolidayCalendar::for_region("FR").is_none());
    }

    #[test]
    fn spain_lists_its_ten_national_days_with_good_friday_from_easter() {
        let es = HolidayCalendar::for_region("ES").unwrap();
        for y in 2025..=2030 {
            let fixed = [(1, 1), (1, 6), (5, 1), (8, 15), (10, 12), (11, 1), (12, 6), (12, 8), (12, 25)];
            for (m, day) in fixed {
                assert!(es.is_holiday(d(y, m, day)), "{y}-{m}-{day}");
            }
            assert!(es.is_holiday(easter(y) - Duration::days(2)), "Good Friday {y}");
            assert_eq!(es.holidays().filter(|(x, _)| x.year() == y).count(), 10, "{y}");
        }
        assert_eq!(es.holiday_name(d(2026, 12, 8)), Some("Inmaculada Concepción"));
        assert!(!es.is_holiday(d(2026, 12, 7)));
        assert!(!es.is_holiday(d(2031, 1, 1)), "outside the data");
        assert!(!es.covers(d(2031, 1, 1)));
    }

    #[test]
    fn canarias_adds_holy_thursday_and_30_may_and_follows_the_decrees() {
        let cn = HolidayCalendar::for_region("ES-CN").unwrap();
        let es = HolidayCalendar::for_region("ES").unwrap();
        for y in 2025..=2030 {
            assert!(cn.is_holiday(easter(y) - Duration::days(3)), "Holy Thursday {y}");
            assert!(cn.is_holiday(d(y, 5, 30)), "Día de Canarias {y}");
            // Every national weekday holiday is a holiday in the islands too.
            for (day, _) in es.holidays().filter(|(x, _)| x.year() == y) {
                if day.weekday() != Weekday::Sun {
                    assert!(cn.is_holiday(day), "{day}");
                }
            }
        }
        // Decreto 61/2025: All Saints (a Sunday in 2026) moved to Monday 2 November.
        assert!(cn.is_holiday(d(2026, 11, 2)));
        assert!(!cn.is_provisional(d(2026, 11, 2)));
        assert!(cn.is_provisional(d(2027, 5, 30)));
    }

    #[test]
    fn us_federal_holidays_follow_the_statute_rules() {
        let us = HolidayCalendar::for_region("US").unwrap();
        for y in 2025..=2030 {
            let mut want = vec![
                nth_weekday(y, 1, Weekday::Mon, 3),
                nth_weekday(y, 2, Weekday::Mon, 3),
                last_weekday(y, 5, Weekday::Mon),
                observed(d(y, 6, 19)),
                observed(d(y, 7, 4)),
                nth_weekday(y, 9, Weekday::Mon, 1),
                nth_weekday(y, 10, Weekday::Mon, 2),
                observed(d(y, 11, 11)),
                nth_weekday(y, 11, Weekday::Thu, 4),
                observed(d(y, 12, 25)),
            ];
            // New Year's Day on a Saturday is observed on 31 December of the year before.
            for nyd in [observed(d(y, 1, 1)), observed(d(y + 1, 1, 1))] {
                if nyd.year() == y {
                    want.push(nyd);
                }
            }
            want.sort();
            let got: Vec<NaiveDate> = us.holidays().map(|(x, _)| x).filter(|x| x.year() == y).collect();
            assert_eq!(got, want, "{y}");
        }
        assert!(us.is_holiday(d(2026, 7, 3)), "Independence Day 2026 observed on Friday");
        assert!(us.is_holiday(d(2027, 12, 31)), "New Year's Day 2028 observed");
    }

    #[test]
    fn bad_calendar_files_are_refused() {
        let bad = |text: &str| HolidayCalendar::from_toml(text).unwrap_err().code();
        assert_eq!(bad("region = 'X'"), "invalid_holiday_data");
        let base = "region = 'X'\nname = 'x'\nfirst_year = 2025\nlast_year = 2025\n";
        assert!(HolidayCalendar::from_toml(&format!("{base}holidays = []")).is_ok());
        assert_eq!(bad(&format!("{base}holidays = [{{ date = 2026-01-01, name = 'a' }}]")), "invalid_holiday_data");
        assert_eq!(
            bad(&format!(
                "{base}holidays = [{{ date = 2025-01-01, name = 'a' }}, {{ date = 2025-01-01, name = 'b' }}]"
            )),
            "invalid_holiday_data"
        );
        assert_eq!(
            bad(&format!("{base}holidays = [{{ date = 2025-01-01T10:00:00, name = 'a' }}]")),
            "invalid_holiday_data"
        );
    }

    proptest! {
        #[test]
        fn calendar_reader_never_panics(s in "\\PC*") {
            let _ = HolidayCalendar::from_toml(&s);
            let _ = HolidayCalendar::for_region(&s);
        }
    }
}
