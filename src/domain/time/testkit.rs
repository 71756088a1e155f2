//! Test helpers: brute-force references that the engine is checked against, and short constructors.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

pub fn tz(name: &str) -> Tz {
    name.parse().expect("test zone names are valid")
}

pub fn local(y: i32, m: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d).and_then(|date| date.and_hms_opt(h, mi, 0)).expect("test dates are valid")
}

pub fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("test instants are RFC 3339")
}

pub fn offset(zone: Tz, t: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc()
}

pub fn wall(zone: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc() + Duration::seconds(offset(zone, t) as i64)
}

/// Every instant whose wall clock in `zone` reads `local`, by walking UTC minute by minute over two days
/// either side. Each minute contributes the offset in force; the instant `local - offset` is kept when
/// its own rendering is `local` (this also finds matches for offsets that are not whole minutes).
pub fn brute_instants(local: NaiveDateTime, zone: Tz) -> Vec<DateTime<Utc>> {
    let center = local.and_utc();
    let mut found: Vec<DateTime<Utc>> = Vec::new();
    let mut t = center - Duration::days(2);
    let mut last = None;
    while t <= center + Duration::days(2) {
        let o = offset(zone, t);
        if last != Some(o) {
            let candidate = (local - Duration::seconds(o as i64)).and_utc();
            if wall(zone, candidate) == local && !found.contains(&candidate) {
                found.push(candidate);
            }
            last = Some(o);
        }
        t += Duration::minutes(1);
    }
    found.sort();
    found
}

/// For a `local` that does not exist: the offsets before and after the forward jump that skips it,
/// found by walking UTC minute by minute.
pub fn brute_gap(local: NaiveDateTime, zone: Tz) -> Option<(i32, i32)> {
    let center = local.and_utc();
    let mut t = center - Duration::days(2);
    let mut prev = offset(zone, t);
    while t <= center + Duration::days(2) {
        t += Duration::minutes(1);
        let o = offset(zone, t);
        if o != prev {
            let before = (t + Duration::seconds(prev as i64)).naive_utc();
            let after = (t + Duration::seconds(o as i64)).naive_utc();
            if o > prev && before <= local && local < after {
                return Some((prev, o));
            }
            prev = o;
        }
    }
    None
}

/// The first offset change after `from` within `days`, to the minute (brute force, for choosing test
/// inputs near transitions): (instant, offset before, offset after).
pub fn next_transition(zone: Tz, from: DateTime<Utc>, days: i64) -> Option<(DateTime<Utc>, i32, i32)> {
    let mut t = from;
    let o = offset(zone, t);
    while t < from + Duration::days(days) {
        let next = t + Duration::hours(6);
        if offset(zone, next) != o {
            let mut m = t;
            while offset(zone, m) == o {
                m += Duration::minutes(1);
            }
            while offset(zone, m - Duration::seconds(1)) != o {
                m -= Duration::seconds(1);
            }
            return Some((m, o, offset(zone, m)));
        }
        t = next;
    }
    None
}

/// A zone picked by index from every zone chrono-tz knows.
pub fn zone_at(i: usize) -> Tz {
    chrono_tz::TZ_VARIANTS[i % chrono_tz::TZ_VARIANTS.len()]
}
