//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4): promise gauges and counters from
//! the rollups, the timers table's state, the scheduler's lag, and HTTP request duration histograms recorded by a
//! middleware.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use diesel::prelude::*;

use crate::db::schema::timers;
use crate::db::DbConn;
use crate::error::AppError;

/// Upper bounds of the request duration buckets, seconds: from a cached read to a slow report.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request durations per (method, route pattern, status code).
#[derive(Debug, Default)]
pub struct HttpMetrics {
    series: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

impl HttpMetrics {
    /// Records one request. `route` is the matched pattern (`/api/v1/promises/{id}`), so ids do not explode the
    /// number of series.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let h = series.entry((method.to_string(), route.to_string(), status)).or_default();
        for (n, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[n] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    fn write(&self, out: &mut Exposition) {
        out.header(
            "tendero_http_request_duration_seconds",
            "histogram",
            "HTTP request durations by method, route pattern and status.",
        );
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for ((method, route, status), h) in series {
            let status = status.to_string();
            let labels = [("method", method.as_str()), ("route", route.as_str()), ("status", status.as_str())];
            for (n, bound) in BUCKETS.iter().enumerate() {
                let le = format!("{bound}");
                out.sample_with(
                    "tendero_http_request_duration_seconds_bucket",
                    &labels,
                    ("le", &le),
                    h.counts[n] as f64,
                );
            }
            out.sample_with("tendero_http_request_duration_seconds_bucket", &labels, ("le", "+Inf"), h.count as f64);
            out.sample("tendero_http_request_duration_seconds_sum", &labels, h.sum);
            out.sample("tendero_http_request_duration_seconds_count", &labels, h.count as f64);
        }
    }
}

/// A text exposition being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.sample_inner(name, labels, None, value);
    }

    fn sample_with(&mut self, name: &str, labels: &[(&str, &str)], extra: (&str, &str), value: f64) {
        self.sample_inner(name, labels, Some(extra), value);
    }

    fn sample_inner(&mut self, name: &str, labels: &[(&str, &str)], extra: Option<(&str, &str)>, value: f64) {
        self.text.push_str(name);
        let all: Vec<(&str, &str)> = labels.iter().copied().chain(extra).collect();
        if !all.is_empty() {
            self.text.push('{');
            for (n, (k, v)) in all.iter().enumerate() {
                if n > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", format_value(value));
    }
}

/// Label values escape backslash, double quote and newline (the format's only escapes).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Renders the whole exposition at `now_ms`.
pub fn render(conn: &mut DbConn, http: &HttpMetrics, now_ms: i64) -> Result<String, AppError> {
    let mut out = Exposition::default();
    let totals = crate::repo::metrics::totals_by_team_kind(conn)?;
    let mut open: BTreeMap<String, i64> = BTreeMap::new();
    let mut overdue: BTreeMap<String, i64> = BTreeMap::new();
    for (team, _, c) in &totals {
        *open.entry(team.clone()).or_default() += c.pending + c.missed_open;
        *overdue.entry(team.clone()).or_default() += c.missed_open;
    }
    out.header(
        "tendero_promises_open",
        "gauge",
        "Open promises (including missed ones not yet kept or broken) by team.",
    );
    for (team, n) in &open {
        out.sample("tendero_promises_open", &[("team", team)], *n as f64);
    }
    out.header("tendero_promises_overdue", "gauge", "Promises past due + grace and not yet kept, by team.");
    for (team, n) in &overdue {
        out.sample("tendero_promises_overdue", &[("team", team)], *n as f64);
    }
    out.header("tendero_promises_kept_total", "counter", "Obligations kept, by team, kind and timeliness.");
    for (team, kind, c) in &totals {
        out.sample_with(
            "tendero_promises_kept_total",
            &[("team", team), ("kind", kind)],
            ("timeliness", "on_time"),
            c.kept_on_time as f64,
        );
        out.sample_with(
            "tendero_promises_kept_total",
            &[("team", team), ("kind", kind)],
            ("timeliness", "late"),
            c.kept_late as f64,
        );
    }
    out.header("tendero_promises_broken_total", "counter", "Obligations broken, by team and kind.");
    for (team, kind, c) in &totals {
        out.sample("tendero_promises_broken_total", &[("team", team), ("kind", kind)], c.broken as f64);
    }
    let pending: i64 = timers::table.filter(timers::status.eq("pending")).count().get_result(conn)?;
    let dead: i64 = timers::table.filter(timers::status.eq("dead")).count().get_result(conn)?;
    out.header("tendero_timers", "gauge", "Outbox timers by status.");
    out.sample("tendero_timers", &[("status", "pending")], pending as f64);
    out.sample("tendero_timers", &[("status", "dead")], dead as f64);
    let oldest: Option<i64> = timers::table
        .filter(timers::status.eq("pending"))
        .filter(timers::next_attempt_at.le(now_ms))
        .select(diesel::dsl::min(timers::next_attempt_at))
        .first(conn)?;
    let lag = oldest.map(|at| (now_ms - at) as f64 / 1000.0).unwrap_or(0.0);
    out.header("tendero_scheduler_lag_seconds", "gauge", "Age of the oldest pending timer that is already due.");
    out.sample("tendero_scheduler_lag_seconds", &[], lag);
    let sends = crate::repo::sends::counts_by_status(conn)?;
    out.header("tendero_sends", "gauge", "Outgoing webhook and email sends by channel and status.");
    for (channel, status, n) in sends {
        out.sample("tendero_sends", &[("channel", &channel), ("status", &status)], n as f64);
    }
    http.write(&mut out);
    Ok(out.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = HttpMetrics::default();
        m.observe("GET", "/x", 200, Duration::from_millis(3));
        m.observe("GET", "/x", 200, Duration::from_millis(300));
        let mut out = Exposition::default();
        m.write(&mut out);
        assert!(out.text.contains("le=\"0.005\"} 1\n"), "{}", out.text);
        assert!(out.text.contains("le=\"0.5\"} 2\n"), "{}", out.text);
        assert!(out.text.contains("le=\"+Inf\"} 2\n"), "{}", out.text);
        assert!(out.text.contains("_count{method=\"GET\",route=\"/x\",status=\"200\"} 2\n"), "{}", out.text);
    }
}
