//! Time engine micro-benchmarks: resolving a customer's wall-clock time (target < 1 µs) and finding a
//! recurrence's next occurrence (target < 5 µs), on ordinary days and on DST transition days.

use std::hint::black_box;

use chrono::{DateTime, NaiveDate, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use tendero::domain::time::{parse_local, resolve_local, Disambiguation, Recurrence, Tz, WeeklyWindow};

fn instant(text: &str) -> DateTime<Utc> {
    text.parse().expect("bench instants are RFC 3339")
}

fn resolve(c: &mut Criterion) {
    let madrid: Tz = "Europe/Madrid".parse().expect("zone");
    let new_york: Tz = "America/New_York".parse().expect("zone");
    let ordinary = parse_local("2026-05-13T11:00").expect("local");
    let gap = parse_local("2026-03-29T02:30").expect("local");
    let fold = parse_local("2026-11-01T01:30").expect("local");
    let mut group = c.benchmark_group("resolve_local");
    group.bench_function("ordinary Madrid", |b| {
        b.iter(|| resolve_local(black_box(ordinary), black_box(madrid), Disambiguation::Compatible))
    });
    group.bench_function("gap Madrid", |b| {
        b.iter(|| resolve_local(black_box(gap), black_box(madrid), Disambiguation::Compatible))
    });
    group.bench_function("fold New York", |b| {
        b.iter(|| resolve_local(black_box(fold), black_box(new_york), Disambiguation::Later))
    });
    group.bench_function("parse + resolve", |b| {
        b.iter(|| {
            let l = parse_local(black_box("2026-05-13T11:00")).expect("local");
            resolve_local(l, madrid, Disambiguation::Compatible)
        })
    });
    group.finish();
}

fn next_occurrence(c: &mut Criterion) {
    let madrid: Tz = "Europe/Madrid".parse().expect("zone");
    let new_york: Tz = "America/New_York".parse().expect("zone");
    let weekdays = Recurrence::parse("0 9 * * mon-fri").expect("cron");
    let daily_0230 = Recurrence::parse("30 2 * * *").expect("cron");
    let monthly = Recurrence::parse("0 10 1 * *").expect("cron");
    let every_15 = Recurrence::parse("*/15 8-20 * * *").expect("cron");
    let how = Disambiguation::Compatible;
    let mut group = c.benchmark_group("next_after");
    let friday_evening = instant("2026-05-15T18:00:00Z");
    group.bench_function("weekdays 09:00 Madrid, from Friday evening", |b| {
        b.iter(|| weekdays.next_after(black_box(friday_evening), madrid, how, None))
    });
    let before_gap = instant("2026-03-07T12:00:00Z");
    group.bench_function("daily 02:30 New York, into the gap", |b| {
        b.iter(|| daily_0230.next_after(black_box(before_gap), new_york, how, None))
    });
    let mid_month = instant("2026-05-15T12:00:00Z");
    group.bench_function("monthly 1st 10:00 Madrid", |b| {
        b.iter(|| monthly.next_after(black_box(mid_month), madrid, how, None))
    });
    group.bench_function("every 15 min 08-20 Madrid", |b| {
        b.iter(|| every_15.next_after(black_box(mid_month), madrid, how, None))
    });
    group.finish();

    let window = WeeklyWindow::parse("mon-sat 09:00-21:00").expect("window");
    let sunday = instant("2026-05-10T10:00:00Z");
    let mut group = c.benchmark_group("window");
    group.bench_function("nearest_slots Sunday noon", |b| b.iter(|| window.nearest_slots(black_box(sunday), madrid)));
    let day = NaiveDate::from_ymd_opt(2026, 5, 28).expect("date");
    group.bench_function("last_close_on", |b| b.iter(|| window.last_close_on(black_box(day), madrid)));
    group.finish();
}

criterion_group!(benches, resolve, next_occurrence);
criterion_main!(benches);
