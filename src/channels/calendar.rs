//! The per-agent iCalendar feed: every open promise as a VEVENT with one VALARM per lead reminder, so the agent's
//! own calendar app reminds them even when Tendero is not open. Rendering only; the route finds the promises.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use icalendar::{Alarm, Calendar, Component, Event, EventLike, Property};

/// Identifies the producer to calendar clients (RFC 5545 section 3.7.3).
const PRODID: &str = "-//Tendero//Promises//EN";

/// Domain part of event UIDs, so they stay globally unique next to other feeds in the same client.
const UID_DOMAIN: &str = "tendero";

/// How often subscribed clients should re-fetch: promises are rescheduled during the day, and clients that honour
/// the hint (Apple Calendar, Thunderbird) would otherwise keep a stale copy for a day or more.
const REFRESH_INTERVAL: &str = "PT15M";

/// One open promise as a calendar event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// The promise id; the event UID is `"<id>@tendero"`, stable across reschedules so clients update in place.
    pub uid: String,
    /// The event title, e.g. "Callback: Víctor Lanuza — Te llamo mañana a las 11:00".
    pub summary: String,
    /// Free text: customer name, phone, what was promised, and the customer's local time and zone
    /// (e.g. "11:00 Europe/Madrid (UTC+01:00)"), since the event itself is written in UTC.
    pub description: String,
    /// When the promise is due.
    pub start: DateTime<Utc>,
    /// How long to block in the agent's calendar, e.g. 15 minutes for a callback. Zero or negative means a
    /// point in time (no DTEND).
    pub duration: Duration,
    /// Lead reminders before `start`, e.g. 10 minutes and 2 days; one VALARM each.
    pub alarms: Vec<Duration>,
    /// The promise version, so clients replace a rescheduled event instead of keeping the old one.
    pub sequence: i32,
    /// When the promise last changed.
    pub last_modified: DateTime<Utc>,
    /// Link back to the promise page in Tendero, if the feed knows the public base URL.
    pub url: Option<String>,
}

/// Renders a VCALENDAR named `calendar_name` with one VEVENT per event, stamped with `now`.
///
/// All instants are written in UTC (`...Z`) so no VTIMEZONE is needed; the customer's zone travels in the
/// description. Text is escaped, lines are folded at 75 octets and end in CRLF (done by the `icalendar` crate).
/// Control characters in the input are dropped or turned into line breaks rather than allowed to break the
/// line structure of the feed.
pub fn render_feed(calendar_name: &str, events: &[FeedEvent], now: DateTime<Utc>) -> String {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", PRODID))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", "PUBLISH"))
        .append_property(("X-WR-CALNAME", clean_text(calendar_name).as_ref()))
        .append_property(Property::new("REFRESH-INTERVAL", REFRESH_INTERVAL).add_parameter("VALUE", "DURATION").done())
        .append_property(("X-PUBLISHED-TTL", REFRESH_INTERVAL));
    for event in events {
        calendar.push(render_event(event, now));
    }
    calendar.to_string()
}

/// One promise as a VEVENT with its alarms.
fn render_event(feed_event: &FeedEvent, now: DateTime<Utc>) -> Event {
    let summary = clean_text(&feed_event.summary);
    let uid = clean_text(&feed_event.uid);
    let mut event = Event::new();
    event
        .uid(&format!("{uid}@{UID_DOMAIN}"))
        .timestamp(now)
        .starts(feed_event.start)
        .summary(&summary)
        .description(&clean_text(&feed_event.description))
        // SEQUENCE is a non-negative integer in RFC 5545; a negative version can only be a bug upstream.
        .sequence(u32::try_from(feed_event.sequence).unwrap_or(0))
        .last_modified(feed_event.last_modified);
    if feed_event.duration > Duration::zero() {
        // RFC 5545 wants DTEND strictly after DTSTART; without DTEND the event is a point in time.
        if let Some(end) = feed_event.start.checked_add_signed(feed_event.duration) {
            event.ends(end);
        }
    }
    if let Some(url) = feed_event.url.as_deref() {
        // URL values are not escaped by the crate, so a stray line break would split the property.
        let url: String = url.chars().filter(|c| !c.is_control()).collect();
        if !url.is_empty() {
            event.url(&url);
        }
    }
    // Triggers are written to the second; two leads that agree to the second would make the client ring twice.
    let mut lead_seconds: Vec<i64> = Vec::with_capacity(feed_event.alarms.len());
    for lead in &feed_event.alarms {
        if !lead_seconds.contains(&lead.num_seconds()) {
            lead_seconds.push(lead.num_seconds());
            event.alarm(reminder(&uid, &summary, *lead, now));
        }
    }
    event.done()
}

/// A display alarm `lead` before the start of the promise `uid`.
fn reminder(uid: &str, summary: &str, lead: Duration, now: DateTime<Utc>) -> Alarm {
    let mut alarm = Alarm::display(summary, -lead);
    // The crate writes chrono's ISO form ("-PT600S", with fractional seconds when present); write the RFC 5545
    // form people and clients expect ("-PT10M", "-P2D") instead. Same key, so this replaces the crate's TRIGGER.
    alarm.append_property(("TRIGGER", ical_duration(-lead).as_str()));
    // The crate gives every component a UID and DTSTAMP, inventing a random UUID and the wall clock when none is
    // set. Pinning both keeps the feed a pure function of its input (stable ETags, no phantom changes in clients);
    // a stable alarm UID (RFC 9074) also lets clients remember that a reminder was dismissed.
    alarm.uid(&format!("{uid}-alarm-{}@{UID_DOMAIN}", lead.num_seconds())).timestamp(now);
    alarm.done()
}

/// An RFC 5545 duration value (section 3.3.6) such as `-P2D`, `-PT10M` or `P1DT2H30M`, to whole seconds.
fn ical_duration(duration: Duration) -> String {
    let seconds = duration.num_seconds();
    let sign = if seconds < 0 { "-" } else { "" };
    // unsigned_abs: i64::MIN has no positive i64 counterpart.
    let mut rest = seconds.unsigned_abs();
    let days = rest / 86_400;
    rest %= 86_400;
    let (hours, minutes, secs) = (rest / 3_600, rest % 3_600 / 60, rest % 60);

    let mut out = format!("{sign}P");
    if days > 0 {
        let _ = write!(out, "{days}D");
    }
    if hours > 0 || minutes > 0 || secs > 0 || days == 0 {
        out.push('T');
        if hours > 0 {
            let _ = write!(out, "{hours}H");
        }
        if minutes > 0 {
            let _ = write!(out, "{minutes}M");
        }
        if secs > 0 || (hours == 0 && minutes == 0) {
            let _ = write!(out, "{secs}S");
        }
    }
    out
}

/// Text as RFC 5545 TEXT allows it: CRLF and lone CR become LF (which the crate escapes as `\n`), and other
/// control characters except tab are dropped, since they are not allowed and some clients reject the whole feed.
fn clean_text(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Cow::Borrowed(text);
    }
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    Cow::Owned(normalised.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ical::parser::ical::component::{IcalCalendar, IcalEvent};
    use ical::property::Property as ParsedProperty;

    /// Parses a feed with an independent parser (the `ical` crate), as a subscriber's client would.
    fn parse(feed: &str) -> IcalCalendar {
        let mut calendars = ical::IcalParser::new(feed.as_bytes());
        let calendar = calendars.next().expect("one VCALENDAR").expect("a well-formed VCALENDAR");
        assert!(calendars.next().is_none(), "exactly one VCALENDAR");
        calendar
    }

    fn value<'a>(properties: &'a [ParsedProperty], name: &str) -> &'a str {
        let property = properties.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("{name} missing"));
        property.value.as_deref().unwrap_or("")
    }

    fn values<'a>(properties: &'a [ParsedProperty], name: &str) -> Vec<&'a str> {
        properties.iter().filter(|p| p.name == name).map(|p| p.value.as_deref().unwrap_or("")).collect()
    }

    /// RFC 5545 TEXT unescaping; the `ical` crate hands values over raw.
    fn unescape(raw: &str) -> String {
        let mut out = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            match (c, c == '\\') {
                (_, true) => match chars.next() {
                    Some('n' | 'N') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => {}
                },
                (c, false) => out.push(c),
            }
        }
        out
    }

    fn event<'a>(calendar: &'a IcalCalendar, uid: &str) -> &'a IcalEvent {
        calendar.events.iter().find(|e| value(&e.properties, "UID") == uid).unwrap_or_else(|| panic!("no {uid}"))
    }

    fn madrid_callback() -> FeedEvent {
        // Customer in Zaragoza agrees a callback at 11:00 tomorrow, Madrid time (10:00 UTC in winter).
        FeedEvent {
            uid: "01JQ8Z6Y4S3KXW2V1T0R9P8N7M".to_owned(),
            summary: "Callback: Víctor Lanuza — Te llamo mañana a las 11:00, sin falta; la factura de Ñandú".to_owned(),
            description: "Víctor Lanuza, +34 976 000 000\nPromised: call back about the invoice\n\
                          11:00 Europe/Madrid (UTC+01:00)"
                .to_owned(),
            start: Utc.with_ymd_and_hms(2026, 2, 17, 10, 0, 0).unwrap(),
            duration: Duration::minutes(15),
            alarms: vec![Duration::minutes(10)],
            sequence: 0,
            last_modified: Utc.with_ymd_and_hms(2026, 2, 16, 9, 12, 30).unwrap(),
            url: Some("https://tendero.example/promises/01JQ8Z6Y4S3KXW2V1T0R9P8N7M".to_owned()),
        }
    }

    fn new_york_deadline() -> FeedEvent {
        FeedEvent {
            uid: "01JQ8Z7A0B1C2D3E4F5G6H7J8K".to_owned(),
            summary: "Deadline: refund for Dana Whitfield".to_owned(),
            description: "Refund by Friday 17:00 America/New_York (UTC-05:00)".to_owned(),
            start: Utc.with_ymd_and_hms(2026, 2, 20, 22, 0, 0).unwrap(),
            duration: Duration::minutes(30),
            alarms: vec![Duration::minutes(10), Duration::days(2)],
            sequence: 3,
            last_modified: Utc.with_ymd_and_hms(2026, 2, 16, 15, 0, 0).unwrap(),
            url: None,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 2, 16, 16, 0, 0).unwrap()
    }

    #[test]
    fn feed_with_two_promises_parses_back_in_a_real_client_parser() {
        let feed = render_feed("Promesas de Ana", &[madrid_callback(), new_york_deadline()], now());
        let calendar = parse(&feed);

        assert_eq!(value(&calendar.properties, "VERSION"), "2.0");
        assert_eq!(value(&calendar.properties, "PRODID"), "-//Tendero//Promises//EN");
        assert_eq!(value(&calendar.properties, "X-WR-CALNAME"), "Promesas de Ana");
        assert_eq!(calendar.events.len(), 2);

        let callback = event(&calendar, "01JQ8Z6Y4S3KXW2V1T0R9P8N7M@tendero");
        let props = &callback.properties;
        assert_eq!(unescape(value(props, "SUMMARY")), madrid_callback().summary);
        assert_eq!(unescape(value(props, "DESCRIPTION")), madrid_callback().description);
        assert_eq!(value(props, "DTSTART"), "20260217T100000Z");
        assert_eq!(value(props, "DTEND"), "20260217T101500Z");
        assert_eq!(value(props, "DTSTAMP"), "20260216T160000Z");
        assert_eq!(value(props, "LAST-MODIFIED"), "20260216T091230Z");
        assert_eq!(value(props, "SEQUENCE"), "0");
        assert_eq!(value(props, "URL"), "https://tendero.example/promises/01JQ8Z6Y4S3KXW2V1T0R9P8N7M");
        assert_eq!(callback.alarms.len(), 1);

        let deadline = event(&calendar, "01JQ8Z7A0B1C2D3E4F5G6H7J8K@tendero");
        let props = &deadline.properties;
        assert!(value(props, "DTSTART").ends_with('Z'));
        assert_eq!(value(props, "SEQUENCE"), "3");
        assert!(values(props, "URL").is_empty());
        let triggers: Vec<&str> = deadline.alarms.iter().map(|a| value(&a.properties, "TRIGGER")).collect();
        assert_eq!(triggers, ["-PT10M", "-P2D"]);
        for alarm in &deadline.alarms {
            assert_eq!(value(&alarm.properties, "ACTION"), "DISPLAY");
            assert_eq!(unescape(value(&alarm.properties, "DESCRIPTION")), "Deadline: refund for Dana Whitfield");
        }
    }

    #[test]
    fn feed_is_crlf_folded_and_escaped() {
        let feed = render_feed("Promesas de Ana", &[madrid_callback()], now());
        assert!(feed.starts_with("BEGIN:VCALENDAR\r\n") && feed.ends_with("END:VCALENDAR\r\n"));
        for line in feed.split("\r\n") {
            assert!(line.len() <= 75, "line longer than 75 octets: {line:?}");
            assert!(!line.contains('\n') && !line.contains('\r'), "bare line break in {line:?}");
        }
        let unfolded = feed.replace("\r\n ", "");
        assert!(unfolded.contains("a las 11:00\\, sin falta\\; la factura de Ñandú"), "{unfolded}");
    }

    #[test]
    fn same_promises_render_the_same_feed() {
        // Clients and caches compare feeds byte for byte; nothing may depend on the wall clock or randomness.
        let events = [madrid_callback(), new_york_deadline()];
        let feed = render_feed("Promesas de Ana", &events, now());
        assert_eq!(feed, render_feed("Promesas de Ana", &events, now()));
        let calendar = parse(&feed);
        let alarm = &event(&calendar, "01JQ8Z7A0B1C2D3E4F5G6H7J8K@tendero").alarms[1];
        assert_eq!(value(&alarm.properties, "UID"), "01JQ8Z7A0B1C2D3E4F5G6H7J8K-alarm-172800@tendero");
    }

    #[test]
    fn empty_feed_is_still_a_calendar() {
        let feed = render_feed("Promesas de Ana", &[], now());
        let calendar = parse(&feed);
        assert!(calendar.events.is_empty());
        assert_eq!(value(&calendar.properties, "VERSION"), "2.0");
        assert_eq!(value(&calendar.properties, "PRODID"), "-//Tendero//Promises//EN");
    }

    #[test]
    fn hostile_text_cannot_inject_properties() {
        let mut promise = madrid_callback();
        promise.summary = "Llamar\r\nEND:VEVENT\r\nBEGIN:VEVENT\u{0}".to_owned();
        promise.url = Some("https://tendero.example/p/1\r\nATTACH:evil".to_owned());
        promise.sequence = -4;
        promise.duration = Duration::zero();
        promise.alarms = vec![Duration::minutes(10), Duration::minutes(10)];
        let feed = render_feed("Ana\r\nX-EVIL:1", &[promise], now());
        let calendar = parse(&feed);

        assert_eq!(calendar.events.len(), 1);
        assert!(values(&calendar.properties, "X-EVIL").is_empty());
        let props = &calendar.events[0].properties;
        assert_eq!(unescape(value(props, "SUMMARY")), "Llamar\nEND:VEVENT\nBEGIN:VEVENT");
        assert_eq!(value(props, "URL"), "https://tendero.example/p/1ATTACH:evil");
        assert_eq!(value(props, "SEQUENCE"), "0");
        assert!(values(props, "DTEND").is_empty());
        assert_eq!(calendar.events[0].alarms.len(), 1);
    }

    #[test]
    fn durations_use_the_rfc_5545_form() {
        assert_eq!(ical_duration(-Duration::minutes(10)), "-PT10M");
        assert_eq!(ical_duration(-Duration::days(2)), "-P2D");
        assert_eq!(ical_duration(-Duration::hours(26) - Duration::minutes(30)), "-P1DT2H30M");
        assert_eq!(ical_duration(Duration::seconds(90)), "PT1M30S");
        assert_eq!(ical_duration(Duration::zero()), "PT0S");
        assert_eq!(ical_duration(Duration::milliseconds(-1500)), "-PT1S");
        assert!(ical_duration(Duration::MIN).starts_with("-P"));
    }
}
