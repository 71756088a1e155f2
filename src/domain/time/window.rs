//! Weekly windows on the wall clock: when a customer welcomes contact, when an agent is on shift.
//! A window is a set of minutes of the local week; spans may run past midnight ("fri 22:00-02:00").
//! Searches (next open, nearest slots, last close of a day) walk real instants, so they stay right on
//! 23 h and 25 h days and inside gaps and folds.
//!
//! Long on purpose: a third of the file is its tests (midnight-crossing spans on 23 h and 25 h days), and the
//! parser, the set of minutes and the searches over it are one type's halves, read together.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;

use super::error::{clip, TimeError};
use super::zone::{
    first_instant_at_or_after, first_offset_change, instant_of, last_offset_change, local_at, local_of, offset_at,
    weekday_index,
};

const DAY: usize = 24 * 60;
const WEEK: usize = 7 * DAY;
const WORDS: usize = WEEK.div_ceil(64);
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Each loop turn of a search crosses at most one transition; a week holds at most one, so this is ample.
const MAX_SEGMENTS: usize = 16;

/// Minutes of the local week (Monday 00:00 = minute 0) during which contact or work is allowed.
/// Minute resolution: a span `09:00-17:00` covers 09:00:00 up to, not including, 17:00:00.
#[derive(Clone, PartialEq, Eq)]
pub struct WeeklyWindow {
    // A bitset keeps membership O(1) and next/previous searches to a few word scans.
    minutes: Box<[u64; WORDS]>,
}

/// The nearest allowed moments around a refused one, for "nearest allowed slots" in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NearestSlots {
    /// The latest instant at or before the refused one that is inside the window (start of the last open
    /// minute), if the window is not empty.
    pub before: Option<DateTime<Utc>>,
    /// The first instant at or after the refused one that is inside the window.
    pub after: Option<DateTime<Utc>>,
}

impl WeeklyWindow {
    /// Open every minute of the week ("always", 24/7).
    pub fn always() -> Self {
        let mut w = Self::never();
        w.open(0, WEEK);
        w
    }

    /// Open no minute at all ("never"). Useful as a neutral element; `is_empty` is true.
    pub fn never() -> Self {
        WeeklyWindow { minutes: Box::new([0; WORDS]) }
    }

    /// True when no minute of the week is open.
    pub fn is_empty(&self) -> bool {
        self.minutes.iter().all(|w| *w == 0)
    }

    /// True when every minute of the week is open.
    pub fn is_always(&self) -> bool {
        self.minutes.iter().map(|w| w.count_ones() as usize).sum::<usize>() == WEEK
    }

    /// Parses the text form: `;`-separated parts, each a day list and a `,`-separated list of spans:
    /// `mon-fri 09:00-17:00; sat 10:00-14:00`, `mon,wed 08:00-12:00, 15:00-19:00`, `fri 22:00-02:00`
    /// (runs into Saturday), `24:00` as an end. Also `always`, `never`, and day words `daily`,
    /// `weekdays`, `weekends`. Parts that name the same day add up. Errors say which part is wrong.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let fail = |reason: String| TimeError::InvalidWindow { input: text.to_string(), reason };
        let t = text.trim();
        if t.is_empty() {
            return Err(fail("empty; use e.g. 'mon-fri 09:00-17:00', 'always' or 'never'".into()));
        }
        if t.len() > 4096 {
            return Err(fail("longer than 4096 characters".into()));
        }
        if t.eq_ignore_ascii_case("always") || t == "24/7" {
            return Ok(Self::always());
        }
        if t.eq_ignore_ascii_case("never") {
            return Ok(Self::never());
        }
        let mut window = Self::never();
        let mut any = false;
        for (i, part) in t.split(';').enumerate() {
            let p = part.trim();
            if p.is_empty() {
                continue;
            }
            let (days, spans) =
                parse_part(p).map_err(|reason| fail(format!("part {} ('{}'): {reason}", i + 1, clip(p))))?;
            window.add(&days, &spans);
            any = true;
        }
        if !any {
            return Err(fail("no days or times given; e.g. 'mon-fri 09:00-17:00'".into()));
        }
        Ok(window)
    }

    /// Reads the JSON forms: a string in the text form, or an object of day -> spans,
    /// `{"mon": [["09:00","17:00"]], "fri": [["22:00","02:00"]]}` (a span may also be `"09:00-17:00"`).
    /// Days left out are closed.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, TimeError> {
        let fail = |reason: String| TimeError::InvalidWindow { input: v.to_string(), reason };
        let map =
            match v {
                serde_json::Value::String(s) => return Self::parse(s),
                serde_json::Value::Object(map) => map,
                _ => return Err(fail(
                    "expected text like \"mon-fri 09:00-17:00\" or an object like {\"mon\": [[\"09:00\", \"17:00\"]]}"
                        .into(),
                )),
            };
        let mut window = Self::never();
        for (key, spans) in map {
            let day = day_index(key.trim())
                .ok_or_else(|| fail(format!("unknown day '{}'; use mon, tue, wed, thu, fri, sat, sun", clip(key))))?;
            let items = spans
                .as_array()
                .ok_or_else(|| fail(format!("{key}: expected a list of spans like [[\"09:00\", \"17:00\"]]")))?;
            let mut parsed = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let span = match item {
                    serde_json::Value::String(s) => parse_span(s),
                    serde_json::Value::Array(pair) => match pair.as_slice() {
                        [serde_json::Value::String(a), serde_json::Value::String(b)] => span_of(a, b),
                        _ => Err("expected a pair of times like [\"09:00\", \"17:00\"]".to_string()),
                    },
                    _ => Err("expected [\"09:00\", \"17:00\"] or \"09:00-17:00\"".to_string()),
                }
                .map_err(|reason| fail(format!("{key}[{i}]: {reason}")))?;
                parsed.push(span);
            }
            let mut days = [false; 7];
            days[day] = true;
            window.add(&days, &parsed);
        }
        Ok(window)
    }

    /// Canonical text form; `parse(to_text())` gives the same window. Days with the same spans are
    /// grouped (`mon-fri 09:00-17:00; sat 10:00-14:00`), a span that runs past midnight is written on the
    /// day it starts (`fri 22:00-02:00`).
    pub fn to_text(&self) -> String {
        if self.is_empty() {
            return "never".into();
        }
        if self.is_always() {
            return "always".into();
        }
        let days = self.canonical_days();
        let mut done = [false; 7];
        let mut parts = Vec::new();
        for d in 0..7 {
            if done[d] || days[d].is_empty() {
                continue;
            }
            let same: Vec<usize> = (d..7).filter(|&e| !done[e] && days[e] == days[d]).collect();
            for &e in &same {
                done[e] = true;
            }
            let spans: Vec<String> = days[d]
                .iter()
                .map(|&(s, e)| format!("{}-{}", hhmm(s), hhmm(if e > DAY { e - DAY } else { e })))
                .collect();
            parts.push(format!("{} {}", day_list(&same), spans.join(", ")));
        }
        parts.join("; ")
    }

    /// JSON object form with all seven days, `{"mon": [["09:00","17:00"]], ..., "sun": []}`; spans past
    /// midnight as in the text form (`["22:00","02:00"]`).
    pub fn to_json(&self) -> serde_json::Value {
        let days = self.canonical_days();
        let mut map = serde_json::Map::new();
        for (d, spans) in days.iter().enumerate() {
            let list = spans
                .iter()
                .map(|&(s, e)| serde_json::json!([hhmm(s), hhmm(if e > DAY { e - DAY } else { e })]))
                .collect();
            map.insert(DAY_NAMES[d].to_string(), serde_json::Value::Array(list));
        }
        serde_json::Value::Object(map)
    }

    /// Is this wall-clock time inside the window?
    pub fn contains_local(&self, local: NaiveDateTime) -> bool {
        self.is_set(minute_of_week(local))
    }

    /// Is this instant inside the window, reading the wall clock in `zone`?
    pub fn contains(&self, instant: DateTime<Utc>, zone: Tz) -> bool {
        local_at(zone, instant).is_some_and(|l| self.contains_local(l))
    }

    /// The first instant at or after `from` that is inside the window; `None` if the window is empty.
    /// Walks stretches of constant offset, so a window opening inside a gap opens when the clocks jump,
    /// and a wall-clock minute that happens twice is open both times.
    pub fn next_open(&self, from: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        if self.is_empty() {
            return None;
        }
        let mut t = from;
        for _ in 0..MAX_SEGMENTS {
            let offset = offset_at(zone, t);
            let local = local_of(t, offset)?;
            let distance = self.next_distance(minute_of_week(local))?;
            if distance == 0 {
                return Some(t);
            }
            let target = floor_minute(local).checked_add_signed(Duration::minutes(distance as i64))?;
            let candidate = instant_of(target, offset)?;
            match first_offset_change(zone, t, candidate, offset) {
                None => return Some(candidate),
                // The clocks changed before the candidate: continue from the change with the new offset.
                Some(change) => t = change,
            }
        }
        None
    }

    /// The latest instant at or before `at` that is inside the window: `at` itself when inside, else the
    /// start of the last open minute before it. `None` if the window is empty.
    pub fn last_open_at_or_before(&self, at: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        if self.is_empty() {
            return None;
        }
        let mut t = at;
        for turn in 0..MAX_SEGMENTS {
            let offset = offset_at(zone, t);
            let local = local_of(t, offset)?;
            let distance = self.prev_distance(minute_of_week(local))?;
            if distance == 0 {
                return if turn == 0 {
                    Some(t)
                } else {
                    // `t` is the last second before a transition; report its minute's start.
                    instant_of(floor_minute(local), offset)
                };
            }
            let target = floor_minute(local).checked_sub_signed(Duration::minutes(distance as i64))?;
            let candidate = instant_of(target, offset)?;
            match last_offset_change(zone, candidate, t, offset) {
                None => return Some(candidate),
                Some(change) => t = change,
            }
        }
        None
    }

    /// Nearest allowed instants around `at`: the latest one at or before it and the first one at or after
    /// it (both `at` when it is inside).
    pub fn nearest_slots(&self, at: DateTime<Utc>, zone: Tz) -> NearestSlots {
        NearestSlots { before: self.last_open_at_or_before(at, zone), after: self.next_open(at, zone) }
    }

    /// Like [`WeeklyWindow::nearest_slots`] but never suggests anything before `earliest` (usually now):
    /// `before` is dropped when it is earlier, `after` is searched from `max(at, earliest)`.
    pub fn nearest_slots_after(&self, at: DateTime<Utc>, zone: Tz, earliest: DateTime<Utc>) -> NearestSlots {
        NearestSlots {
            before: self.last_open_at_or_before(at, zone).filter(|b| *b >= earliest),
            after: self.next_open(at.max(earliest), zone),
        }
    }

    /// When the window last closes on the local `date`: the end of the last open minute that day, but no
    /// later than the day's last minute (23:59 local), so a window open through midnight still closes on
    /// `date`. `None` when the window is not open at all that day.
    pub fn last_close_on(&self, date: NaiveDate, zone: Tz) -> Option<DateTime<Utc>> {
        if self.is_empty() {
            return None;
        }
        let day_start = first_instant_at_or_after(date.and_time(NaiveTime::MIN), zone)?;
        let next_start = first_instant_at_or_after(date.succ_opt()?.and_time(NaiveTime::MIN), zone)?;
        let last = self.last_open_at_or_before(next_start - Duration::seconds(1), zone)?;
        if last < day_start {
            return None;
        }
        let offset = offset_at(zone, last);
        let minute_start = instant_of(floor_minute(local_of(last, offset)?), offset)?;
        let close = minute_start.checked_add_signed(Duration::minutes(1))?;
        Some(close.min(next_start - Duration::minutes(1)))
    }

    // ---- internals ----

    fn add(&mut self, days: &[bool; 7], spans: &[(usize, usize)]) {
        for (d, _) in days.iter().enumerate().filter(|(_, on)| **on) {
            for &(start, len) in spans {
                self.open(d * DAY + start, len);
            }
        }
    }

    /// Opens `len` minutes from week minute `start`, wrapping from Sunday into Monday.
    /// Opens `len` minutes from week minute `start`, wrapping past Sunday midnight, a word at a time: a window is
    /// built on every promise made (the customer's and the owner's), and "always" minute by minute was 10,080
    /// steps each.
    fn open(&mut self, start: usize, len: usize) {
        let (start, len) = (start % WEEK, len.min(WEEK));
        let to_week_end = len.min(WEEK - start);
        self.open_range(start, start + to_week_end);
        self.open_range(0, len - to_week_end);
    }

    /// Opens week minutes `from..to` (`to` at most [`WEEK`]).
    fn open_range(&mut self, from: usize, to: usize) {
        let mut m = from;
        while m < to {
            let (word, bit) = (m / 64, m % 64);
            let n = (64 - bit).min(to - m);
            let mask = if n == 64 { u64::MAX } else { ((1u64 << n) - 1) << bit };
            self.minutes[word] |= mask;
            m += n;
        }
    }

    fn is_set(&self, m: usize) -> bool {
        m < WEEK && self.minutes[m / 64] & (1 << (m % 64)) != 0
    }

    /// Minutes from week minute `m` forward to the first open one (0 if `m` is open), wrapping.
    fn next_distance(&self, m: usize) -> Option<usize> {
        let (w0, b0) = (m / 64, m % 64);
        let first = self.minutes.get(w0)? & (u64::MAX << b0);
        if first != 0 {
            return Some(w0 * 64 + first.trailing_zeros() as usize - m);
        }
        for k in 1..=WORDS {
            let w = (w0 + k) % WORDS;
            let word = self.minutes[w];
            if word != 0 {
                let pos = w * 64 + word.trailing_zeros() as usize;
                return Some((pos + WEEK - m) % WEEK);
            }
        }
        None
    }

    /// Minutes from week minute `m` back to the last open one (0 if `m` is open), wrapping.
    fn prev_distance(&self, m: usize) -> Option<usize> {
        let (w0, b0) = (m / 64, m % 64);
        let mask = if b0 == 63 { u64::MAX } else { (1u64 << (b0 + 1)) - 1 };
        let first = self.minutes.get(w0)? & mask;
        if first != 0 {
            return Some(m - (w0 * 64 + 63 - first.leading_zeros() as usize));
        }
        for k in 1..=WORDS {
            let w = (w0 + WORDS - k) % WORDS;
            let word = self.minutes[w];
            if word != 0 {
                let pos = w * 64 + 63 - word.leading_zeros() as usize;
                return Some((m + WEEK - pos) % WEEK);
            }
        }
        None
    }

    /// Per day (Mon..Sun) the spans as (start, end) minutes of that day; `end` > 1440 for a span that runs
    /// past midnight. The split is unique for a given set of minutes, which makes the text form canonical.
    fn canonical_days(&self) -> [Vec<(usize, usize)>; 7] {
        let mut days: [Vec<(usize, usize)>; 7] = Default::default();
        if self.is_empty() {
            return days;
        }
        if self.is_always() {
            for d in days.iter_mut() {
                d.push((0, DAY));
            }
            return days;
        }
        // Start scanning just after a closed minute so no run is cut by the week boundary.
        let Some(closed) = (0..WEEK).find(|&m| !self.is_set(m)) else {
            return days;
        };
        let mut runs = Vec::new();
        let mut run_start: Option<usize> = None;
        for i in 1..=WEEK {
            let m = closed + i; // absolute, may exceed WEEK; reduced when placed on a day
            let open = self.is_set(m % WEEK);
            match (open, run_start) {
                (true, None) => run_start = Some(m),
                (false, Some(s)) => {
                    runs.push((s, m - s));
                    run_start = None;
                }
                _ => {}
            }
        }
        for (start, len) in runs {
            let mut pieces: Vec<(usize, usize, usize)> = Vec::new();
            let (mut cur, mut left) = (start, len);
            while left > 0 {
                let (day, at) = ((cur % WEEK) / DAY, cur % DAY);
                let take = left.min(DAY - at);
                pieces.push((day, at, at + take));
                cur += take;
                left -= take;
            }
            // A short tail after midnight joins the evening it continues: "fri 22:00-02:00".
            if let [.., prev, last] = pieces.as_slice() {
                if last.1 == 0 && last.2 < DAY && prev.2 == DAY && prev.1 > 0 && last.2 < prev.1 {
                    let merged = (prev.0, prev.1, DAY + last.2);
                    pieces.pop();
                    if let Some(p) = pieces.last_mut() {
                        *p = merged;
                    }
                }
            }
            for (day, s, e) in pieces {
                days[day].push((s, e));
            }
        }
        for d in days.iter_mut() {
            d.sort_unstable();
        }
        days
    }
}

impl Default for WeeklyWindow {
    /// The empty window.
    fn default() -> Self {
        Self::never()
    }
}

impl std::fmt::Debug for WeeklyWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WeeklyWindow").field(&self.to_text()).finish()
    }
}

impl std::fmt::Display for WeeklyWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl std::str::FromStr for WeeklyWindow {
    type Err = TimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for WeeklyWindow {
    /// As the canonical text form.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

impl<'de> serde::Deserialize<'de> for WeeklyWindow {
    /// From the text form or the JSON object form.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Self::from_json(&value).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for WeeklyWindow {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
        utoipa::openapi::RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(
                    "Weekly local hours: ';'-separated parts of days and spans, 'always' or 'never'. \
                     Input may also be an object {\"mon\": [[\"09:00\", \"17:00\"]], ...}.",
                ))
                .examples(["mon-fri 09:00-17:00; sat 10:00-14:00"])
                .build(),
        ))
    }
}

impl utoipa::ToSchema for WeeklyWindow {}

fn minute_of_week(local: NaiveDateTime) -> usize {
    weekday_index(local.date()) * DAY + local.hour() as usize * 60 + local.minute() as usize
}

fn floor_minute(local: NaiveDateTime) -> NaiveDateTime {
    local.date().and_hms_opt(local.hour(), local.minute(), 0).unwrap_or(local)
}

fn hhmm(minutes: usize) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Day indices (sorted) as `mon-fri`, `mon,wed`, `mon-wed,fri`.
fn day_list(days: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let mut j = i;
        while j + 1 < days.len() && days[j + 1] == days[j] + 1 {
            j += 1;
        }
        out.push(if j > i {
            format!("{}-{}", DAY_NAMES[days[i]], DAY_NAMES[days[j]])
        } else {
            DAY_NAMES[days[i]].to_string()
        });
        i = j + 1;
    }
    out.join(",")
}

fn day_index(name: &str) -> Option<usize> {
    let n = name.to_ascii_lowercase();
    Some(match n.as_str() {
        "mon" | "monday" => 0,
        "tue" | "tues" | "tuesday" => 1,
        "wed" | "weds" | "wednesday" => 2,
        "thu" | "thur" | "thurs" | "thursday" => 3,
        "fri" | "friday" => 4,
        "sat" | "saturday" => 5,
        "sun" | "sunday" => 6,
        _ => return None,
    })
}

/// One part: days, then spans. Spans are (start minute of day, length in minutes).
type Part = ([bool; 7], Vec<(usize, usize)>);

fn parse_part(p: &str) -> Result<Part, String> {
    let split = p.find(|c: char| c.is_ascii_digit()).ok_or("no times given; expected e.g. 'mon-fri 09:00-17:00'")?;
    let (days_text, spans_text) = p.split_at(split);
    let days_text = days_text.trim();
    if days_text.is_empty() {
        return Err("no days before the times; e.g. 'mon-fri 09:00-17:00' or 'daily 09:00-17:00'".into());
    }
    let days = parse_days(days_text)?;
    let mut spans = Vec::new();
    for span in spans_text.split(',') {
        let s = span.trim();
        if s.is_empty() {
            return Err("empty span in the list of times".into());
        }
        spans.push(parse_span(s)?);
    }
    Ok((days, spans))
}

fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    for item in text.split(',') {
        let item = item.trim();
        match item.to_ascii_lowercase().as_str() {
            "daily" | "everyday" | "every day" => days = [true; 7],
            "weekdays" => days[..5].iter_mut().for_each(|d| *d = true),
            "weekends" | "weekend" => days[5..].iter_mut().for_each(|d| *d = true),
            _ => {
                let (a, b) = match item.split_once('-') {
                    Some((a, b)) => (a.trim(), b.trim()),
                    None => (item, item),
                };
                let from = day_index(a).ok_or_else(|| unknown_day(a))?;
                let to = day_index(b).ok_or_else(|| unknown_day(b))?;
                // Ranges may wrap the weekend: "fri-mon".
                let mut d = from;
                loop {
                    days[d] = true;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
        }
    }
    Ok(days)
}

fn unknown_day(s: &str) -> String {
    if s.is_empty() {
        "a day is missing in the day list".into()
    } else {
        format!("unknown day '{}'; use mon, tue, wed, thu, fri, sat, sun", clip(s))
    }
}

fn parse_span(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once(['-', '\u{2013}'])
        .ok_or_else(|| format!("span '{}' needs a start and an end, like 09:00-17:00", clip(s)))?;
    span_of(a, b)
}

fn span_of(a: &str, b: &str) -> Result<(usize, usize), String> {
    let start = parse_clock(a.trim(), false)?;
    let end = parse_clock(b.trim(), true)?;
    let len = match end.cmp(&start) {
        std::cmp::Ordering::Greater => end - start,
        std::cmp::Ordering::Less => DAY - start + end, // runs past midnight into the next day
        std::cmp::Ordering::Equal => {
            return Err(format!("span {}-{} is empty (use 00:00-24:00 for a whole day)", a.trim(), b.trim()))
        }
    };
    Ok((start, len))
}

/// `H:MM` or `HH:MM` as minutes of the day; `24:00` only as an end.
fn parse_clock(s: &str, is_end: bool) -> Result<usize, String> {
    let bad = || format!("'{}' is not a time; use HH:MM like 09:30", clip(s));
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let ok = |x: &str, max_len: usize| !x.is_empty() && x.len() <= max_len && x.bytes().all(|c| c.is_ascii_digit());
    if !ok(h, 2) || !ok(m, 2) || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (usize, usize) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h == 24 && m == 0 {
        return if is_end { Ok(DAY) } else { Err("24:00 can only end a span".into()) };
    }
    if h > 23 || m > 59 {
        return Err(format!("{s} is not a time of day"));
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{local, offset, tz, utc, zone_at};
    use super::*;
    use proptest::prelude::*;

    fn w(text: &str) -> WeeklyWindow {
        WeeklyWindow::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn madrid() -> Tz {
        tz("Europe/Madrid")
    }

    proptest! {
        #[test]
        fn opening_a_span_a_word_at_a_time_opens_exactly_its_minutes(start in 0usize..3 * WEEK, len in 0usize..WEEK + 100) {
            let mut window = WeeklyWindow::never();
            window.open(start, len);
            let opened: std::collections::HashSet<usize> = (0..len.min(WEEK)).map(|i| (start + i) % WEEK).collect();
            for m in 0..WORDS * 64 {
                prop_assert_eq!(window.minutes[m / 64] & (1 << (m % 64)) != 0, opened.contains(&m), "minute {}", m);
            }
        }
    }

    #[test]
    fn the_usual_forms_parse_and_print_canonically() {
        let cases = [
            ("mon-fri 09:00-17:00; sat 10:00-14:00", "mon-fri 09:00-17:00; sat 10:00-14:00"),
            ("mon,wed 08:00-12:00, 15:00-19:00", "mon,wed 08:00-12:00, 15:00-19:00"),
            ("Monday-Friday 9:00-17:00", "mon-fri 09:00-17:00"),
            ("fri 22:00-02:00", "fri 22:00-02:00"),
            ("sun 22:00-02:00", "sun 22:00-02:00"),
            ("mon 18:00-24:00", "mon 18:00-24:00"),
            ("daily 09:00-21:00", "mon-sun 09:00-21:00"),
            ("weekdays 08:00-20:00; weekends 10:00-14:00", "mon-fri 08:00-20:00; sat-sun 10:00-14:00"),
            ("fri-mon 10:00-12:00", "mon,fri-sun 10:00-12:00"),
            ("mon 09:00-12:00; mon 11:00-14:00;", "mon 09:00-14:00"),
            ("mon 00:00-24:00; tue 00:00-02:00", "mon 00:00-24:00; tue 00:00-02:00"),
            ("mon-sat 09:00-21:00", "mon-sat 09:00-21:00"),
            ("always", "always"),
            (" ALWAYS ", "always"),
            ("never", "never"),
        ];
        for (input, canonical) in cases {
            let window = w(input);
            assert_eq!(window.to_text(), canonical, "{input}");
            assert_eq!(w(canonical), window, "{canonical} round-trips");
        }
        assert!(WeeklyWindow::always().is_always());
        assert!(WeeklyWindow::never().is_empty());
        assert!(!w("mon 09:00-10:00").is_empty());
    }

    #[test]
    fn spans_past_midnight_run_into_the_next_day() {
        let late = w("fri 22:00-02:00");
        assert!(late.contains_local(local(2026, 5, 15, 22, 0))); // Friday
        assert!(late.contains_local(local(2026, 5, 16, 1, 59))); // Saturday
        assert!(!late.contains_local(local(2026, 5, 16, 2, 0)));
        assert!(!late.contains_local(local(2026, 5, 15, 21, 59)));
        // Sunday night wraps into Monday.
        let sunday = w("sun 23:00-01:00");
        assert!(sunday.contains_local(local(2026, 5, 18, 0, 30))); // Monday
        assert!(!sunday.contains_local(local(2026, 5, 18, 1, 0)));
        let until_midnight = w("mon 18:00-24:00");
        assert!(until_midnight.contains_local(local(2026, 5, 18, 23, 59)));
        assert!(!until_midnight.contains_local(local(2026, 5, 19, 0, 0)));
    }

    #[test]
    fn errors_say_which_part_is_wrong() {
        let reason = |s: &str| match WeeklyWindow::parse(s) {
            Err(e @ TimeError::InvalidWindow { .. }) => {
                assert_eq!(e.code(), "invalid_window");
                e.to_string()
            }
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            reason("mon-fri 09:00-17:00; sat 10:00-14:00; sun 25:00-26:00"),
            "invalid window 'mon-fri 09:00-17:00; sat 10:00-14:00; sun 25:00-26:00': part 3 ('sun 25:00-26:00'): \
             25:00 is not a time of day"
        );
        assert!(reason("mon-fry 09:00-17:00").contains("part 1 ('mon-fry 09:00-17:00'): unknown day 'fry'"));
        assert!(reason("mon 09:00").contains("needs a start and an end"));
        assert!(reason("09:00-17:00").contains("no days before the times"));
        assert!(reason("mon 09:00-09:00").contains("is empty"));
        assert!(reason("mon 24:00-02:00").contains("24:00 can only end a span"));
        assert!(reason("mon").contains("no times given"));
        assert!(reason("").contains("empty"));
        assert!(reason(";").contains("no days or times"));
        assert!(reason("mon 9h-17h").contains("'9h' is not a time"));
        assert!(reason("mon 09:00-17:00,").contains("empty span"));
    }

    #[test]
    fn json_forms_read_and_write() {
        let from_object = WeeklyWindow::from_json(&serde_json::json!({
            "mon": [["09:00", "17:00"]], "tue": ["09:00-17:00"], "Friday": [["22:00", "02:00"]]
        }))
        .unwrap();
        assert_eq!(from_object.to_text(), "mon-tue 09:00-17:00; fri 22:00-02:00");
        let from_string = WeeklyWindow::from_json(&serde_json::json!("mon-tue 09:00-17:00; fri 22:00-02:00")).unwrap();
        assert_eq!(from_string, from_object);
        assert_eq!(
            w("mon-fri 09:00-17:00; sat 10:00-14:00").to_json(),
            serde_json::json!({
                "mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
                "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]], "sat": [["10:00", "14:00"]], "sun": []
            })
        );
        assert_eq!(WeeklyWindow::from_json(&from_object.to_json()).unwrap(), from_object);
        let bad = WeeklyWindow::from_json(&serde_json::json!({"mon": [["09:00"]]})).unwrap_err();
        assert!(bad.to_string().contains("mon[0]: expected a pair"), "{bad}");
        let bad = WeeklyWindow::from_json(&serde_json::json!({"funday": []})).unwrap_err();
        assert!(bad.to_string().contains("unknown day 'funday'"), "{bad}");
        assert!(WeeklyWindow::from_json(&serde_json::json!(42)).is_err());
        assert!(WeeklyWindow::from_json(&serde_json::Value::Null).is_err());
    }

    #[test]
    fn serde_writes_text_and_reads_either_form() {
        #[derive(Debug, serde::Serialize, serde::Deserialize)]
        struct Customer {
            contact_window: WeeklyWindow,
        }
        let c: Customer = serde_json::from_str(r#"{"contact_window": "mon-sat 09:00-21:00"}"#).unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"contact_window":"mon-sat 09:00-21:00"}"#);
        let c: Customer = serde_json::from_str(r#"{"contact_window": {"sat": [["10:00","14:00"]]}}"#).unwrap();
        assert_eq!(c.contact_window.to_text(), "sat 10:00-14:00");
        let e = serde_json::from_str::<Customer>(r#"{"contact_window": "mon 9-5"}"#).unwrap_err();
        assert!(e.to_string().contains("invalid window"), "{e}");
    }

    #[test]
    fn next_open_skips_the_weekend_and_the_spring_forward_night() {
        let office = w("mon-fri 09:00-17:00");
        // Friday 18:00 CEST -> Monday 09:00 CEST.
        assert_eq!(office.next_open(utc("2026-05-15T16:00:00Z"), madrid()), Some(utc("2026-05-18T07:00:00Z")));
        // Saturday before the change (CET) -> Monday after it (CEST).
        assert_eq!(office.next_open(utc("2026-03-28T11:00:00Z"), madrid()), Some(utc("2026-03-30T07:00:00Z")));
        // Inside already: the same instant back.
        assert_eq!(office.next_open(utc("2026-05-18T08:00:30Z"), madrid()), Some(utc("2026-05-18T08:00:30Z")));
        assert_eq!(WeeklyWindow::never().next_open(utc("2026-05-18T08:00:00Z"), madrid()), None);
    }

    #[test]
    fn a_window_opening_in_a_gap_opens_when_the_clocks_jump() {
        // 02:30-04:00 on the night 02:00 became 03:00: open from the jump (03:00 CEST = 01:00Z).
        let night = w("sun 02:30-04:00");
        assert_eq!(night.next_open(utc("2026-03-29T00:00:00Z"), madrid()), Some(utc("2026-03-29T01:00:00Z")));
        // And a window that closes inside a gap closes at the jump.
        let early = w("sun 01:00-02:30");
        assert_eq!(
            early.last_close_on(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(), madrid()),
            Some(utc("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn a_minute_that_happens_twice_is_open_both_times() {
        let w = w("sun 02:00-02:30");
        assert!(w.contains(utc("2026-10-25T00:15:00Z"), madrid())); // 02:15 CEST
        assert!(w.contains(utc("2026-10-25T01:15:00Z"), madrid())); // 02:15 CET
        assert!(!w.contains(utc("2026-10-25T00:45:00Z"), madrid())); // 02:45 CEST
                                                                     // From 02:45 CEST the next opening is the second 02:00, in CET.
        assert_eq!(w.next_open(utc("2026-10-25T00:45:00Z"), madrid()), Some(utc("2026-10-25T01:00:00Z")));
        // Looking back from the second 02:45: the last open minute is the second 02:29.
        assert_eq!(w.last_open_at_or_before(utc("2026-10-25T01:45:00Z"), madrid()), Some(utc("2026-10-25T01:29:00Z")));
    }

    #[test]
    fn next_open_is_right_on_25_and_23_hour_days() {
        let late = w("sun 23:00-24:00");
        // 25 h day: Sunday 00:00 CEST -> 23:00 CET.
        assert_eq!(late.next_open(utc("2026-10-24T22:00:00Z"), madrid()), Some(utc("2026-10-25T22:00:00Z")));
        // 23 h day: Sunday 00:00 CET -> 23:00 CEST.
        assert_eq!(late.next_open(utc("2026-03-28T23:00:00Z"), madrid()), Some(utc("2026-03-29T21:00:00Z")));
        // In New York too.
        let ny = tz("America/New_York");
        assert_eq!(late.next_open(utc("2026-11-01T04:00:00Z"), ny), Some(utc("2026-11-02T04:00:00Z")));
    }

    #[test]
    fn nearest_slots_around_a_sunday_request() {
        let window = w("mon-sat 09:00-21:00");
        let sunday_noon = utc("2026-05-10T10:00:00Z");
        let slots = window.nearest_slots(sunday_noon, madrid());
        assert_eq!(slots.before, Some(utc("2026-05-09T18:59:00Z"))); // Saturday 20:59
        assert_eq!(slots.after, Some(utc("2026-05-11T07:00:00Z"))); // Monday 09:00
        let future_only = window.nearest_slots_after(sunday_noon, madrid(), sunday_noon);
        assert_eq!(future_only.before, None);
        assert_eq!(future_only.after, Some(utc("2026-05-11T07:00:00Z")));
        let inside = window.nearest_slots(utc("2026-05-11T08:00:00Z"), madrid());
        assert_eq!(inside.before, inside.after);
    }

    #[test]
    fn last_close_of_a_day() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let window = w("mon-sat 09:00-21:00");
        assert_eq!(window.last_close_on(d(2026, 5, 9), madrid()), Some(utc("2026-05-09T19:00:00Z")));
        assert_eq!(window.last_close_on(d(2026, 5, 10), madrid()), None);
        let late = w("fri 22:00-02:00");
        // Open through midnight: closes at 23:59 on the day itself, at 02:00 on the next.
        assert_eq!(late.last_close_on(d(2026, 5, 15), madrid()), Some(utc("2026-05-15T21:59:00Z")));
        assert_eq!(late.last_close_on(d(2026, 5, 16), madrid()), Some(utc("2026-05-16T00:00:00Z")));
        // Sao Paulo's missing midnight: the day before still ends at 23:59 local.
        assert_eq!(
            WeeklyWindow::always().last_close_on(d(2018, 11, 3), tz("America/Sao_Paulo")),
            Some(utc("2018-11-04T02:59:00Z"))
        );
        assert_eq!(WeeklyWindow::never().last_close_on(d(2026, 5, 9), madrid()), None);
    }

    #[test]
    fn extreme_instants_and_dates_never_panic() {
        let window = w("mon-sat 09:00-21:00");
        for zone in [madrid(), tz("Pacific/Kiritimati"), tz("Etc/GMT+12")] {
            for at in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, utc("9999-12-31T23:59:59Z")] {
                let _ = window.next_open(at, zone);
                let _ = window.nearest_slots(at, zone);
                let _ = window.nearest_slots_after(at, zone, at);
                let _ = window.contains(at, zone);
            }
            let _ = window.last_close_on(NaiveDate::MAX, zone);
            let _ = window.last_close_on(NaiveDate::MIN, zone);
        }
    }

    /// A random window written in the text form: up to five (day, start, length) spans.
    fn window_text() -> impl Strategy<Value = String> {
        prop::collection::vec((0usize..7, 0usize..DAY, 1usize..DAY + 1), 0..5).prop_map(|spans| {
            if spans.is_empty() {
                return "never".to_string();
            }
            spans
                .into_iter()
                .map(|(day, start, len)| {
                    if len == DAY {
                        format!("{} 00:00-24:00", DAY_NAMES[day])
                    } else {
                        let end = start + len;
                        let end = if end == DAY { DAY } else { end % DAY };
                        format!("{} {}-{}", DAY_NAMES[day], hhmm(start), hhmm(end))
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// First instant >= from inside, walking minute by minute (brute force).
    fn brute_next_open(w: &WeeklyWindow, from: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        if w.contains(from, zone) {
            return Some(from);
        }
        let mut t = DateTime::from_timestamp(from.timestamp().div_euclid(60) * 60 + 60, 0)?;
        for _ in 0..8 * DAY {
            if w.contains(t, zone) {
                return Some(t);
            }
            t += Duration::minutes(1);
        }
        None
    }

    /// Latest minute start <= at inside (or `at` itself), walking back minute by minute.
    fn brute_last_open(w: &WeeklyWindow, at: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        if w.contains(at, zone) {
            return Some(at);
        }
        let mut t = DateTime::from_timestamp(at.timestamp().div_euclid(60) * 60, 0)?;
        for _ in 0..8 * DAY {
            if w.contains(t, zone) {
                return Some(t);
            }
            t -= Duration::minutes(1);
        }
        None
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn text_and_json_round_trip(text in window_text()) {
            let window = w(&text);
            let canonical = window.to_text();
            prop_assert_eq!(&w(&canonical), &window, "{} -> {}", text, canonical);
            prop_assert_eq!(w(&canonical).to_text(), canonical.clone());
            prop_assert_eq!(WeeklyWindow::from_json(&window.to_json()).unwrap(), window.clone());
            let json = serde_json::to_string(&window).unwrap();
            prop_assert_eq!(serde_json::from_str::<WeeklyWindow>(&json).unwrap(), window);
        }

        #[test]
        fn searches_agree_with_a_minute_walk(
            text in window_text(),
            zone_index in 0usize..10_000,
            seconds in 157_766_400i64..2_145_916_800, // 1975..2038
            sub in 0i64..60,
        ) {
            let window = w(&text);
            let zone = zone_at(zone_index);
            let at = DateTime::from_timestamp(seconds + sub, 0).unwrap();
            // Minute walks in UTC only line up with local minutes for whole-minute offsets.
            prop_assume!(offset(zone, at) % 60 == 0);
            prop_assume!(offset(zone, at - Duration::days(8)) % 60 == 0);
            prop_assume!(offset(zone, at + Duration::days(8)) % 60 == 0);
            prop_assert_eq!(window.next_open(at, zone), brute_next_open(&window, at, zone));
            prop_assert_eq!(window.last_open_at_or_before(at, zone), brute_last_open(&window, at, zone));
        }

        #[test]
        fn window_parsers_never_panic(s in "\\PC*") {
            let _ = WeeklyWindow::parse(&s);
            let _ = WeeklyWindow::from_json(&serde_json::Value::String(s.clone()));
            let _ = serde_json::from_str::<serde_json::Value>(&s).map(|v| WeeklyWindow::from_json(&v));
        }

        #[test]
        fn near_valid_windows_never_panic(s in "(mon|tue|sun|fri-mon|daily|x)?[ ,-]?[0-9]{1,2}:[0-9]{2}[-\u{2013}][0-9]{1,2}:[0-9]{2}(;|, )?[0-9:-]*") {
            if let Ok(w) = WeeklyWindow::parse(&s) {
                prop_assert_eq!(WeeklyWindow::parse(&w.to_text()).unwrap(), w);
            }
        }
    }
}
