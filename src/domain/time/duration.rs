//! ISO 8601 durations of fixed length (grace periods, reminder lead times): weeks, days, hours, minutes,
//! seconds. Years and months are refused because their length depends on the date.

use chrono::Duration;

use super::error::TimeError;

/// Longest duration accepted: 100 years of days. Far beyond any grace or lead time, far below overflow.
const MAX_SECONDS: i64 = 36_600 * 86_400;

/// Parses `PT15M`, `P1D`, `P2DT3H`, `P1W`, `PT90S`, `PT0.5S` (fraction on seconds only). Case-insensitive.
/// Refuses negative durations, `P1Y`/`P1M` (not a fixed length), empty ones (`P`, `PT`) and anything over
/// 100 years.
pub fn parse_duration(text: &str) -> Result<Duration, TimeError> {
    let fail = |reason: &str| TimeError::InvalidDuration { input: text.to_string(), reason: reason.to_string() };
    let s = text.trim();
    if s.starts_with('-') || s.starts_with('\u{2212}') {
        return Err(fail("negative durations are not allowed"));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let upper = s.to_ascii_uppercase();
    let Some(body) = upper.strip_prefix('P') else {
        return Err(fail("expected an ISO 8601 duration such as PT15M, P1D or P2DT3H"));
    };
    if body.is_empty() || body == "T" {
        return Err(fail("no amount given; e.g. PT15M or P1D"));
    }
    let (date_part, time_part) = match body.split_once('T') {
        Some((_, "")) => {
            return Err(fail("'T' must be followed by hours, minutes or seconds (e.g. PT15M)"));
        }
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let mut nanos: i128 = 0;
    let mut seen_any = false;
    // Designators must come in this order, each at most once.
    let mut read = |part: &str, allowed: &[char], in_time: bool| -> Result<(), TimeError> {
        let mut rest = part;
        let mut next_allowed = 0;
        while !rest.is_empty() {
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
                .ok_or_else(|| fail("a number must be followed by a unit (W, D, H, M or S)"))?;
            let (number, tail) = rest.split_at(end);
            let unit = tail.chars().next().unwrap_or(' ');
            rest = &tail[unit.len_utf8()..];
            if number.is_empty() {
                return Err(fail(&format!("unit '{unit}' has no number before it")));
            }
            if !in_time && (unit == 'Y' || unit == 'M') {
                return Err(fail("years and months are not a fixed length; use days or weeks (e.g. P30D)"));
            }
            let Some(pos) = allowed.iter().position(|u| *u == unit) else {
                return Err(fail(&format!(
                    "unexpected '{unit}'; expected {}",
                    if in_time { "H, M or S after T" } else { "W or D before T" }
                )));
            };
            if pos < next_allowed {
                return Err(fail("units must be in order W, D, T, H, M, S and appear once"));
            }
            next_allowed = pos + 1;
            let unit_nanos: i128 = match unit {
                'W' => 7 * 86_400 * 1_000_000_000,
                'D' => 86_400 * 1_000_000_000,
                'H' => 3_600 * 1_000_000_000,
                'M' => 60 * 1_000_000_000,
                _ => 1_000_000_000,
            };
            let amount = parse_amount(number, unit == 'S').map_err(|r| fail(&r))?;
            // amount is in nanos of the unit's scale: whole part * 1e9 + fraction.
            nanos = amount
                .checked_mul(unit_nanos / 1_000_000_000)
                .and_then(|n| nanos.checked_add(n))
                .ok_or_else(|| fail("too long; at most 100 years"))?;
            if nanos > i128::from(MAX_SECONDS) * 1_000_000_000 {
                return Err(fail("too long; at most 100 years"));
            }
            seen_any = true;
        }
        Ok(())
    };
    read(date_part, &['W', 'D'], false)?;
    if let Some(t) = time_part {
        read(t, &['H', 'M', 'S'], true)?;
    }
    if !seen_any {
        return Err(fail("no amount given; e.g. PT15M or P1D"));
    }
    let secs = (nanos / 1_000_000_000) as i64;
    let sub = (nanos % 1_000_000_000) as i64;
    Duration::try_seconds(secs)
        .and_then(|d| d.checked_add(&Duration::nanoseconds(sub)))
        .ok_or_else(|| fail("too long; at most 100 years"))
}

/// A decimal amount as nanos-of-one-unit (`"1.5"` -> 1_500_000_000); fractions only where allowed.
fn parse_amount(number: &str, fraction_allowed: bool) -> Result<i128, String> {
    let (whole, frac) = match number.split_once(['.', ',']) {
        Some((w, f)) => (w, Some(f)),
        None => (number, None),
    };
    if whole.is_empty() || whole.len() > 12 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{number}' is not a whole number of reasonable size"));
    }
    let mut value: i128 = whole.parse::<i128>().map_err(|_| format!("'{number}' is not a number"))?;
    value *= 1_000_000_000;
    if let Some(f) = frac {
        if !fraction_allowed {
            return Err("fractions are only allowed on seconds (e.g. PT90S instead of PT1.5M)".into());
        }
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a fraction of seconds needs 1 to 9 digits".into());
        }
        let scaled: i128 = f.parse::<i128>().map_err(|_| "bad fraction".to_string())? * 10i128.pow(9 - f.len() as u32);
        value += scaled;
    }
    Ok(value)
}

/// Formats as ISO 8601 with days and a time part: `PT15M`, `P1D`, `P2DT3H`, `PT0S` for zero, a leading
/// `-` for negative values. Weeks are written as days (`P14D`); `parse_duration` reads it back.
pub fn format_duration(d: Duration) -> String {
    let negative = d < Duration::zero();
    let total_nanos: i128 = i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos());
    let abs = total_nanos.unsigned_abs();
    let secs = abs / 1_000_000_000;
    let frac = abs % 1_000_000_000;
    let (days, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::from(if negative { "-P" } else { "P" });
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if h > 0 || m > 0 || s > 0 || frac > 0 || days == 0 {
        out.push('T');
        if h > 0 {
            out.push_str(&format!("{h}H"));
        }
        if m > 0 {
            out.push_str(&format!("{m}M"));
        }
        if s > 0 || frac > 0 || (h == 0 && m == 0) {
            if frac > 0 {
                let f = format!("{frac:09}");
                out.push_str(&format!("{s}.{}S", f.trim_end_matches('0')));
            } else {
                out.push_str(&format!("{s}S"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fixed_lengths_parse() {
        let cases = [
            ("PT15M", Duration::minutes(15)),
            ("P1D", Duration::days(1)),
            ("P2DT3H", Duration::days(2) + Duration::hours(3)),
            ("P1W", Duration::days(7)),
            ("P1W2D", Duration::days(9)),
            ("PT90S", Duration::seconds(90)),
            ("PT1H30M", Duration::minutes(90)),
            ("pt10m", Duration::minutes(10)),
            ("PT0.5S", Duration::milliseconds(500)),
            ("PT0S", Duration::zero()),
            (" P7D ", Duration::days(7)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn months_years_negatives_and_junk_are_refused_with_a_reason() {
        let reason = |s: &str| match parse_duration(s) {
            Err(e @ TimeError::InvalidDuration { .. }) => {
                assert_eq!(e.code(), "invalid_duration");
                e.to_string()
            }
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            reason("P1M"),
            "invalid duration 'P1M': years and months are not a fixed length; use days or weeks (e.g. P30D)"
        );
        assert!(reason("P1Y").contains("not a fixed length"));
        assert!(reason("-PT5M").contains("negative"));
        assert!(reason("P").contains("no amount"));
        assert!(reason("PT").contains("no amount"));
        assert!(reason("P1DT").contains("'T' must be followed"));
        assert!(reason("15 minutes").contains("expected an ISO 8601 duration"));
        assert!(reason("PT1.5M").contains("fractions are only allowed on seconds"));
        assert!(reason("PT5M10H").contains("in order"));
        assert!(reason("P5H").contains("W or D before T"));
        assert!(reason("P99999999999999D").contains("reasonable size"));
        assert!(reason("P36601D").contains("at most 100 years"));
        assert!(reason("P5").contains("followed by a unit"));
    }

    #[test]
    fn formats_back_to_iso() {
        assert_eq!(format_duration(Duration::minutes(15)), "PT15M");
        assert_eq!(format_duration(Duration::days(1)), "P1D");
        assert_eq!(format_duration(Duration::days(2) + Duration::hours(3)), "P2DT3H");
        assert_eq!(format_duration(Duration::zero()), "PT0S");
        assert_eq!(format_duration(Duration::days(14)), "P14D");
        assert_eq!(format_duration(Duration::milliseconds(1500)), "PT1.5S");
        assert_eq!(format_duration(-Duration::minutes(5)), "-PT5M");
        assert_eq!(format_duration(Duration::MAX).chars().next(), Some('P'));
        assert_eq!(format_duration(Duration::MIN).chars().next(), Some('-'));
    }

    proptest! {
        #[test]
        fn round_trips(secs in 0i64..36_600 * 86_400, nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000]) {
            let d = Duration::seconds(secs) + Duration::nanoseconds(nanos as i64);
            prop_assume!(d <= Duration::seconds(MAX_SECONDS));
            prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }

        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn near_valid_never_panics(s in "-?[pP]([0-9]{1,25}[WDYM])*([tT]([0-9.,]{1,25}[HMS])*)?") {
            let _ = parse_duration(&s);
        }
    }
}
