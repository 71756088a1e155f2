//! Promise-keeping metrics (DESIGN.md sections 5 and 10, `src/domain/metrics.rs`): a fixed dataset whose every
//! figure is computed by hand, the same report as CSV, who may see what, the Prometheus exposition, and the
//! rollups against a full recomputation after a long run of random operations.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use tendero::domain::metrics::{week_of, Counts};
use tendero::repo::metrics::{self as rollup_tables, recompute, stored, GroupKey, Grouping, Rollups, Selection};

use crate::helpers::{at, customer, spawn_app_at, zaragoza, TestApp, Zaragoza};

/// Every figure of a report row, in the CSV's column order. Written out here rather than taken from the crate,
/// so a figure dropped from the report fails these tests.
const FIGURES: [&str; 16] = [
    "due",
    "pending",
    "kept_on_time",
    "kept_late",
    "missed_open",
    "broken",
    "cancelled",
    "renegotiated_by_customer",
    "renegotiated_by_agent",
    "handovers",
    "keep_rate",
    "lateness_p50_minutes",
    "lateness_p90_minutes",
    "outbound_contacts",
    "outbound_by_owner",
    "continuity",
];

/// Asserts every figure of `actual` against `expected`, which must name all sixteen.
#[track_caller]
fn assert_figures(actual: &Value, expected: Value, what: &str) {
    let names: BTreeSet<&str> = expected.as_object().expect("expected figures").keys().map(String::as_str).collect();
    assert_eq!(names, FIGURES.into_iter().collect(), "the expectation for {what} must name every figure");
    for figure in FIGURES {
        match (&actual[figure], &expected[figure]) {
            // Rates: serde_json's default float parsing may land one unit in the last place away.
            (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
                let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                assert!((a - b).abs() < 1e-12, "{what}: `{figure}` is {a}, expected {b} (the whole row: {actual})");
            }
            (a, b) => assert_eq!(a, b, "{what}: `{figure}` (the whole row: {actual})"),
        }
    }
}

/// The row of a report whose `column` is `value`.
#[track_caller]
fn row<'a>(report: &'a Value, column: &str, value: &str) -> &'a Value {
    let rows = report["rows"].as_array().expect("rows");
    let found: Vec<&Value> = rows.iter().filter(|r| r[column] == value).collect();
    assert_eq!(found.len(), 1, "exactly one row with {column} = {value} in {report}");
    found[0]
}

/// `GET /api/v1/metrics/promises?{query}` as JSON; insists on 200.
async fn report(app: &TestApp, token: &str, query: &str) -> Value {
    let answer = app.get(&format!("/api/v1/metrics/promises?{query}"), token).await;
    assert_eq!(answer.status.as_u16(), 200, "metrics?{query}: {}", answer.body);
    answer.body
}

/// The same report with `Accept: text/csv`: its content type and its records (header first).
async fn report_csv(app: &TestApp, token: &str, query: &str) -> (String, Vec<Vec<String>>) {
    let response = app
        .client
        .get(format!("{}/api/v1/metrics/promises?{query}", app.address))
        .bearer_auth(token)
        .header("Accept", "text/csv")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    let text = response.text().await.expect("body");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    let records =
        reader.records().map(|r| r.expect("a well-formed CSV record").iter().map(str::to_string).collect()).collect();
    (content_type, records)
}

/// A CSV cell against the JSON figure it stands for: null is an empty cell, counts are integers, rates are
/// written with four decimals.
#[track_caller]
fn assert_cell(cell: &str, json: &Value, what: &str) {
    match json {
        Value::Null => assert_eq!(cell, "", "{what}"),
        Value::Number(n) if n.is_i64() => assert_eq!(cell.parse::<i64>().ok(), n.as_i64(), "{what}: `{cell}`"),
        Value::Number(n) => assert_eq!(cell, format!("{:.4}", n.as_f64().unwrap()), "{what}"),
        other => assert_eq!(cell, other.as_str().unwrap_or_default(), "{what}"),
    }
}

/// Fetches the report as JSON and as CSV and checks that the CSV says the same: one record per row in the same
/// order with the group columns, then a TOTAL record, every figure equal. Returns the JSON report.
async fn report_and_csv_agree(app: &TestApp, token: &str, query: &str, group_columns: &[&str]) -> Value {
    let json = report(app, token, query).await;
    let (content_type, records) = report_csv(app, token, query).await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let header: Vec<&str> = records[0].iter().map(String::as_str).collect();
    let expected_header: Vec<&str> = group_columns.iter().copied().chain(FIGURES).collect();
    assert_eq!(header, expected_header, "CSV header of {query}");
    // Not grouped, the one row is the whole selection and the CSV has only the totals line.
    let rows = if group_columns.is_empty() { &[][..] } else { json["rows"].as_array().unwrap().as_slice() };
    assert_eq!(records.len(), rows.len() + 2, "header, one record per row and the totals for {query}");
    for (record, row) in records[1..].iter().zip(rows) {
        for (n, column) in header.iter().enumerate() {
            assert_cell(&record[n], &row[*column], &format!("{query}: CSV {column} of {record:?} vs {row}"));
        }
    }
    let total = records.last().unwrap();
    if let Some((label, blanks)) = total[..group_columns.len()].split_first() {
        assert_eq!(label, "TOTAL");
        assert!(blanks.iter().all(String::is_empty), "{total:?}");
    }
    for (n, column) in header.iter().enumerate().skip(group_columns.len()) {
        assert_cell(&total[n], &json["totals"][*column], &format!("{query}: CSV TOTAL {column}"));
    }
    json
}

/// Logs a phone contact with a customer at the clock's now.
async fn contact(app: &TestApp, token: &str, customer: &str, direction: &str, promise: Option<&str>) -> Value {
    app.created(
        &format!("/api/v1/customers/{customer}/interactions"),
        token,
        json!({ "channel": "phone", "direction": direction, "outcome": "reached", "summary": format!("{direction} call"),
                "promise_id": promise }),
    )
    .await
}

/// A promise's current row with its ledger.
async fn promise_now(app: &TestApp, id: &str) -> Value {
    let answer = app.get(&format!("/api/v1/promises/{id}"), &app.admin).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    answer.body
}

/// The rollups as stored and as recomputed from the promise rows, the ledger and the interactions.
fn rollups(app: &TestApp) -> (Rollups, Rollups) {
    app.db.read_blocking(|conn| Ok((stored(conn)?, recompute(conn)?))).expect("rollups")
}

/// What differs between two sets of rollups, one line per key.
fn rollup_diff(stored: &Rollups, fresh: &Rollups) -> String {
    let mut out = String::new();
    for key in stored.days.keys().chain(fresh.days.keys()).collect::<BTreeSet<_>>() {
        let (a, b) = (stored.days.get(key), fresh.days.get(key));
        if a != b {
            let _ = writeln!(out, "  days {key:?}:\n    stored     {a:?}\n    recomputed {b:?}");
        }
    }
    for key in stored.lateness.keys().chain(fresh.lateness.keys()).collect::<BTreeSet<_>>() {
        let (a, b) = (stored.lateness.get(key), fresh.lateness.get(key));
        if a != b {
            let _ = writeln!(out, "  lateness {key:?}: stored {a:?}, recomputed {b:?}");
        }
    }
    for key in stored.contacts.keys().chain(fresh.contacts.keys()).collect::<BTreeSet<_>>() {
        let (a, b) = (stored.contacts.get(key), fresh.contacts.get(key));
        if a != b {
            let _ = writeln!(out, "  contacts {key:?}: stored {a:?}, recomputed {b:?}");
        }
    }
    for key in stored.weeks.keys().chain(fresh.weeks.keys()).collect::<BTreeSet<_>>() {
        let (a, b) = (stored.weeks.get(key), fresh.weeks.get(key));
        if a != b {
            let _ = writeln!(out, "  weeks {key:?}:\n    stored     {a:?}\n    recomputed {b:?}");
        }
    }
    for key in stored.lateness_weeks.keys().chain(fresh.lateness_weeks.keys()).collect::<BTreeSet<_>>() {
        let (a, b) = (stored.lateness_weeks.get(key), fresh.lateness_weeks.get(key));
        if a != b {
            let _ = writeln!(out, "  lateness_weeks {key:?}: stored {a:?}, recomputed {b:?}");
        }
    }
    for key in stored.contacts_weeks.keys().chain(fresh.contacts_weeks.keys()).collect::<BTreeSet<_>>() {
        let (a, b) = (stored.contacts_weeks.get(key), fresh.contacts_weeks.get(key));
        if a != b {
            let _ = writeln!(out, "  contacts_weeks {key:?}: stored {a:?}, recomputed {b:?}");
        }
    }
    out
}

#[track_caller]
fn assert_rollups_recompute(app: &TestApp, context: &str) {
    let (kept, fresh) = rollups(app);
    assert!(!fresh.days.is_empty(), "{context}: there is something to compare");
    assert!(
        kept == fresh,
        "{context}: the stored rollups differ from a full recomputation:\n{}",
        rollup_diff(&kept, &fresh)
    );
}

async fn team_id(app: &TestApp, name: &str) -> String {
    let teams = app.get("/api/v1/teams", &app.admin).await.body;
    let team = teams.as_array().unwrap().iter().find(|t| t["name"] == name).expect("team").clone();
    team["id"].as_str().unwrap().to_string()
}

/// The fixed dataset: the Zaragoza team, four customers in three zones, fifteen promises and their story from
/// Friday 12 March 2027 to Monday 29 March 2027, 01:10 UTC.
struct Dataset {
    z: Zaragoza,
}

/// Builds the fixed dataset. Every step asserts what the hand computation in
/// `metrics_on_a_fixed_dataset_match_hand_computed_numbers` relies on.
///
/// Offsets in March 2027: Madrid CET (+1) until 28 March 01:00 UTC, then CEST (+2); Atlantic/Canary WET (+0)
/// until the same instant, then WEST (+1); New York EDT (-4) since 14 March.
async fn dataset(app: &TestApp) -> Dataset {
    let z = zaragoza(app).await;
    let (marta, jorge, ayoze) = (z.marta.token.as_str(), z.jorge.token.as_str(), z.ayoze.token.as_str());
    let ana = customer(app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let victor = customer(app, jorge, "Víctor Lanuza", "Europe/Madrid").await.id;
    let dana = customer(app, marta, "Dana Whitfield", "America/New_York").await.id;
    let carmen = customer(app, ayoze, "Carmen Déniz", "Atlantic/Canary").await.id;
    let make = |token: &'static str, body: Value| {
        let token = match token {
            "marta" => marta,
            "jorge" => jorge,
            _ => ayoze,
        };
        async move { app.created("/api/v1/promises", token, body).await }
    };
    let id = |p: &Value| p["id"].as_str().unwrap().to_string();

    // Every customer's first promise is made by the agent who becomes their owner: Ana and Dana are Marta's,
    // Víctor is Jorge's, Carmen is Ayoze's.
    // P10: an update every weekday at 10:00 Madrid until 17 March 12:00 UTC: occurrences on the 15th, 16th, 17th.
    let p10 = make(
        "jorge",
        json!({ "customer_id": victor, "kind": "update", "title": "Te informo cada mañana a las 10:00",
                "recurrence": { "cron": "0 10 * * mon-fri", "until": "2027-03-17T12:00:00Z" } }),
    )
    .await;
    assert_eq!(p10["due_local"], "2027-03-15T10:00:00");
    let p10 = id(&p10);
    let cb = |customer: &str, title: &str, due: &str| json!({ "customer_id": customer, "kind": "callback", "title": title, "due_local": due });
    let p1 = id(&make("marta", cb(&ana, "Te llamo el lunes a las 11", "2027-03-15T11:00")).await);
    let p2 = id(&make("jorge", cb(&victor, "Te llamo el martes a las 12", "2027-03-16T12:00")).await);
    // No lead reminder: a reminder routed to the stand-in would write a second `handed_over` event, and each
    // counts as a hand-over of this one obligation.
    let mut body = cb(&carmen, "Te llamo el miércoles a las 10", "2027-03-17T10:00");
    body["lead"] = json!([]);
    let p3 = id(&make("ayoze", body).await);
    let p4 = id(&make("marta", cb(&ana, "Te llamo el viernes a las 17", "2027-03-19T17:00")).await);
    let p5 = id(&make("jorge", cb(&victor, "Te llamo el jueves a las 10", "2027-03-18T10:00")).await);
    let p6 = make(
        "marta",
        json!({ "customer_id": ana, "kind": "deadline", "title": "Tu factura estará corregida el día 24",
                "due_local": "2027-03-24T20:00" }),
    )
    .await;
    assert_eq!(p6["due_at"], "2027-03-24T19:00:00Z");
    let p6 = id(&p6);
    let p7 = make("marta", cb(&dana, "I'll call you Monday at 10", "2027-03-22T10:00")).await;
    assert_eq!(p7["due_at"], "2027-03-22T14:00:00Z");
    let p7 = id(&p7);
    let p8 = id(&make("jorge", cb(&victor, "Te llamo el martes 23 a las 11", "2027-03-23T11:00")).await);
    let p9 = id(&make("ayoze", cb(&carmen, "Te llamo el viernes a las 12", "2027-03-19T12:00")).await);
    // P11: 02:30 does not exist in Madrid on Sunday 28 March 2027; it is moved to 03:30 CEST = 01:30 UTC.
    let mut body = cb(&ana, "Te llamo de madrugada", "2027-03-28T02:30");
    body["customer_requested"] = json!(true);
    let p11 = make("marta", body).await;
    assert_eq!(p11["due_local"], "2027-03-28T03:30:00");
    assert_eq!(p11["due_at"], "2027-03-28T01:30:00Z");
    assert_eq!(p11["due_local_offset"], "+02:00");
    assert!(p11["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "dst_gap_shifted"), "{p11}");
    let p11 = id(&p11);
    let p12 = make("marta", cb(&dana, "I'll call you Thursday at 11", "2027-03-25T11:00")).await;
    assert_eq!(p12["due_at"], "2027-03-25T15:00:00Z");
    let p12 = id(&p12);
    // P13: Sunday 28 March at 20:30 in New York is already Monday 29 March 00:30 in UTC (and 02:30 in Madrid).
    let mut body = cb(&dana, "I'll call you Sunday at 8:30 pm", "2027-03-28T20:30");
    body["customer_requested"] = json!(true);
    let p13 = make("marta", body).await;
    assert_eq!(p13["due_at"], "2027-03-29T00:30:00Z");
    let p13 = id(&p13);
    let mut body = cb(&dana, "I'll call you Sunday at 10 pm", "2027-03-28T22:00");
    body["customer_requested"] = json!(true);
    let p14 = make("marta", body).await;
    assert_eq!(p14["due_at"], "2027-03-29T02:00:00Z");
    let p14 = id(&p14);
    let mut body = cb(&victor, "Te llamo el domingo a las 23", "2027-03-28T23:00");
    body["customer_requested"] = json!(true);
    let p15 = make("jorge", body).await;
    assert_eq!(p15["due_at"], "2027-03-28T21:00:00Z");
    let p15 = id(&p15);
    // Ayoze is away on Wednesday 17 March; Marta stands in.
    app.created(
        &format!("/api/v1/agents/{}/absences", z.ayoze.id),
        ayoze,
        json!({ "starts_at": "2027-03-17T00:00:00Z", "ends_at": "2027-03-18T00:00:00Z", "stand_in_agent_id": z.marta.id,
                "note": "Training" }),
    )
    .await;

    // Monday 15 March. P10's first occurrence (10:00 CET = 09:00 UTC) is kept on time by Jorge's call at 09:05.
    app.at("2027-03-15T09:05:00Z").await;
    let logged = contact(app, jorge, &victor, "outbound", Some(&p10)).await;
    assert_eq!(logged["promise"]["status"], "open");
    assert_eq!(logged["promise"]["due_local"], "2027-03-16T10:00:00");
    // P1 (11:00 CET = 10:00 UTC) is kept on time by Marta's call at 10:05.
    app.at("2027-03-15T10:05:00Z").await;
    let logged = contact(app, marta, &ana, "outbound", Some(&p1)).await;
    assert_eq!(logged["promise"]["kept_on_time"], true);
    // Ana calls in: an inbound contact, not in the continuity figures.
    app.at("2027-03-15T10:30:00Z").await;
    contact(app, marta, &ana, "inbound", None).await;

    // Tuesday 16 March. Nobody updates Víctor: at 10:15 CET P10's second occurrence is missed (broken, it cannot
    // be kept any more) and the promise moves on to the 17th.
    app.at("2027-03-16T09:15:00Z").await;
    let now = promise_now(app, &p10).await;
    assert_eq!((now["status"].as_str(), now["due_local"].as_str()), (Some("open"), Some("2027-03-17T10:00:00")));
    // P2 (12:00 CET = 11:00 UTC) is missed at 11:15; Víctor's inbound call and Marta's call (she is not his
    // owner) are no evidence; Jorge's call at 11:40 keeps it 40 minutes late.
    app.at("2027-03-16T11:15:00Z").await;
    assert_eq!(promise_now(app, &p2).await["status"], "missed");
    app.at("2027-03-16T11:20:00Z").await;
    let inbound = contact(app, jorge, &victor, "inbound", Some(&p2)).await;
    assert_eq!(inbound["warnings"][0]["code"], "not_evidence");
    app.at("2027-03-16T11:30:00Z").await;
    let stranger = contact(app, marta, &victor, "outbound", Some(&p2)).await;
    assert_eq!(stranger["warnings"][0]["code"], "not_evidence");
    assert_eq!(stranger["promise"]["status"], "missed");
    app.at("2027-03-16T11:40:00Z").await;
    let logged = contact(app, jorge, &victor, "outbound", Some(&p2)).await;
    assert_eq!(
        (logged["promise"]["status"].as_str(), logged["promise"]["kept_on_time"].as_bool()),
        (Some("kept"), Some(false))
    );

    // Wednesday 17 March. P10's last occurrence (09:00 UTC) is missed at 09:15 and kept by Jorge at 09:20: late.
    app.at("2027-03-17T09:20:00Z").await;
    let logged = contact(app, jorge, &victor, "outbound", Some(&p10)).await;
    assert_eq!(
        (logged["promise"]["status"].as_str(), logged["promise"]["kept_on_time"].as_bool()),
        (Some("kept"), Some(false))
    );
    // P3 (10:00 WET = 10:00 UTC): Ayoze is away, the prompt goes to Marta with a hand-over; her call keeps it.
    app.at("2027-03-17T10:00:00Z").await;
    app.at("2027-03-17T10:03:00Z").await;
    let logged = contact(app, marta, &carmen, "outbound", Some(&p3)).await;
    assert_eq!(logged["promise"]["kept_on_time"], true);
    let ledger = promise_now(app, &p3).await["ledger"].clone();
    let kinds: Vec<&str> = ledger.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "handed_over", "prompted", "kept"]);
    assert_eq!(ledger[3]["data"]["by_stand_in"], true);

    // Thursday 18 March. Ana asks to move P4 (Friday 19th, 17:00) to Tuesday 23rd, 17:00 CET = 16:00 UTC.
    app.at("2027-03-18T08:00:00Z").await;
    let moved = app
        .created(
            &format!("/api/v1/promises/{p4}/reschedule"),
            marta,
            json!({ "due_local": "2027-03-23T17:00", "reason": "Ana is travelling on Friday", "initiated_by": "customer" }),
        )
        .await;
    assert_eq!(moved["due_at"], "2027-03-23T16:00:00Z");
    // P5 (10:00 CET = 09:00 UTC) is missed at 09:15; at 09:30 Jorge moves it to 13:00 himself, and keeps it at
    // 13:05 CET (12:05 UTC): late, measured from the original 09:00 UTC.
    app.at("2027-03-18T09:30:00Z").await;
    assert_eq!(promise_now(app, &p5).await["status"], "missed");
    app.created(
        &format!("/api/v1/promises/{p5}/reschedule"),
        jorge,
        json!({ "due_local": "2027-03-18T13:00", "reason": "The queue was full", "initiated_by": "agent" }),
    )
    .await;
    app.at("2027-03-18T12:05:00Z").await;
    let logged = contact(app, jorge, &victor, "outbound", Some(&p5)).await;
    assert_eq!(logged["promise"]["kept_on_time"], false);

    // Friday 19 March: P9 (12:00 WET) is never attempted: missed at 12:15, broken 24 hours after due.
    app.at("2027-03-19T12:15:00Z").await;
    assert_eq!(promise_now(app, &p9).await["status"], "missed");
    app.at("2027-03-20T12:00:00Z").await;
    assert_eq!(promise_now(app, &p9).await["status"], "broken");
    // Saturday 20 March: Dana agrees to drop P7.
    app.at("2027-03-20T15:00:00Z").await;
    let cancelled = app
        .created(
            &format!("/api/v1/promises/{p7}/cancel"),
            marta,
            json!({ "reason": "Solved by the shop", "initiated_by": "customer" }),
        )
        .await;
    assert_eq!(cancelled["status"], "cancelled");

    // Monday 22 March: Jorge drops P8 on his own (broken) and calls Ana, who is Marta's customer.
    app.at("2027-03-22T09:00:00Z").await;
    let dropped = app
        .created(
            &format!("/api/v1/promises/{p8}/cancel"),
            jorge,
            json!({ "reason": "Could not get an answer from billing", "initiated_by": "agent" }),
        )
        .await;
    assert_eq!(dropped["status"], "broken");
    contact(app, jorge, &ana, "outbound", None).await;
    // The deadline P6 is kept two days early.
    app.at("2027-03-22T10:00:00Z").await;
    let kept = app.created(&format!("/api/v1/promises/{p6}/keep"), marta, json!({ "note": "Invoice reissued" })).await;
    assert_eq!(kept["kept_on_time"], true);
    // Tuesday 23 March: the moved P4 is kept on time at 17:02 CET.
    app.at("2027-03-23T16:02:00Z").await;
    let logged = contact(app, marta, &ana, "outbound", Some(&p4)).await;
    assert_eq!(logged["promise"]["kept_on_time"], true);
    // Wednesday 24 March: Marta hands P12 (Thursday 11:00 EDT = 15:00 UTC) to Jorge, who keeps it at 15:01.
    app.at("2027-03-24T10:00:00Z").await;
    app.created(
        &format!("/api/v1/promises/{p12}/handover"),
        marta,
        json!({ "to_agent_id": z.jorge.id, "note": "Dana prefers English" }),
    )
    .await;
    app.at("2027-03-25T15:01:00Z").await;
    let logged = contact(app, jorge, &dana, "outbound", Some(&p12)).await;
    assert_eq!(logged["promise"]["kept_on_time"], true);

    // Sunday 28 March, the night summer time starts: P11 (03:30 CEST = 01:30 UTC) is kept at 01:31.
    app.at("2027-03-28T01:31:00Z").await;
    let logged = contact(app, marta, &ana, "outbound", Some(&p11)).await;
    assert_eq!(logged["promise"]["kept_on_time"], true);
    // Monday 29 March 01:10 UTC = Sunday 28th 21:10 in New York: P15 (21:00 UTC) was missed at 21:15 and is not
    // broken yet; P13 (00:30 UTC) was missed at 00:45 and Marta keeps it now, 40 minutes late; P14 (02:00 UTC)
    // is not due yet.
    app.at("2027-03-29T01:10:00Z").await;
    assert_eq!(promise_now(app, &p15).await["status"], "missed");
    let logged = contact(app, marta, &dana, "outbound", Some(&p13)).await;
    assert_eq!(logged["promise"]["kept_on_time"], false);
    assert_eq!(promise_now(app, &p14).await["status"], "open");
    Dataset { z }
}

/// The fixed dataset, with every number computed by hand.
///
/// Obligations (customer-local due date, accountable agent, kind: class):
///
/// | week | date  | obligation                                   | agent | kind     | class                 |
/// |------|-------|----------------------------------------------|-------|----------|-----------------------|
/// | W11  | 03-15 | P1 call at 10:05 for 10:00 UTC               | marta | callback | kept_on_time          |
/// | W11  | 03-15 | P10 occurrence 1, call at 09:05              | jorge | update   | kept_on_time          |
/// | W11  | 03-16 | P2, call at 11:40 for 11:00                  | jorge | callback | kept_late, 40 min     |
/// | W11  | 03-16 | P10 occurrence 2, nobody called              | jorge | update   | broken                |
/// | W11  | 03-17 | P10 occurrence 3, call at 09:20 for 09:00    | jorge | update   | kept_late, 20 min     |
/// | W11  | 03-17 | P3, stand-in Marta's call at 10:03           | ayoze | callback | kept_on_time          |
/// | W11  | 03-18 | P5, moved by Jorge after due, call 12:05     | jorge | callback | kept_late, 185 min    |
/// | W11  | 03-19 | P9, never attempted                          | ayoze | callback | broken                |
/// | W12  | 03-22 | P7, dropped with Dana's agreement            | marta | callback | cancelled             |
/// | W12  | 03-23 | P4 (moved here from 03-19 by Ana), call      | marta | callback | kept_on_time          |
/// | W12  | 03-23 | P8, dropped by Jorge                         | jorge | callback | broken                |
/// | W12  | 03-24 | P6 deadline, kept on the 22nd                | marta | deadline | kept_on_time          |
/// | W12  | 03-25 | P12, handed to Jorge before due, his call    | jorge | callback | kept_on_time          |
/// | W12  | 03-28 | P11 in the DST gap, 03:30 CEST               | marta | callback | kept_on_time          |
/// | W12  | 03-28 | P13 20:30 New York, call at 21:10            | marta | callback | kept_late, 40 min     |
/// | W12  | 03-28 | P14 22:00 New York                           | marta | callback | pending               |
/// | W12  | 03-28 | P15 23:00 Madrid, missed, not yet broken     | jorge | callback | missed_open           |
///
/// P5's lateness is from the original due time: 09:00 -> 12:05 UTC = 185 minutes. P13 is dated by New York's
/// calendar (28th), not by UTC's (29th, outside the period).
///
/// Counted on the obligation's date before the move: Ana's renegotiation of P4 (03-19, marta, callback, W11),
/// Jorge's move of P5 (03-18, jorge, callback, W11), Marta's hand-over of P12 (03-25, marta, callback, W12), and
/// the routing of P3 to the stand-in (03-17, ayoze, callback, W11).
///
/// Outbound contacts (customer-local date; the customer's owner; made by the owner?):
/// 03-15 Ana (marta) by Marta yes; 03-15 Víctor (jorge) by Jorge yes; 03-16 Víctor, Marta's attempt on P2, no;
/// 03-16 Víctor by Jorge yes; 03-17 Víctor by Jorge yes; 03-17 Carmen (ayoze) by Marta standing in, no;
/// 03-18 Víctor by Jorge yes; 03-22 Ana by Jorge, no; 03-23 Ana by Marta yes; 03-25 Dana (marta) by Jorge, no;
/// 03-28 Ana by Marta yes (01:31 UTC); 03-28 Dana by Marta yes (21:10 New York, 01:10 UTC on the 29th).
/// Inbound contacts (Ana on 03-15, Víctor on 03-16) are not counted.
#[actix_web::test]
async fn metrics_on_a_fixed_dataset_match_hand_computed_numbers() {
    let app = spawn_app_at(at("2027-03-12T12:00:00Z")).await;
    let Dataset { z } = dataset(&app).await;
    let manager = z.manager.token.as_str();
    let period = "from=2027-03-15&to=2027-03-29";

    // Totals: kept_on_time = P1, P10.1, P3, P4, P6, P12, P11 = 7; kept_late = P2, P10.3, P5, P13 = 4;
    // broken = P10.2, P9, P8 = 3; cancelled = P7 = 1; missed_open = P15 = 1; pending = P14 = 1.
    // due = 7 + 4 + 3 + 1 + 1 = 16; keep_rate = 7 / (16 - 1) = 7/15.
    // Lateness sorted 20, 40, 40, 185: p50 is rank ceil(0.5 * 4) = 2 -> 40; p90 is rank ceil(0.9 * 4) = 4 -> 185.
    // Outbound: 12, by the owner 8 (see above): continuity 8/12.
    let totals = json!({
        "due": 16, "pending": 1, "kept_on_time": 7, "kept_late": 4, "missed_open": 1, "broken": 3, "cancelled": 1,
        "renegotiated_by_customer": 1, "renegotiated_by_agent": 1, "handovers": 2,
        "keep_rate": 7.0 / 15.0, "lateness_p50_minutes": 40, "lateness_p90_minutes": 185,
        "outbound_contacts": 12, "outbound_by_owner": 8, "continuity": 8.0 / 12.0,
    });

    // Per agent (the accountable agent; contacts under the customer's owner).
    let by_agent =
        report_and_csv_agree(&app, manager, &format!("{period}&group_by=agent"), &["agent_id", "agent_name"]).await;
    assert_eq!(by_agent["from"], "2027-03-15");
    assert_eq!(by_agent["to"], "2027-03-29");
    assert_eq!(by_agent["group_by"], json!(["agent"]));
    assert_eq!(by_agent["rows"].as_array().unwrap().len(), 3, "Marta, Jorge and Ayoze: {by_agent}");
    assert_figures(&by_agent["totals"], totals.clone(), "totals by agent");
    // Marta: kept_on_time P1, P4, P6, P11 = 4; kept_late P13 (40) = 1; cancelled P7; pending P14.
    // due = 4 + 1 + 1 = 6; keep_rate = 4 / (6 - 1) = 0.8; p50 = p90 = 40.
    // Renegotiated by the customer: P4. Hand-overs: P12 (hers until she handed it over).
    // Contacts with Ana and Dana: 6 (two by Jorge), 4 by Marta: 4/6.
    let marta = row(&by_agent, "agent_id", &z.marta.id);
    assert_eq!(marta["agent_name"], "Marta Gil");
    assert_figures(
        marta,
        json!({
            "due": 6, "pending": 1, "kept_on_time": 4, "kept_late": 1, "missed_open": 0, "broken": 0, "cancelled": 1,
            "renegotiated_by_customer": 1, "renegotiated_by_agent": 0, "handovers": 1,
            "keep_rate": 4.0 / 5.0, "lateness_p50_minutes": 40, "lateness_p90_minutes": 40,
            "outbound_contacts": 6, "outbound_by_owner": 4, "continuity": 4.0 / 6.0,
        }),
        "Marta",
    );
    // Jorge: kept_on_time P10.1, P12 = 2; kept_late P2 (40), P10.3 (20), P5 (185) = 3; broken P10.2, P8 = 2;
    // missed_open P15. due = 2 + 3 + 2 + 1 = 8; keep_rate = 2/8.
    // Lateness 20, 40, 185: p50 rank ceil(1.5) = 2 -> 40; p90 rank ceil(2.7) = 3 -> 185.
    // Renegotiated by the agent: P5. Contacts with Víctor: 5, 4 by Jorge (Marta's attempt is not): 4/5.
    assert_figures(
        row(&by_agent, "agent_id", &z.jorge.id),
        json!({
            "due": 8, "pending": 0, "kept_on_time": 2, "kept_late": 3, "missed_open": 1, "broken": 2, "cancelled": 0,
            "renegotiated_by_customer": 0, "renegotiated_by_agent": 1, "handovers": 0,
            "keep_rate": 2.0 / 8.0, "lateness_p50_minutes": 40, "lateness_p90_minutes": 185,
            "outbound_contacts": 5, "outbound_by_owner": 4, "continuity": 4.0 / 5.0,
        }),
        "Jorge",
    );
    // Ayoze: P3 kept on time (by his stand-in), P9 broken: due 2, keep_rate 1/2, no late keeps.
    // One hand-over (P3 routed to Marta). Contacts with Carmen: 1, by Marta: continuity 0.
    assert_figures(
        row(&by_agent, "agent_id", &z.ayoze.id),
        json!({
            "due": 2, "pending": 0, "kept_on_time": 1, "kept_late": 0, "missed_open": 0, "broken": 1, "cancelled": 0,
            "renegotiated_by_customer": 0, "renegotiated_by_agent": 0, "handovers": 1,
            "keep_rate": 0.5, "lateness_p50_minutes": null, "lateness_p90_minutes": null,
            "outbound_contacts": 1, "outbound_by_owner": 0, "continuity": 0.0,
        }),
        "Ayoze",
    );

    // Per kind: contacts have no kind, so continuity is not defined per row (null); the totals are not per kind.
    let by_kind = report_and_csv_agree(&app, manager, &format!("{period}&group_by=kind"), &["kind"]).await;
    assert_eq!(by_kind["rows"].as_array().unwrap().len(), 3);
    assert_figures(&by_kind["totals"], totals.clone(), "totals by kind");
    // Callbacks: kept_on_time P1, P3, P4, P12, P11 = 5; kept_late P2 (40), P5 (185), P13 (40) = 3; broken P9, P8;
    // cancelled P7; missed_open P15; pending P14. due = 5 + 3 + 2 + 1 + 1 = 12; keep_rate = 5 / 11.
    // Lateness 40, 40, 185: p50 rank 2 -> 40, p90 rank 3 -> 185. All renegotiations and hand-overs.
    assert_figures(
        row(&by_kind, "kind", "callback"),
        json!({
            "due": 12, "pending": 1, "kept_on_time": 5, "kept_late": 3, "missed_open": 1, "broken": 2, "cancelled": 1,
            "renegotiated_by_customer": 1, "renegotiated_by_agent": 1, "handovers": 2,
            "keep_rate": 5.0 / 11.0, "lateness_p50_minutes": 40, "lateness_p90_minutes": 185,
            "outbound_contacts": null, "outbound_by_owner": null, "continuity": null,
        }),
        "callbacks",
    );
    // Deadlines: P6 kept on time: due 1, keep_rate 1.
    assert_figures(
        row(&by_kind, "kind", "deadline"),
        json!({
            "due": 1, "pending": 0, "kept_on_time": 1, "kept_late": 0, "missed_open": 0, "broken": 0, "cancelled": 0,
            "renegotiated_by_customer": 0, "renegotiated_by_agent": 0, "handovers": 0,
            "keep_rate": 1.0, "lateness_p50_minutes": null, "lateness_p90_minutes": null,
            "outbound_contacts": null, "outbound_by_owner": null, "continuity": null,
        }),
        "deadlines",
    );
    // Updates: P10's three occurrences: on time, broken, late by 20. due 3, keep_rate 1/3, p50 = p90 = 20.
    assert_figures(
        row(&by_kind, "kind", "update"),
        json!({
            "due": 3, "pending": 0, "kept_on_time": 1, "kept_late": 1, "missed_open": 0, "broken": 1, "cancelled": 0,
            "renegotiated_by_customer": 0, "renegotiated_by_agent": 0, "handovers": 0,
            "keep_rate": 1.0 / 3.0, "lateness_p50_minutes": 20, "lateness_p90_minutes": 20,
            "outbound_contacts": null, "outbound_by_owner": null, "continuity": null,
        }),
        "updates",
    );

    // Per ISO week of the customer-local due date.
    let by_week =
        report_and_csv_agree(&app, manager, &format!("{period}&group_by=week"), &["week", "week_start"]).await;
    let weeks: Vec<&str> = by_week["rows"].as_array().unwrap().iter().map(|r| r["week"].as_str().unwrap()).collect();
    assert_eq!(weeks, ["2027-W11", "2027-W12"]);
    assert_figures(&by_week["totals"], totals.clone(), "totals by week");
    // W11 (15-21 March): kept_on_time P1, P10.1, P3 = 3; kept_late P2 (40), P10.3 (20), P5 (185) = 3;
    // broken P10.2, P9 = 2: due 8, keep_rate 3/8; lateness 20, 40, 185: p50 40, p90 185.
    // P4's renegotiation stays on Friday 19th (W11) though P4 itself moved to W12; P5's move; P3's routing.
    // Contacts 15th-18th: 7, by the owner 5 (not: Marta on Víctor, Marta on Carmen): 5/7.
    let w11 = row(&by_week, "week", "2027-W11");
    assert_eq!(w11["week_start"], "2027-03-15");
    assert_figures(
        w11,
        json!({
            "due": 8, "pending": 0, "kept_on_time": 3, "kept_late": 3, "missed_open": 0, "broken": 2, "cancelled": 0,
            "renegotiated_by_customer": 1, "renegotiated_by_agent": 1, "handovers": 1,
            "keep_rate": 3.0 / 8.0, "lateness_p50_minutes": 40, "lateness_p90_minutes": 185,
            "outbound_contacts": 7, "outbound_by_owner": 5, "continuity": 5.0 / 7.0,
        }),
        "W11",
    );
    // W12 (22-28 March): kept_on_time P4, P6, P12, P11 = 4; kept_late P13 (40); broken P8; cancelled P7;
    // missed_open P15; pending P14. due = 4 + 1 + 1 + 1 + 1 = 8; keep_rate = 4 / (8 - 1) = 4/7.
    // Hand-over of P12. Contacts 22nd-28th: 5, by the owner 3 (not: Jorge on Ana, Jorge on Dana): 3/5.
    let w12 = row(&by_week, "week", "2027-W12");
    assert_eq!(w12["week_start"], "2027-03-22");
    assert_figures(
        w12,
        json!({
            "due": 8, "pending": 1, "kept_on_time": 4, "kept_late": 1, "missed_open": 1, "broken": 1, "cancelled": 1,
            "renegotiated_by_customer": 0, "renegotiated_by_agent": 0, "handovers": 1,
            "keep_rate": 4.0 / 7.0, "lateness_p50_minutes": 40, "lateness_p90_minutes": 40,
            "outbound_contacts": 5, "outbound_by_owner": 3, "continuity": 3.0 / 5.0,
        }),
        "W12",
    );

    // Sunday 28 March alone: P11 (the DST gap) and P13 (New York) are on it, P15 missed, P14 pending.
    // due = 3 (P11 on time, P13 late by 40, P15 missed); keep_rate 1/3. Contacts: both of Marta's calls.
    let sunday = report_and_csv_agree(
        &app,
        manager,
        "from=2027-03-28&to=2027-03-29&group_by=agent",
        &["agent_id", "agent_name"],
    )
    .await;
    assert_figures(
        &sunday["totals"],
        json!({
            "due": 3, "pending": 1, "kept_on_time": 1, "kept_late": 1, "missed_open": 1, "broken": 0, "cancelled": 0,
            "renegotiated_by_customer": 0, "renegotiated_by_agent": 0, "handovers": 0,
            "keep_rate": 1.0 / 3.0, "lateness_p50_minutes": 40, "lateness_p90_minutes": 40,
            "outbound_contacts": 2, "outbound_by_owner": 2, "continuity": 1.0,
        }),
        "Sunday 28 March",
    );
    assert_eq!(row(&sunday, "agent_id", &z.marta.id)["kept_on_time"], 1, "P11, due in the DST gap, is on the 28th");
    // The UTC date of P13 and of Dana's call (the 29th) holds nothing. Not grouped, the one row is the whole
    // selection, like the totals.
    let monday = report_and_csv_agree(&app, manager, "from=2027-03-29&to=2027-03-30", &[]).await;
    assert_eq!(monday["rows"].as_array().unwrap().len(), 1);
    assert_eq!(monday["rows"][0], monday["totals"]);
    assert_figures(
        &monday["totals"],
        json!({
            "due": 0, "pending": 0, "kept_on_time": 0, "kept_late": 0, "missed_open": 0, "broken": 0, "cancelled": 0,
            "renegotiated_by_customer": 0, "renegotiated_by_agent": 0, "handovers": 0,
            "keep_rate": null, "lateness_p50_minutes": null, "lateness_p90_minutes": null,
            "outbound_contacts": 0, "outbound_by_owner": 0, "continuity": null,
        }),
        "Monday 29 March",
    );
    let whole = report_and_csv_agree(&app, manager, period, &[]).await;
    assert_figures(&whole["totals"], totals.clone(), "totals not grouped");
    assert_figures(&whole["rows"][0], totals.clone(), "the one group when not grouped");

    // Filtered by kind: continuity is not defined either.
    let updates = report(&app, manager, &format!("{period}&kind=update")).await;
    assert_eq!(updates["totals"]["due"], 3);
    assert_eq!(updates["totals"]["outbound_contacts"], Value::Null);
    assert_eq!(updates["totals"]["continuity"], Value::Null);
    // Grouped by agent and week at once: Jorge's W11 is P10.1 on time, P2, P10.3, P5 late, P10.2 broken.
    let both = report(&app, manager, &format!("{period}&group_by=agent,week")).await;
    let jorge_w11: Vec<&Value> = both["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["agent_id"] == z.jorge.id.as_str() && r["week"] == "2027-W11")
        .collect();
    assert_eq!(jorge_w11.len(), 1);
    let j = jorge_w11[0];
    assert_eq!((j["due"].as_i64(), j["kept_on_time"].as_i64(), j["kept_late"].as_i64()), (Some(5), Some(1), Some(3)));
    assert_eq!((j["outbound_contacts"].as_i64(), j["outbound_by_owner"].as_i64()), (Some(5), Some(4)));

    assert_rollups_recompute(&app, "after the fixed dataset");
}

/// Agents see their own figures, managers their team's, admins everything; bad queries are 422 naming the
/// field, and no token is 401.
#[actix_web::test]
async fn metrics_are_scoped_by_role_and_bad_queries_name_the_field() {
    let app = spawn_app_at(at("2027-03-15T08:00:00Z")).await;
    let z = zaragoza(&app).await;
    let (marta, jorge, outsider) = (z.marta.token.as_str(), z.jorge.token.as_str(), z.outsider.token.as_str());
    let ana = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let victor = customer(&app, jorge, "Víctor Lanuza", "Europe/Madrid").await.id;
    let amparo = customer(&app, outsider, "Amparo Llorens", "Europe/Madrid").await.id;
    let callback =
        |c: &str, due: &str| json!({ "customer_id": c, "kind": "callback", "title": "Te llamo", "due_local": due });
    // Marta: a callback kept on time. Jorge: one never attempted (missed at 11:15 UTC). Vicente (Valencia): one
    // kept 30 minutes late.
    let p_marta = app.created("/api/v1/promises", marta, callback(&ana, "2027-03-15T11:00")).await;
    app.created("/api/v1/promises", jorge, callback(&victor, "2027-03-15T12:00")).await;
    let p_out = app.created("/api/v1/promises", outsider, callback(&amparo, "2027-03-15T12:00")).await;
    app.at("2027-03-15T10:00:00Z").await;
    contact(&app, marta, &ana, "outbound", p_marta["id"].as_str()).await;
    app.at("2027-03-15T11:30:00Z").await;
    contact(&app, outsider, &amparo, "outbound", p_out["id"].as_str()).await;
    let zaragoza_team = team_id(&app, "Zaragoza").await;
    let valencia_team = team_id(&app, "Valencia").await;
    let q = "from=2027-03-15&to=2027-03-16";
    let agents_of = |r: &Value| -> BTreeSet<String> {
        r["rows"].as_array().unwrap().iter().map(|r| r["agent_id"].as_str().unwrap().to_string()).collect()
    };

    // Marta sees herself only: one callback, kept on time, one contact by her.
    let mine = report(&app, marta, &format!("{q}&group_by=agent")).await;
    assert_eq!(agents_of(&mine), BTreeSet::from([z.marta.id.clone()]));
    assert_figures(
        &mine["totals"],
        json!({
            "due": 1, "pending": 0, "kept_on_time": 1, "kept_late": 0, "missed_open": 0, "broken": 0, "cancelled": 0,
            "renegotiated_by_customer": 0, "renegotiated_by_agent": 0, "handovers": 0,
            "keep_rate": 1.0, "lateness_p50_minutes": null, "lateness_p90_minutes": null,
            "outbound_contacts": 1, "outbound_by_owner": 1, "continuity": 1.0,
        }),
        "Marta's own",
    );
    assert_eq!(report(&app, marta, &format!("{q}&agent=me")).await["totals"], mine["totals"]);
    assert_eq!(report(&app, marta, &format!("{q}&agent={}", z.marta.id)).await["totals"], mine["totals"]);
    app.get(&format!("/api/v1/metrics/promises?{q}&agent={}", z.jorge.id), marta).await.assert_problem(403);
    app.get(&format!("/api/v1/metrics/promises?{q}&agent={}", z.outsider.id), marta).await.assert_problem(403);
    // Vicente sees his late keep only: 30 minutes after 11:00 UTC is 30 minutes late.
    let his = report(&app, outsider, q).await;
    assert_eq!((his["totals"]["due"].as_i64(), his["totals"]["kept_late"].as_i64()), (Some(1), Some(1)));
    assert_eq!(his["totals"]["lateness_p50_minutes"], 30);

    // The manager sees Zaragoza: Marta and Jorge, due 2 (one kept, one missed): keep_rate 1/2.
    let team = report(&app, &z.manager.token, &format!("{q}&group_by=agent")).await;
    assert_eq!(agents_of(&team), BTreeSet::from([z.marta.id.clone(), z.jorge.id.clone()]));
    assert_eq!((team["totals"]["due"].as_i64(), team["totals"]["missed_open"].as_i64()), (Some(2), Some(1)));
    assert_eq!(team["totals"]["keep_rate"], 0.5);
    let jorge_only = report(&app, &z.manager.token, &format!("{q}&agent={}", z.jorge.id)).await;
    assert_eq!(
        (jorge_only["totals"]["due"].as_i64(), jorge_only["totals"]["missed_open"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(report(&app, &z.manager.token, &format!("{q}&team={zaragoza_team}")).await["totals"], team["totals"]);
    app.get(&format!("/api/v1/metrics/promises?{q}&team={valencia_team}"), &z.manager.token).await.assert_problem(403);
    // A manager asking for an agent of another team gets nothing of theirs.
    let other = report(&app, &z.manager.token, &format!("{q}&agent={}", z.outsider.id)).await;
    assert_eq!(other["totals"]["due"], 0);

    // A manager outside any team sees no team's figures (only their own, and they have none).
    let teamless = app.agent("Nadia Roca", "manager", None, "Europe/Madrid", "mon-fri 09:00-17:00").await.token;
    let nothing = report(&app, &teamless, &format!("{q}&group_by=agent")).await;
    assert_eq!((nothing["rows"].clone(), nothing["totals"]["due"].as_i64()), (json!([]), Some(0)), "{nothing}");
    assert_eq!(nothing["totals"]["outbound_contacts"], 0);
    app.get(&format!("/api/v1/metrics/promises?{q}&team={zaragoza_team}"), &teamless).await.assert_problem(403);
    app.get(&format!("/api/v1/metrics/promises?{q}&agent={}", z.marta.id), &teamless).await.assert_problem(403);

    // The admin sees both teams: due 3, kept on time 1, late 1, missed 1.
    let all = report(&app, &app.admin, &format!("{q}&group_by=team")).await;
    let teams: BTreeMap<String, i64> = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["team_name"].as_str().unwrap().to_string(), r["due"].as_i64().unwrap()))
        .collect();
    assert_eq!(teams, BTreeMap::from([("Valencia".to_string(), 1), ("Zaragoza".to_string(), 2)]));
    assert_eq!(all["totals"]["due"], 3);
    assert_eq!(all["totals"]["outbound_contacts"], 2);
    assert_eq!(report(&app, &app.admin, &format!("{q}&team={valencia_team}")).await["totals"]["due"], 1);

    // Bad queries: 422 naming the field, for every role.
    let bad = [
        ("from=2027-02-30&to=2027-03-16", "from", "invalid_date"),
        ("from=2027-03-15&to=16-03-2027", "to", "invalid_date"),
        ("from=2027-03-16&to=2027-03-15", "to", "empty_period"),
        ("from=2027-03-15&to=2027-03-15", "to", "empty_period"),
        ("from=2027-03-15&to=2027-03-16&group_by=colour", "group_by", "unknown_grouping"),
        ("from=2027-03-15&to=2027-03-16&group_by=agent,colour", "group_by", "unknown_grouping"),
        ("from=2027-03-15&to=2027-03-16&kind=fax", "kind", "unknown_kind"),
    ];
    for (query, field, code) in bad {
        for token in [marta, z.manager.token.as_str(), app.admin.as_str()] {
            let answer = app.get(&format!("/api/v1/metrics/promises?{query}"), token).await;
            answer.assert_problem(422);
            assert_eq!(answer.error_fields(), [(field.to_string(), code.to_string())], "{query}: {}", answer.body);
        }
    }
    // No token, or a wrong one: 401, also for CSV.
    app.send(Method::GET, &format!("/api/v1/metrics/promises?{q}"), None, None).await.assert_problem(401);
    app.send(Method::GET, &format!("/api/v1/metrics/promises?{q}"), Some("not-a-token"), None)
        .await
        .assert_problem(401);
    let csv = app
        .client
        .get(format!("{}/api/v1/metrics/promises?{q}", app.address))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status().as_u16(), 401);
}

/// `GET /metrics` after the fixed dataset, read with a parser of the Prometheus text format.
#[actix_web::test]
async fn prometheus_output_parses_and_matches_the_rollups() {
    let app = spawn_app_at(at("2027-03-12T12:00:00Z")).await;
    let Dataset { z } = dataset(&app).await;
    let zaragoza_team = team_id(&app, "Zaragoza").await;
    // Three reports, so the histogram of this route holds exactly three requests answered 200.
    let by_team_kind = report(&app, &app.admin, "from=2027-01-01&to=2028-01-01&group_by=team,kind").await;
    report(&app, &z.manager.token, "from=2027-03-15&to=2027-03-29").await;
    report(&app, &z.marta.token, "from=2027-03-15&to=2027-03-29").await;

    let response = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let text = response.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    for family in [
        "tendero_promises_open",
        "tendero_promises_overdue",
        "tendero_promises_kept_total",
        "tendero_promises_broken_total",
        "tendero_timers",
        "tendero_scheduler_lag_seconds",
        "tendero_sends",
        "tendero_http_request_duration_seconds",
    ] {
        assert!(scrape.docs.contains_key(family), "HELP for {family} in\n{text}");
    }
    // One scalar sample by name and labels; its type must be the declared one.
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        let found: Vec<&prometheus_parse::Sample> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && s.labels.len() == labels.len())
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} appears twice");
        found.first().map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Counter(v) => v,
            ref other => panic!("{name} {labels:?} is not a gauge or counter: {other:?}"),
        })
    };
    let team = zaragoza_team.as_str();
    // By hand: open = P14 (pending) + P15 (missed) = 2; overdue = P15 = 1. Kept: callbacks 5 on time, 3 late;
    // deadlines 1 on time; updates 1 on time, 1 late. Broken: callbacks P9, P8 = 2; update P10.2 = 1.
    assert_eq!(value("tendero_promises_open", &[("team", team)]), Some(2.0));
    assert_eq!(value("tendero_promises_overdue", &[("team", team)]), Some(1.0));
    let kept = |kind: &str, timeliness: &str| {
        value("tendero_promises_kept_total", &[("team", team), ("kind", kind), ("timeliness", timeliness)])
    };
    assert_eq!((kept("callback", "on_time"), kept("callback", "late")), (Some(5.0), Some(3.0)));
    assert_eq!((kept("deadline", "on_time"), kept("deadline", "late")), (Some(1.0), Some(0.0)));
    assert_eq!((kept("update", "on_time"), kept("update", "late")), (Some(1.0), Some(1.0)));
    let broken = |kind: &str| value("tendero_promises_broken_total", &[("team", team), ("kind", kind)]);
    assert_eq!((broken("callback"), broken("deadline"), broken("update")), (Some(2.0), Some(0.0), Some(1.0)));
    // And the same as the report over all dates, row by row.
    let rows = by_team_kind["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{by_team_kind}");
    let (mut open, mut overdue) = (0, 0);
    for r in rows {
        let (t, kind) = (r["team_id"].as_str().unwrap(), r["kind"].as_str().unwrap());
        let n = |f: &str| Some(r[f].as_f64().unwrap());
        assert_eq!(
            value("tendero_promises_kept_total", &[("team", t), ("kind", kind), ("timeliness", "on_time")]),
            n("kept_on_time")
        );
        assert_eq!(
            value("tendero_promises_kept_total", &[("team", t), ("kind", kind), ("timeliness", "late")]),
            n("kept_late")
        );
        assert_eq!(value("tendero_promises_broken_total", &[("team", t), ("kind", kind)]), n("broken"));
        open += r["pending"].as_i64().unwrap() + r["missed_open"].as_i64().unwrap();
        overdue += r["missed_open"].as_i64().unwrap();
    }
    assert_eq!(value("tendero_promises_open", &[("team", team)]), Some(open as f64));
    assert_eq!(value("tendero_promises_overdue", &[("team", team)]), Some(overdue as f64));
    // The outbox gauge is the outbox; nothing pending is past due right after a scheduler pass.
    let (pending, dead) = app
        .db
        .read_blocking(|conn| {
            use diesel::prelude::*;
            use tendero::db::schema::timers;
            let count = |conn: &mut tendero::db::DbConn, status: &str| {
                timers::table.filter(timers::status.eq(status)).count().get_result::<i64>(conn)
            };
            Ok((count(conn, "pending")?, count(conn, "dead")?))
        })
        .unwrap();
    assert!(pending > 0, "P14 and P15 still have deliveries");
    assert_eq!(value("tendero_timers", &[("status", "pending")]), Some(pending as f64));
    assert_eq!(value("tendero_timers", &[("status", "dead")]), Some(dead as f64));
    assert_eq!(value("tendero_scheduler_lag_seconds", &[]), Some(0.0));

    // The request-duration histogram of the report route: 13 cumulative buckets ending at +Inf = _count = 3.
    let route = [("method", "GET"), ("route", "/api/v1/metrics/promises"), ("status", "200")];
    let histograms: Vec<&prometheus_parse::Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "tendero_http_request_duration_seconds")
        .filter(|s| route.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(histograms.len(), 1, "one series for {route:?} in\n{text}");
    let prometheus_parse::Value::Histogram(buckets) = &histograms[0].value else { panic!("not a histogram") };
    let mut buckets = buckets.clone();
    buckets.sort_by(|a, b| a.less_than.total_cmp(&b.less_than));
    assert_eq!(buckets.len(), 13);
    assert_eq!(buckets[0].less_than, 0.001);
    assert!(buckets.last().unwrap().less_than.is_infinite());
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count), "cumulative: {buckets:?}");
    assert_eq!(buckets.last().unwrap().count, 3.0);
    let untyped = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && route.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| s.value.clone())
    };
    assert_eq!(untyped("tendero_http_request_duration_seconds_count"), Some(prometheus_parse::Value::Untyped(3.0)));
    let Some(prometheus_parse::Value::Untyped(sum)) = untyped("tendero_http_request_duration_seconds_sum") else {
        panic!("no _sum")
    };
    assert!(sum > 0.0);
    // prometheus-parse skips sample lines whose label values contain `}` (route patterns such as
    // `/api/v1/promises/{id}/keep`), so that series is checked on the text itself: the one keep of P6.
    assert!(
        text.contains(
            "tendero_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/promises/{id}/keep\",status=\"200\"} 1\n"
        ),
        "{text}"
    );
}

/// A deterministic xorshift64 generator: the same seed, the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An index below `n`, more often one of the last eight (the promises still in play).
    fn recent(&mut self, n: usize) -> usize {
        if n > 8 && self.chance(60) {
            n - 1 - self.below(8) as usize
        } else {
            self.below(n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One customer of the random run, and who owns it as far as the test knows.
struct RandomCustomer {
    id: String,
    zone: &'static str,
    owner: Option<usize>,
    interactions: Vec<String>,
}

/// One promise of the random run.
struct RandomPromise {
    id: String,
    customer: usize,
    owner: usize,
}

/// A customer-local due time: mostly within the next days at quarter hours (some outside the contact window or
/// in the past, which the API refuses), sometimes a local time that does not exist or happens twice.
fn random_due(rng: &mut Rng, now: DateTime<Utc>, zone: &str) -> (String, bool) {
    let gap_ahead = now < at("2027-03-28T00:00:00Z") && matches!(zone, "Europe/Madrid" | "Atlantic/Canary");
    if rng.chance(if gap_ahead { 30 } else { 15 }) {
        let special = match zone {
            "Europe/Madrid" if now < at("2027-03-28T00:00:00Z") => "2027-03-28T02:30", // spring-forward gap
            "Europe/Madrid" => "2027-10-31T02:30",                                     // fall-back fold
            "Atlantic/Canary" => "2027-03-28T01:30",                                   // spring-forward gap
            "Australia/Lord_Howe" => "2027-04-04T01:45",                               // 30-minute fold
            _ => "2027-11-07T01:30",                                                   // New York fall-back fold
        };
        // Asked for by the customer: it is a Sunday night.
        return (special.to_string(), true);
    }
    let day = now + Duration::days(rng.below(4) as i64) - Duration::hours(6);
    let local = format!("{}T{:02}:{:02}", day.format("%Y-%m-%d"), rng.below(24), rng.pick(&[0, 15, 30, 45]));
    (local, rng.chance(50))
}

/// Many random operations through the API and the scheduler; the rollups written change by change must equal a
/// recomputation from the promise rows, the ledger and the interactions at every checkpoint, and the report's
/// totals must equal a count made independently from the promises and their ledgers.
#[actix_web::test]
async fn rollups_equal_a_full_recomputation_after_random_operations() {
    // Another run: METRICS_SEED=<hex> (a failure prints the seed it ran with).
    let seed = std::env::var("METRICS_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .filter(|s| *s != 0)
        .unwrap_or(0x7e4d_e120_2027_0325);
    let mut rng = Rng(seed);
    let mut now = at("2027-03-24T08:00:00Z");
    let app = spawn_app_at(now).await;
    let z = zaragoza(&app).await;
    // 0 manager, 1 Marta, 2 Jorge, 3 Ayoze.
    let agents = [z.manager.clone(), z.marta.clone(), z.jorge.clone(), z.ayoze.clone()];
    let zones = [
        "Europe/Madrid",
        "Europe/Madrid",
        "America/New_York",
        "Atlantic/Canary",
        "Australia/Lord_Howe",
        "Europe/Madrid",
    ];
    let mut customers = Vec::new();
    for (n, zone) in zones.into_iter().enumerate() {
        let by = &agents[1 + n % 3].token;
        customers.push(RandomCustomer {
            id: customer(&app, by, &format!("Cliente {n}"), zone).await.id,
            zone,
            owner: None,
            interactions: Vec::new(),
        });
    }
    let mut promises: Vec<RandomPromise> = Vec::new();
    let mut log: Vec<String> = Vec::new();
    let mut answered: BTreeMap<u16, usize> = BTreeMap::new();
    // A longer run: METRICS_OPS=<n>.
    let ops: usize = std::env::var("METRICS_OPS").ok().and_then(|n| n.parse().ok()).unwrap_or(300);

    // A short scripted start, so every seed goes through the rarer paths at least once: an update occurrence
    // kept with more to come, a callback due in a DST gap, an agent moving a due time that has passed.
    let update = app
        .created(
            "/api/v1/promises",
            &agents[2].token,
            json!({ "customer_id": customers[0].id, "kind": "update", "title": "Cada mañana",
                    "recurrence": { "cron": "0 10 * * *", "until": "2027-03-29T12:00:00Z" } }),
        )
        .await;
    assert_eq!(update["due_at"], "2027-03-24T09:00:00Z");
    customers[0].owner = Some(2);
    let gap = app
        .created(
            "/api/v1/promises",
            &agents[1].token,
            json!({ "customer_id": customers[3].id, "kind": "callback", "title": "De madrugada",
                    "due_local": "2027-03-28T01:30", "customer_requested": true }),
        )
        .await;
    assert_eq!(
        (gap["due_local"].as_str(), gap["due_at"].as_str()),
        (Some("2027-03-28T02:30:00"), Some("2027-03-28T01:30:00Z"))
    );
    customers[3].owner = Some(1);
    let late = app
        .created(
            "/api/v1/promises",
            &agents[1].token,
            json!({ "customer_id": customers[1].id, "kind": "callback", "title": "A las 11", "due_local": "2027-03-24T11:00" }),
        )
        .await;
    customers[1].owner = Some(1);
    for (promise, customer, owner) in [(&update, 0, 2), (&gap, 3, 1), (&late, 1, 1)] {
        promises.push(RandomPromise { id: promise["id"].as_str().unwrap().to_string(), customer, owner });
    }
    app.at("2027-03-24T09:05:00Z").await;
    let kept = contact(&app, &agents[2].token, &customers[0].id, "outbound", update["id"].as_str()).await;
    assert_eq!(kept["promise"]["due_at"], "2027-03-25T09:00:00Z", "the next occurrence");
    // The contacts the continuity figures must count: (outbound with an owned customer, of those by the owner).
    let mut contacts = (1, 1);
    now = at("2027-03-24T10:30:00Z");
    app.at("2027-03-24T10:30:00Z").await;
    app.created(
        &format!("/api/v1/promises/{}/reschedule", late["id"].as_str().unwrap()),
        &agents[1].token,
        json!({ "due_local": "2027-03-24T15:00", "reason": "Later today", "initiated_by": "agent" }),
    )
    .await;
    app.created(
        &format!("/api/v1/promises/{}/handover", gap["id"].as_str().unwrap()),
        &agents[1].token,
        json!({ "to_agent_id": agents[2].id, "note": "I am off on Sunday" }),
    )
    .await;
    promises[1].owner = 2;

    for op in 1..=ops {
        let roll = rng.below(100);
        let (what, answer) = if roll < 22 {
            // Make a promise: by its owner, or by the manager on the owner's behalf.
            let c = rng.below(customers.len() as u64) as usize;
            let owner = 1 + rng.below(3) as usize;
            let caller = if rng.chance(20) { 0 } else { owner };
            let mut body = json!({ "customer_id": customers[c].id, "title": format!("Promesa {op}"),
                                   "owner_agent_id": agents[owner].id });
            match rng.below(5) {
                0 | 1 => {
                    body["kind"] = json!("callback");
                    let (due, requested) = random_due(&mut rng, now, customers[c].zone);
                    body["due_local"] = json!(due);
                    body["customer_requested"] = json!(requested);
                }
                2 => {
                    body["kind"] = json!("deadline");
                    if rng.chance(50) {
                        body["within"] = json!(rng.pick(&["P1D", "P2D", "P3D"]));
                    } else {
                        let (due, requested) = random_due(&mut rng, now, customers[c].zone);
                        body["due_local"] = json!(due);
                        body["customer_requested"] = json!(requested);
                    }
                }
                _ => {
                    body["kind"] = json!("update");
                    let cron =
                        *rng.pick(&["0 10 * * *", "30 2 * * *", "0 9,17 * * mon-fri", "45 1 * * *", "0 12 * * sat"]);
                    let until = now + Duration::hours(72 + rng.below(264) as i64);
                    body["recurrence"] =
                        json!({ "cron": cron, "until": until.format("%Y-%m-%dT%H:%M:%SZ").to_string() });
                    body["customer_requested"] = json!(true);
                }
            }
            let answer = app.post("/api/v1/promises", &agents[caller].token, body.clone()).await;
            if answer.status.is_success() {
                promises.push(RandomPromise {
                    id: answer.body["id"].as_str().unwrap().to_string(),
                    customer: c,
                    owner,
                });
                customers[c].owner.get_or_insert(owner);
            }
            (format!("create {body}"), answer)
        } else if roll < 31 && !promises.is_empty() {
            // Mostly a promise still in play (open or missed), looked up over the API.
            let mut p = rng.recent(promises.len());
            for _ in 0..3 {
                if ["open", "missed"].contains(&promise_now(&app, &promises[p].id).await["status"].as_str().unwrap()) {
                    break;
                }
                p = rng.below(promises.len() as u64) as usize;
            }
            let caller = if rng.chance(20) { 0 } else { promises[p].owner };
            let by = *rng.pick(&["customer", "agent"]);
            let (due, requested) = random_due(&mut rng, now, customers[promises[p].customer].zone);
            let mut body = json!({ "due_local": due, "reason": "random", "initiated_by": by });
            if by == "agent" {
                body["customer_requested"] = json!(requested);
            }
            let answer = app
                .post(&format!("/api/v1/promises/{}/reschedule", promises[p].id), &agents[caller].token, body.clone())
                .await;
            (format!("reschedule {} {body}", promises[p].id), answer)
        } else if roll < 37 && !promises.is_empty() {
            let p = rng.recent(promises.len());
            let caller = if rng.chance(20) { 0 } else { promises[p].owner };
            let mut body = json!({ "note": "done" });
            let evidence = &customers[promises[p].customer].interactions;
            if !evidence.is_empty() && rng.chance(30) {
                body["interaction_id"] = json!(rng.pick(evidence));
            }
            let answer = app
                .post(&format!("/api/v1/promises/{}/keep", promises[p].id), &agents[caller].token, body.clone())
                .await;
            (format!("keep {} {body}", promises[p].id), answer)
        } else if roll < 42 && !promises.is_empty() {
            let p = rng.recent(promises.len());
            let caller = if rng.chance(20) { 0 } else { promises[p].owner };
            let body = json!({ "reason": "random", "initiated_by": rng.pick(&["customer", "agent"]) });
            let answer = app
                .post(&format!("/api/v1/promises/{}/cancel", promises[p].id), &agents[caller].token, body.clone())
                .await;
            (format!("cancel {} {body}", promises[p].id), answer)
        } else if roll < 48 && !promises.is_empty() {
            let p = rng.recent(promises.len());
            let caller = if rng.chance(20) { 0 } else { promises[p].owner };
            let to = 1 + rng.below(3) as usize;
            let body = json!({ "to_agent_id": agents[to].id, "note": "cover for me" });
            let answer = app
                .post(&format!("/api/v1/promises/{}/handover", promises[p].id), &agents[caller].token, body.clone())
                .await;
            if answer.status.is_success() {
                promises[p].owner = to;
            }
            (format!("handover {} {body}", promises[p].id), answer)
        } else if roll < 74 {
            // A contact. Half of them are attempts on one of the customer's promises around its due time
            // (logged after the fact when that time has passed), mostly by its owner: they keep callbacks and
            // update occurrences, on time or late, or are no evidence. The rest are any contact, now or earlier.
            let c = rng.below(customers.len() as u64) as usize;
            let mine: Vec<(String, usize)> =
                promises.iter().filter(|p| p.customer == c).map(|p| (p.id.clone(), p.owner)).collect();
            let (caller, outbound, promise, occurred) = if !mine.is_empty() && rng.chance(60) {
                let (id, owner) = rng.pick(&mine).clone();
                let due = at(promise_now(&app, &id).await["due_at"].as_str().unwrap());
                let when = due + Duration::minutes(rng.below(75) as i64 - 15);
                if when > now && when - now < Duration::hours(36) {
                    // The agent waits for the promised time: the clock moves there and the scheduler runs.
                    now = when;
                    app.at(&now.format("%Y-%m-%dT%H:%M:%SZ").to_string()).await;
                    log.push(format!("#{op} clock -> {now} for an attempt"));
                }
                let caller = if rng.chance(75) { owner } else { rng.below(4) as usize };
                let occurred = when.min(now);
                (caller, rng.chance(85), Some(id), occurred)
            } else {
                let promise = (!mine.is_empty() && rng.chance(30)).then(|| rng.pick(&mine).0.clone());
                let occurred = now - Duration::minutes(rng.below(4) as i64 * rng.below(60) as i64);
                (rng.below(4) as usize, rng.chance(70), promise, occurred)
            };
            let body = json!({ "channel": rng.pick(&["phone", "whatsapp", "email"]), "direction": if outbound { "outbound" } else { "inbound" },
                               "outcome": rng.pick(&["reached", "no_answer"]), "summary": "random",
                               "occurred_at": occurred.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "promise_id": promise });
            let answer = app
                .post(
                    &format!("/api/v1/customers/{}/interactions", customers[c].id),
                    &agents[caller].token,
                    body.clone(),
                )
                .await;
            if answer.status.is_success() {
                customers[c].interactions.push(answer.body["interaction"]["id"].as_str().unwrap().to_string());
                if let (true, Some(owner)) = (outbound, customers[c].owner) {
                    contacts.0 += 1;
                    contacts.1 += i64::from(owner == caller);
                }
            }
            (format!("interaction on {} by {caller} {body}", customers[c].id), answer)
        } else if roll < 78 {
            // An absence, with or without a stand-in.
            let a = 1 + rng.below(3) as usize;
            let starts = now + Duration::minutes(rng.below(36 * 60) as i64 - 120);
            let ends = starts + Duration::minutes(30 + rng.below(48 * 60) as i64);
            let stand_in = rng.chance(70).then(|| agents[1 + (a % 3)].id.clone());
            let body = json!({ "starts_at": starts.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                               "ends_at": ends.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "stand_in_agent_id": stand_in });
            let caller = if rng.chance(30) { 0 } else { a };
            let answer = app
                .post(&format!("/api/v1/agents/{}/absences", agents[a].id), &agents[caller].token, body.clone())
                .await;
            (format!("absence of {a} {body}"), answer)
        } else if roll < 81 {
            // The customer gets another shopkeeper: later contacts count for the new one.
            let c = rng.below(customers.len() as u64) as usize;
            let owner = 1 + rng.below(3) as usize;
            let answer = app
                .patch(
                    &format!("/api/v1/customers/{}", customers[c].id),
                    &agents[0].token,
                    json!({ "owner_agent_id": agents[owner].id }),
                )
                .await;
            if answer.status.is_success() {
                customers[c].owner = Some(owner);
            }
            (format!("owner of {} := {owner}", customers[c].id), answer)
        } else {
            // Time passes and the scheduler runs: prompts, hand-overs to stand-ins, missed, broken, next occurrences.
            let minutes = match rng.below(20) {
                0..=9 => 1 + rng.below(60),
                10..=16 => 60 + rng.below(11 * 60),
                _ => 12 * 60 + rng.below(24 * 60),
            };
            now += Duration::minutes(minutes as i64);
            let stamp = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            app.at(&stamp).await;
            log.push(format!("#{op} clock -> {stamp}"));
            continue;
        };
        let status = answer.status.as_u16();
        *answered.entry(status).or_default() += 1;
        log.push(format!("#{op} {what} -> {status}"));
        assert!(
            answer.status.is_success() || status == 409 || status == 422,
            "seed {seed:#x}, op #{op}: {what} answered {status}: {}\nrecent operations:\n{}",
            answer.body,
            log.iter().rev().take(15).rev().cloned().collect::<Vec<_>>().join("\n")
        );
        if op % 60 == 0 {
            let (kept, fresh) = rollups(&app);
            assert!(
                kept == fresh,
                "seed {seed:#x}, after op #{op}: the stored rollups differ from a recomputation:\n{}\nrecent operations:\n{}",
                rollup_diff(&kept, &fresh),
                log.iter().rev().take(25).rev().cloned().collect::<Vec<_>>().join("\n")
            );
        }
    }
    // One last pass of the scheduler a week later closes what can be closed, then the final comparison.
    now += Duration::days(8);
    app.at(&now.format("%Y-%m-%dT%H:%M:%SZ").to_string()).await;
    let (kept, fresh) = rollups(&app);
    assert!(
        kept == fresh,
        "seed {seed:#x}, at the end: the stored rollups differ from a recomputation:\n{}",
        rollup_diff(&kept, &fresh)
    );
    assert_reports_match_day_sums(&app, &kept, &mut rng);
    // The run did exercise the API: promises made and changed, refusals along the way.
    println!("seed {seed:#x}: {} promises, answers {answered:?}", promises.len());
    assert!(promises.len() >= 20, "{answered:?}");
    assert!(answered.keys().any(|s| (200..300).contains(s)) && answered.contains_key(&422), "{answered:?}");

    // An independent count from the promises and their ledgers, read over the API: every row is one obligation
    // in the class of its status; every update occurrence closed before the last one (a `kept` or `missed`
    // event with final = false) is one more; reschedules and hand-overs are ledger events.
    let mut expected: BTreeMap<&str, i64> = BTreeMap::new();
    let mut coverage: BTreeMap<String, usize> = BTreeMap::new();
    for p in &promises {
        let full = promise_now(&app, &p.id).await;
        *coverage
            .entry(format!("{} {}", full["kind"].as_str().unwrap(), full["status"].as_str().unwrap()))
            .or_default() += 1;
        let class = match (full["status"].as_str().unwrap(), full["kept_on_time"].as_bool()) {
            ("open", _) => "pending",
            ("missed", _) => "missed_open",
            ("kept", Some(true)) => "kept_on_time",
            ("kept", _) => "kept_late",
            ("broken", _) => "broken",
            ("cancelled", _) => "cancelled",
            (other, _) => panic!("unknown status {other}"),
        };
        *expected.entry(class).or_default() += 1;
        for event in full["ledger"].as_array().unwrap() {
            let data = &event["data"];
            let detail = match event["kind"].as_str().unwrap() {
                "kept" | "missed" => format!("final={}", data["final"]),
                "rescheduled" => format!("by {}, after due {}", data["initiated_by"], data["after_due"]),
                "handed_over" => format!("routing {}", data["routing"]),
                "created" => data["warnings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w["code"].as_str().unwrap())
                    .filter(|c| c.starts_with("dst"))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => String::new(),
            };
            *coverage.entry(format!("{} {detail}", event["kind"].as_str().unwrap())).or_default() += 1;
            let class = match (event["kind"].as_str().unwrap(), data["final"].as_bool()) {
                ("kept", Some(false)) if data["timeliness"] == "on_time" => "kept_on_time",
                ("kept", Some(false)) => "kept_late",
                ("missed", Some(false)) => "broken",
                ("rescheduled", _) if data["initiated_by"] == "customer" => "renegotiated_by_customer",
                ("rescheduled", _) => "renegotiated_by_agent",
                ("handed_over", _) => "handovers",
                _ => continue,
            };
            *expected.entry(class).or_default() += 1;
        }
    }
    println!("coverage: {coverage:#?}");
    // The run reached every path that moves the rollups.
    for path in [
        "kept final=false",
        "kept final=true",
        "missed final=false",
        "missed final=null",
        "rescheduled by \"customer\", after due false",
        "rescheduled by \"agent\", after due true",
        "handed_over routing true",
        "handed_over routing null",
        "created dst_gap_shifted",
        "cancelled ",
        "broken ",
    ] {
        assert!(coverage.contains_key(path), "seed {seed:#x} never reached `{path}`: {coverage:#?}");
    }
    let whole = report(&app, &app.admin, "from=2027-01-01&to=2028-01-01").await["totals"].clone();
    let counted = |class: &str| expected.get(class).copied().unwrap_or(0);
    for class in [
        "pending",
        "missed_open",
        "kept_on_time",
        "kept_late",
        "broken",
        "cancelled",
        "renegotiated_by_customer",
        "renegotiated_by_agent",
        "handovers",
    ] {
        assert_eq!(whole[class].as_i64(), Some(counted(class)), "seed {seed:#x}: {class} in {whole} vs {expected:?}");
    }
    let obligations: i64 =
        ["pending", "missed_open", "kept_on_time", "kept_late", "broken", "cancelled"].iter().map(|c| counted(c)).sum();
    assert_eq!(whole["due"].as_i64().unwrap() + whole["pending"].as_i64().unwrap(), obligations);
    assert_eq!(
        (whole["outbound_contacts"].as_i64(), whole["outbound_by_owner"].as_i64()),
        (Some(contacts.0), Some(contacts.1))
    );
}

/// Reports read the whole weeks of a period from the weekly tables and the days around them from the daily ones.
/// Over random periods (most not starting on a Monday) and several groupings, they equal the sums of the stored
/// day rows alone.
fn assert_reports_match_day_sums(app: &TestApp, kept: &Rollups, rng: &mut Rng) {
    let first = kept.days.keys().map(|k| k.day).min().expect("day rows");
    let last = kept.days.keys().map(|k| k.day).max().expect("day rows");
    let groupings = [
        Grouping::default(),
        Grouping { agent: true, week: true, ..Default::default() },
        Grouping { team: true, kind: true, ..Default::default() },
    ];
    let mut periods = vec![(first - 3, last + 3), (i32::MIN, i32::MAX)];
    for _ in 0..12 {
        let from = first - 3 + rng.below((last - first + 6) as u64) as i32;
        periods.push((from, from + 1 + rng.below(30) as i32));
    }
    let mut compared_weeks = 0;
    for (from, to) in periods {
        for by in groupings {
            let key = |k: &tendero::domain::metrics::Key| GroupKey {
                agent_id: by.agent.then(|| k.agent_id.clone()),
                team_id: by.team.then(|| k.team_id.clone()),
                kind: by.kind.then(|| k.kind.clone()),
                week: by.week.then(|| week_of(k.day)),
            };
            let inside = |day: i32| from <= day && day < to;
            let mut counts: BTreeMap<GroupKey, Counts> = BTreeMap::new();
            for (k, c) in kept.days.iter().filter(|(k, _)| inside(k.day)) {
                *counts.entry(key(k)).or_default() += *c;
            }
            let mut late: BTreeMap<GroupKey, BTreeMap<i64, i64>> = BTreeMap::new();
            for ((k, minutes), n) in kept.lateness.iter().filter(|((k, _), _)| inside(k.day)) {
                *late.entry(key(k)).or_default().entry(*minutes).or_default() += n;
            }
            let mut contacts: BTreeMap<GroupKey, (i64, i64)> = BTreeMap::new();
            for ((day, team, agent), (o, b)) in kept.contacts.iter().filter(|((day, _, _), _)| inside(*day)) {
                let k = GroupKey {
                    agent_id: by.agent.then(|| agent.clone()),
                    team_id: by.team.then(|| team.clone()),
                    kind: None,
                    week: by.week.then(|| week_of(*day)),
                };
                let entry = contacts.entry(k).or_default();
                entry.0 += o;
                entry.1 += b;
            }
            let sel = Selection { from_day: from, to_day: to, ..Default::default() };
            let got = app.db.read_blocking(move |conn| Ok(rollup_tables::report(conn, by, &sel)?)).expect("report");
            let what = format!("days [{from}, {to}) grouped by {by:?}");
            let got_counts: BTreeMap<GroupKey, Counts> =
                got.iter().map(|(k, t)| (k.clone(), t.counts)).filter(|(_, c)| !c.is_zero()).collect();
            counts.retain(|_, c| !c.is_zero());
            assert_eq!(got_counts, counts, "{what}: counters");
            let got_late: BTreeMap<GroupKey, BTreeMap<i64, i64>> = got
                .iter()
                .filter(|(_, t)| !t.lateness.is_empty())
                .map(|(k, t)| (k.clone(), t.lateness.iter().copied().collect()))
                .collect();
            assert_eq!(got_late, late, "{what}: lateness");
            if !by.kind {
                let got_contacts: BTreeMap<GroupKey, (i64, i64)> = got
                    .iter()
                    .filter_map(|(k, t)| t.contacts.filter(|c| *c != (0, 0)).map(|c| (k.clone(), c)))
                    .collect();
                contacts.retain(|_, c| *c != (0, 0));
                assert_eq!(got_contacts, contacts, "{what}: contacts");
            }
            compared_weeks += usize::from(i64::from(to) - i64::from(from) >= 7);
        }
    }
    assert!(compared_weeks > 0, "some periods span whole weeks");
}
