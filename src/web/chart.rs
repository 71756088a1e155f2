//! The dashboard's weekly trend as a server-rendered SVG: bars for the obligations due each week, a line for the
//! keep rate. No script, so it prints and works everywhere.

use std::fmt::Write as _;

/// One week of the trend.
#[derive(Clone, Debug, PartialEq)]
pub struct WeekPoint {
    /// `2026-W47`.
    pub label: String,
    /// Judged obligations.
    pub due: i64,
    /// kept_on_time / (due - cancelled), if defined.
    pub keep_rate: Option<f64>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 44.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Renders the chart; `title` is its accessible name.
pub fn weekly_trend(points: &[WeekPoint], title: &str) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{}</title>"#,
        escape(title)
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    // Axes and the 0/50/100 % guides of the keep rate (left scale).
    for (pct, y) in [(0, TOP + plot_h), (50, TOP + plot_h / 2.0), (100, TOP)] {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#d8dde3"/><text x="{}" y="{}" font-size="11" text-anchor="end" fill="#5b6570">{pct}%</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    if points.is_empty() {
        svg.push_str("</svg>");
        return svg;
    }
    let max_due = points.iter().map(|p| p.due).max().unwrap_or(0).max(1) as f64;
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" font-size="11" fill="#5b6570">{}</text>"##,
        WIDTH - RIGHT + 4.0,
        TOP + 4.0,
        max_due as i64
    );
    let slot = plot_w / points.len() as f64;
    let mut line = Vec::new();
    for (n, p) in points.iter().enumerate() {
        let x = LEFT + slot * n as f64;
        let bar_h = plot_h * p.due as f64 / max_due;
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#cfe0f3"><title>{}: {}</title></rect>"##,
            x + slot * 0.15,
            TOP + plot_h - bar_h,
            slot * 0.7,
            bar_h,
            escape(&p.label),
            p.due
        );
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle" fill="#5b6570">{}</text>"##,
            x + slot / 2.0,
            HEIGHT - BOTTOM + 16.0,
            escape(p.label.split('-').nth(1).unwrap_or(&p.label))
        );
        if let Some(rate) = p.keep_rate {
            line.push((x + slot / 2.0, TOP + plot_h * (1.0 - rate.clamp(0.0, 1.0)), rate, &p.label));
        }
    }
    if line.len() > 1 {
        let path: Vec<String> = line.iter().map(|(x, y, _, _)| format!("{x:.1},{y:.1}")).collect();
        let _ =
            write!(svg, r##"<polyline points="{}" fill="none" stroke="#0b5cad" stroke-width="2.5"/>"##, path.join(" "));
    }
    for (x, y, rate, label) in &line {
        let _ = write!(
            svg,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="#0b5cad"><title>{}: {:.0}%</title></circle>"##,
            escape(label),
            rate * 100.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_week_and_a_point_per_defined_rate() {
        let points = vec![
            WeekPoint { label: "2026-W46".into(), due: 10, keep_rate: Some(0.8) },
            WeekPoint { label: "2026-W47".into(), due: 0, keep_rate: None },
            WeekPoint { label: "2026-W48".into(), due: 5, keep_rate: Some(1.0) },
        ];
        let svg = weekly_trend(&points, "Keep rate <per week>");
        assert_eq!(svg.matches("<rect").count(), 3);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("2026-W46: 80%"));
        assert!(svg.contains("Keep rate &lt;per week&gt;"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn an_empty_trend_is_still_a_valid_chart() {
        let svg = weekly_trend(&[], "x");
        assert!(svg.ends_with("</svg>") && !svg.contains("<rect"));
    }
}
