//! The reports the metrics API, the dashboard and Prometheus read: sums of rollup rows by grouping and selection.

use super::*;

/// What a report groups by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grouping {
    /// Per accountable agent.
    pub agent: bool,
    /// Per team.
    pub team: bool,
    /// Per kind.
    pub kind: bool,
    /// Per ISO week (of the customer-local due date).
    pub week: bool,
}

/// A report's period (day numbers, `to` exclusive) and filters (`None` = all).
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// First day.
    pub from_day: i32,
    /// Day after the last.
    pub to_day: i32,
    /// Only this team.
    pub team_id: Option<String>,
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
}

/// The key of one report group: the grouped columns are filled, the rest are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// Agent, when grouped by agent.
    pub agent_id: Option<String>,
    /// Team, when grouped by team (`""` = no team).
    pub team_id: Option<String>,
    /// Kind, when grouped by kind.
    pub kind: Option<String>,
    /// Monday's day number, when grouped by week.
    pub week: Option<i32>,
}

/// One group's summed counters, lateness histogram and (when defined) contacts.
#[derive(Clone, Debug, Default)]
pub struct GroupTotals {
    /// Summed counters.
    pub counts: Counts,
    /// `(minutes, count)`.
    pub lateness: Vec<(i64, i64)>,
    /// `(outbound, by_owner)`; `None` when grouped or filtered by kind (contacts have no kind).
    pub contacts: Option<(i64, i64)>,
}

#[derive(QueryableByName)]
struct SumRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    g_agent: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    g_team: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    g_kind: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    g_week: i32,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    a: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    b: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    c: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    d: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    e: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    f: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    g: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    h: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    i: i64,
}

impl SumRow {
    fn key(&self, by: Grouping) -> GroupKey {
        GroupKey {
            agent_id: by.agent.then(|| self.g_agent.clone()),
            team_id: by.team.then(|| self.g_team.clone()),
            kind: by.kind.then(|| self.g_kind.clone()),
            week: by.week.then_some(self.g_week),
        }
    }
}

fn marker(conn: &DbConn, n: usize) -> String {
    conn.backend().marker(n)
}

/// A rollup at its two grains: the daily table and the weekly one, the columns a report reads from both (after
/// `week`), and whether it has a kind.
struct Rollup {
    days: &'static str,
    weeks: &'static str,
    columns: &'static str,
    has_kind: bool,
}

const COUNTS: Rollup = Rollup {
    days: "metric_days",
    weeks: "metric_weeks",
    columns: "team_id, agent_id, kind, pending, missed_open, kept_on_time, kept_late, broken, cancelled, \
              renegotiated_by_customer, renegotiated_by_agent, handovers",
    has_kind: true,
};
const LATENESS: Rollup = Rollup {
    days: "metric_lateness",
    weeks: "metric_lateness_weeks",
    columns: "team_id, agent_id, kind, minutes, count",
    has_kind: true,
};
const CONTACTS: Rollup = Rollup {
    days: "metric_contacts",
    weeks: "metric_contacts_weeks",
    columns: "team_id, agent_id, outbound, by_owner",
    has_kind: false,
};

/// How a period of days is read: the whole weeks inside it from the weekly tables, the days before the first
/// Monday and from the last Monday on from the daily ones. All ranges are `[start, end)` day numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    head: (i64, i64),
    weeks: (i64, i64),
    tail: (i64, i64),
}

impl Span {
    fn of(from: i32, to: i32) -> Span {
        let (from, to) = (i64::from(from), i64::from(to));
        let monday_on_or_before = |d: i64| d - (d + 3).rem_euclid(7);
        let first = monday_on_or_before(from + 6);
        let last = monday_on_or_before(to);
        if first < last {
            Span { head: (from, first), weeks: (first, last), tail: (last, to) }
        } else {
            Span { head: (from, to), weeks: (0, 0), tail: (0, 0) }
        }
    }
}

/// Runs one grouped query over a rollup at both grains. `sums` are aggregate expressions (up to nine, padded
/// with 0). The period's day numbers are written into the statement (they are integers this code computed); the
/// filters are bound.
fn grouped(
    conn: &mut DbConn,
    rollup: &Rollup,
    by: Grouping,
    sel: &Selection,
    sums: &[&str],
    extra_group: Option<&str>,
) -> QueryResult<Vec<SumRow>> {
    let has_kind = rollup.has_kind;
    let col = |on: bool, expr: &str, blank: &str, alias: &str| {
        if on {
            format!("{expr} AS {alias}")
        } else {
            format!("{blank} AS {alias}")
        }
    };
    let mut select = vec![
        col(by.agent, "agent_id", "''", "g_agent"),
        col(by.team, "team_id", "''", "g_team"),
        col(by.kind && has_kind, "kind", "''", "g_kind"),
        col(by.week, "week", "0", "g_week"),
    ];
    let letters = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for (n, letter) in letters.iter().enumerate() {
        match sums.get(n) {
            Some(expr) => select.push(format!("CAST(COALESCE({expr}, 0) AS BIGINT) AS {letter}")),
            None => select.push(format!("CAST(0 AS BIGINT) AS {letter}")),
        }
    }
    let mut group: Vec<&str> = Vec::new();
    if by.agent {
        group.push("agent_id");
    }
    if by.team {
        group.push("team_id");
    }
    if by.kind && has_kind {
        group.push("kind");
    }
    if by.week {
        group.push("week");
    }
    group.extend(extra_group);
    let span = Span::of(sel.from_day, sel.to_day);
    let (Rollup { days, weeks, columns, .. }, (h0, h1), (w0, w1), (t0, t1)) =
        (rollup, span.head, span.weeks, span.tail);
    let m: Vec<String> = (1..=6).map(|n| marker(conn, n)).collect();
    let kind_filter = if has_kind { format!(" AND ({} = '' OR kind = {})", m[4], m[5]) } else { String::new() };
    // The union feeds one GROUP BY; each branch is a range scan of its table's primary key.
    let mut sql = format!(
        "SELECT {} FROM (\
         SELECT week, {columns} FROM {days} WHERE (day >= {h0} AND day < {h1}) OR (day >= {t0} AND day < {t1}) \
         UNION ALL SELECT week, {columns} FROM {weeks} WHERE week >= {w0} AND week < {w1}\
         ) AS r WHERE ({} = '' OR team_id = {}) AND ({} = '' OR agent_id = {}){kind_filter}",
        select.join(", "),
        m[0],
        m[1],
        m[2],
        m[3],
    );
    if !group.is_empty() {
        sql.push_str(&format!(" GROUP BY {}", group.join(", ")));
    }
    use diesel::sql_types::Text;
    let team = sel.team_id.clone().unwrap_or_default();
    let agent = sel.agent_id.clone().unwrap_or_default();
    let kind = sel.kind.clone().unwrap_or_default();
    let query = diesel::sql_query(sql)
        .bind::<Text, _>(team.clone())
        .bind::<Text, _>(team)
        .bind::<Text, _>(agent.clone())
        .bind::<Text, _>(agent);
    if has_kind {
        query.bind::<Text, _>(kind.clone()).bind::<Text, _>(kind).load(conn)
    } else {
        query.load(conn)
    }
}

/// Sums the rollups of a selection into groups.
pub fn report(conn: &mut DbConn, by: Grouping, sel: &Selection) -> QueryResult<BTreeMap<GroupKey, GroupTotals>> {
    Ok(report_many(conn, &[by], sel)?.pop().unwrap_or_default())
}

/// Sums the rollups of one selection into several groupings at once (a report and its totals, the dashboard's
/// agent, team and week views): the period is read once, at the finest grouping asked for, and folded into each.
pub fn report_many(
    conn: &mut DbConn,
    groupings: &[Grouping],
    sel: &Selection,
) -> QueryResult<Vec<BTreeMap<GroupKey, GroupTotals>>> {
    let finest = groupings.iter().fold(Grouping::default(), |a, g| Grouping {
        agent: a.agent || g.agent,
        team: a.team || g.team,
        kind: a.kind || g.kind,
        week: a.week || g.week,
    });
    let mut out: Vec<BTreeMap<GroupKey, GroupTotals>> = vec![BTreeMap::new(); groupings.len()];
    let sums = [
        "SUM(pending)",
        "SUM(missed_open)",
        "SUM(kept_on_time)",
        "SUM(kept_late)",
        "SUM(broken)",
        "SUM(cancelled)",
        "SUM(renegotiated_by_customer)",
        "SUM(renegotiated_by_agent)",
        "SUM(handovers)",
    ];
    for r in grouped(conn, &COUNTS, finest, sel, &sums, None)? {
        let counts = Counts {
            pending: r.a,
            missed_open: r.b,
            kept_on_time: r.c,
            kept_late: r.d,
            broken: r.e,
            cancelled: r.f,
            renegotiated_by_customer: r.g,
            renegotiated_by_agent: r.h,
            handovers: r.i,
        };
        for (target, by) in out.iter_mut().zip(groupings) {
            target.entry(r.key(*by)).or_default().counts += counts;
        }
    }
    // Late keeps come per (group, minutes); several fine groups fold into one histogram per coarse group.
    let mut late: Vec<BTreeMap<GroupKey, BTreeMap<i64, i64>>> = vec![BTreeMap::new(); groupings.len()];
    for r in grouped(conn, &LATENESS, finest, sel, &["MIN(minutes)", "SUM(count)"], Some("minutes"))? {
        for (target, by) in late.iter_mut().zip(groupings) {
            *target.entry(r.key(*by)).or_default().entry(r.a).or_default() += r.b;
        }
    }
    for (target, histograms) in out.iter_mut().zip(late) {
        for (key, histogram) in histograms {
            target.entry(key).or_default().lateness = histogram.into_iter().filter(|(_, n)| *n != 0).collect();
        }
    }
    // Contacts have no kind: continuity is only defined when the report is neither grouped nor filtered by kind.
    let with_contacts: Vec<bool> = groupings.iter().map(|by| !by.kind && sel.kind.is_none()).collect();
    if with_contacts.iter().any(|&on| on) {
        for r in grouped(conn, &CONTACTS, finest, sel, &["SUM(outbound)", "SUM(by_owner)"], None)? {
            for ((target, by), on) in out.iter_mut().zip(groupings).zip(&with_contacts) {
                if *on {
                    let (o, b) = target.entry(r.key(*by)).or_default().contacts.get_or_insert((0, 0));
                    *o += r.a;
                    *b += r.b;
                }
            }
        }
        for (target, on) in out.iter_mut().zip(&with_contacts) {
            if *on {
                for totals in target.values_mut() {
                    totals.contacts.get_or_insert((0, 0));
                }
            }
        }
    }
    Ok(out)
}

/// Current totals per (team, kind) over all days, for Prometheus: open (pending + missed_open), overdue
/// (missed_open), kept (on time + late) and broken. All of history is whole weeks, so this reads the weekly
/// table only.
pub fn totals_by_team_kind(conn: &mut DbConn) -> QueryResult<Vec<(String, String, Counts)>> {
    let by = Grouping { team: true, kind: true, ..Default::default() };
    let sel = Selection { from_day: i32::MIN, to_day: i32::MAX, ..Default::default() };
    Ok(report(conn, by, &sel)?
        .into_iter()
        .map(|(k, t)| (k.team_id.unwrap_or_default(), k.kind.unwrap_or_default(), t.counts))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_reads_whole_weeks_and_the_days_around_them() {
        // 2026-11-04 is day 20,761, a Wednesday; 2026-11-09 (day 20,766) and 2026-11-30 (20,787) are Mondays.
        let span = Span::of(20_761, 20_790);
        assert_eq!(span, Span { head: (20_761, 20_766), weeks: (20_766, 20_787), tail: (20_787, 20_790) });
        // Starting on a Monday: no head days.
        assert_eq!(
            Span::of(20_766, 20_780),
            Span { head: (20_766, 20_766), weeks: (20_766, 20_780), tail: (20_780, 20_780) }
        );
        // Less than a whole week: days only.
        assert_eq!(Span::of(20_761, 20_767), Span { head: (20_761, 20_767), weeks: (0, 0), tail: (0, 0) });
        // All of time: weeks only, with no overflow at the ends.
        let all = Span::of(i32::MIN, i32::MAX);
        assert!(all.head.1 - all.head.0 < 7 && all.tail.1 - all.tail.0 < 7);
        assert!(all.weeks.0 < 0 && all.weeks.1 > 20_000);
    }
}
