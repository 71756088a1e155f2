//! Bad input at the HTTP boundary: bodies over the limit, nesting past the parser's depth, bytes that are not
//! UTF-8, NUL characters, unknown zones, impossible dates, negative and absurd durations, SQL and HTML in every text
//! field, and tokens that are expired, revoked, forged or someone else's. Every refusal is a problem+json naming
//! the field, and leaves every table as it was.

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{at, customer, spawn_app_at, spawn_app_with, zaragoza, Answer, TestApp};

const NOW: &str = "2026-03-16T09:00:00Z";

/// Row counts of every table a request could write, to prove a refused request wrote nothing.
fn rows(app: &TestApp) -> Vec<(&'static str, i64)> {
    use diesel::prelude::*;
    use tendero::db::schema::{
        absences, agents, api_tokens, calendar_tokens, customers, idempotency_keys, interactions, promise_events,
        promises, sends, teams, timers, web_sessions, webhook_subscriptions,
    };
    app.db
        .read_blocking(|conn| {
            Ok(vec![
                ("teams", teams::table.count().get_result(conn)?),
                ("agents", agents::table.count().get_result(conn)?),
                ("api_tokens", api_tokens::table.count().get_result(conn)?),
                ("customers", customers::table.count().get_result(conn)?),
                ("interactions", interactions::table.count().get_result(conn)?),
                ("promises", promises::table.count().get_result(conn)?),
                ("promise_events", promise_events::table.count().get_result(conn)?),
                ("timers", timers::table.count().get_result(conn)?),
                ("absences", absences::table.count().get_result(conn)?),
                ("idempotency_keys", idempotency_keys::table.count().get_result(conn)?),
                ("sends", sends::table.count().get_result(conn)?),
                ("webhook_subscriptions", webhook_subscriptions::table.count().get_result(conn)?),
                ("calendar_tokens", calendar_tokens::table.count().get_result(conn)?),
                ("web_sessions", web_sessions::table.count().get_result(conn)?),
            ])
        })
        .expect("row counts")
}

/// Sends raw bytes as a JSON body.
async fn post_bytes(app: &TestApp, path: &str, token: &str, body: Vec<u8>) -> Answer {
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    read(response).await
}

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

/// Asserts a problem with this status whose first field error is `field` with `code`.
fn assert_field(answer: &Answer, status: u16, field: &str, code: &str) {
    answer.assert_problem(status);
    let fields = answer.error_fields();
    assert!(
        fields.first().is_some_and(|(f, c)| f == field && c == code),
        "expected {field}/{code}, got {fields:?}: {}",
        answer.body
    );
}

/// One HTTP/1.1 exchange over a plain socket, for what reqwest will not send: a chunked body of unknown length.
fn raw_exchange(address: &str, head: &str, chunks: &[Vec<u8>]) -> String {
    let mut stream = std::net::TcpStream::connect(address.trim_start_matches("http://")).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream.write_all(head.as_bytes()).expect("head");
    for chunk in chunks {
        // The server may answer and stop reading before the end; what it answered is what counts.
        let framed = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk.clone(), b"\r\n".to_vec()].concat();
        if stream.write_all(&framed).is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((headers, body)) = text.split_once("\r\n\r\n") {
            let length = headers
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[actix_web::test]
async fn bodies_over_the_limit_are_413_on_every_route_with_or_without_a_length() {
    let app = spawn_app_with(at(NOW), |s| s.server.body_limit_bytes = 16_384).await;
    let z = zaragoza(&app).await;
    let c = customer(&app, &z.marta.token, "Ana Royo", "Europe/Madrid").await.id;
    let before = rows(&app);
    let big = "x".repeat(20_000);
    let routes = [
        (Method::POST, "/api/v1/teams".to_string(), json!({ "name": big })),
        (Method::POST, "/api/v1/agents".to_string(), json!({ "name": big, "email": "a@b.es", "time_zone": "UTC" })),
        (Method::POST, "/api/v1/customers".to_string(), json!({ "name": big, "time_zone": "Europe/Madrid" })),
        (Method::PATCH, format!("/api/v1/customers/{c}"), json!({ "notes": big })),
        (
            Method::POST,
            format!("/api/v1/customers/{c}/interactions"),
            json!({ "channel": "phone", "direction": "outbound", "outcome": "reached", "summary": big }),
        ),
        (
            Method::POST,
            "/api/v1/promises".to_string(),
            json!({ "customer_id": c, "kind": "callback", "title": big, "due_local": "2026-03-17T10:00" }),
        ),
        (Method::POST, "/api/v1/promises/preview".to_string(), json!({ "customer_id": c, "due_local": big })),
        (Method::POST, "/api/v1/promises/prm_x/keep".to_string(), json!({ "note": big })),
        (Method::POST, "/api/v1/webhooks".to_string(), json!({ "url": format!("https://example.com/{big}") })),
    ];
    for (method, path, body) in routes {
        let answer = app.send(method.clone(), &path, Some(&app.admin), Some(&body)).await;
        answer.assert_problem(413);
        assert_eq!(answer.body["type"], "/problems/payload-too-large", "{method} {path}");
        assert!(answer.body["detail"].as_str().unwrap().contains("16384"), "{}", answer.body);
    }

    // Just under the limit the body is read, and refused for what it says, not for its size.
    let under = app
        .post("/api/v1/customers", &app.admin, json!({ "name": "y".repeat(16_000), "time_zone": "Europe/Madrid" }))
        .await;
    assert_field(&under, 422, "name", "too_long");

    // Without Content-Length (chunked) the limit is enforced while reading.
    let head = format!(
        "POST /api/v1/teams HTTP/1.1\r\nHost: tendero\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.admin
    );
    let body = format!("{{\"name\": \"{}\"}}", "z".repeat(40_000)).into_bytes();
    let chunks: Vec<Vec<u8>> = body.chunks(4096).map(<[u8]>::to_vec).collect();
    let address = app.address.clone();
    let answer = actix_web::rt::task::spawn_blocking(move || raw_exchange(&address, &head, &chunks)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{}", answer.chars().take(300).collect::<String>());
    assert!(answer.contains("application/problem+json") && answer.contains("/problems/payload-too-large"));

    assert_eq!(app.get("/api/v1/teams", &app.admin).await.status.as_u16(), 200);
    assert_eq!(rows(&app), before, "a body over the limit writes nothing");
}

#[actix_web::test]
async fn nesting_past_the_parser_depth_is_400_and_the_server_keeps_serving() {
    let app = spawn_app_at(at(NOW)).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let before = rows(&app);

    // 10,000 levels of arrays as the whole body: an object is expected, so the first level is already refused.
    let arrays = "[".repeat(10_000) + &"]".repeat(10_000);
    let answer = post_bytes(&app, "/api/v1/customers", marta, arrays.clone().into_bytes()).await;
    answer.assert_problem(400);
    assert_eq!(answer.error_fields()[0].1, "malformed");

    // The same arrays where any JSON is taken (an agent's shift): the parser's depth limit stops them.
    let body = format!(
        "{{\"name\": \"Deep\", \"email\": \"deep@tendero.test\", \"time_zone\": \"UTC\", \"shift\": {arrays}}}"
    );
    let answer = post_bytes(&app, "/api/v1/agents", &app.admin, body.into_bytes()).await;
    answer.assert_problem(400);
    assert!(answer.error_fields()[0].0.starts_with("shift"), "{}", answer.body["errors"]);
    assert!(answer.body["detail"].as_str().unwrap().contains("recursion limit"), "{}", answer.body);

    // 10,000 levels of objects inside a field that takes any JSON: refused, naming that field.
    let objects = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
    let body = format!("{{\"name\": \"Ana Royo\", \"time_zone\": \"Europe/Madrid\", \"contact_window\": {objects}}}");
    let answer = post_bytes(&app, "/api/v1/customers", marta, body.into_bytes()).await;
    answer.assert_problem(400);
    let (field, code) = answer.error_fields()[0].clone();
    assert!(field.starts_with("contact_window"), "{field}");
    assert_eq!(code, "malformed");
    assert!(answer.body["detail"].as_str().unwrap().contains("recursion limit"), "{}", answer.body);

    // Deep, but within the parser's depth: read, then refused as a window that is not one.
    let shallow = "{\"a\":".repeat(100) + "1" + &"}".repeat(100);
    let body = format!("{{\"name\": \"Ana Royo\", \"time_zone\": \"Europe/Madrid\", \"contact_window\": {shallow}}}");
    let answer = post_bytes(&app, "/api/v1/customers", marta, body.into_bytes()).await;
    answer.assert_problem(422);
    assert_eq!(answer.error_fields()[0].0, "contact_window", "{}", answer.body);

    // Unbalanced: 30,000 openers and no closers.
    let open = "[".repeat(30_000);
    post_bytes(&app, "/api/v1/promises", marta, open.into_bytes()).await.assert_problem(400);

    assert_eq!(rows(&app), before, "nothing was written");
    // Still serving, on every worker: reads and a write.
    for _ in 0..4 {
        assert_eq!(app.client.get(format!("{}/healthz", app.address)).send().await.unwrap().status().as_u16(), 200);
    }
    customer(&app, marta, "Ana Royo", "Europe/Madrid").await;
}

#[actix_web::test]
async fn bytes_that_are_not_utf8_and_nul_characters_are_400_naming_the_field() {
    let app = spawn_app_at(at(NOW)).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let before = rows(&app);

    let not_utf8: [&[u8]; 4] = [
        b"{\"name\": \"Ana \xff\xfe Royo\", \"time_zone\": \"Europe/Madrid\"}",
        // An overlong encoding of '/'.
        b"{\"name\": \"Ana \xc0\xaf\", \"time_zone\": \"Europe/Madrid\"}",
        // A UTF-16 surrogate encoded as UTF-8 (CESU).
        b"{\"name\": \"Ana \xed\xa0\x80\", \"time_zone\": \"Europe/Madrid\"}",
        // A lone surrogate as an escape.
        b"{\"name\": \"Ana \\ud800\", \"time_zone\": \"Europe/Madrid\"}",
    ];
    for body in not_utf8 {
        let answer = post_bytes(&app, "/api/v1/customers", marta, body.to_vec()).await;
        assert_field(&answer, 400, "name", "malformed");
    }
    // Cut in the middle of a character, and bytes in a key.
    post_bytes(&app, "/api/v1/customers", marta, b"{\"name\": \"Ana \xe2\x82".to_vec()).await.assert_problem(400);
    post_bytes(&app, "/api/v1/customers", marta, b"{\"na\xffme\": \"Ana\"}".to_vec()).await.assert_problem(400);
    // Latin-1 sent as if it were UTF-8.
    let latin1 =
        b"{\"channel\": \"phone\", \"direction\": \"outbound\", \"outcome\": \"reached\", \"summary\": \"Le\xf3n\"}";
    let answer = post_bytes(&app, &format!("/api/v1/customers/{c}/interactions"), marta, latin1.to_vec()).await;
    assert_field(&answer, 400, "summary", "malformed");

    // NUL characters: PostgreSQL cannot store them, so they are refused on every backend, naming the field.
    let nul = [
        ("/api/v1/customers", json!({ "name": "Ana\u{0}Royo", "time_zone": "Europe/Madrid" }), "name"),
        (
            "/api/v1/customers",
            json!({ "name": "Ana", "time_zone": "Europe/Madrid", "facts": ["ok", "a\u{0}b"] }),
            "facts[1]",
        ),
        (
            "/api/v1/promises",
            json!({ "customer_id": c, "kind": "callback", "title": "\u{0}", "due_local": "2026-03-17T10:00" }),
            "title",
        ),
        (
            "/api/v1/promises",
            json!({ "customer_id": format!("{c}\u{0}"), "kind": "callback", "title": "x", "due_local": "2026-03-17T10:00" }),
            "customer_id",
        ),
    ];
    for (path, body, field) in nul {
        assert_field(&app.post(path, marta, body).await, 400, field, "invalid_character");
    }
    let patch = app.patch(&format!("/api/v1/customers/{c}"), marta, json!({ "notes": "a\u{0}" })).await;
    assert_field(&patch, 400, "notes", "invalid_character");
    assert_field(&app.get("/api/v1/customers?q=Ana%00", marta).await, 400, "q", "invalid_character");
    assert_field(&app.get(&format!("/api/v1/customers/{c}%00"), marta).await, 400, "path", "invalid_character");
    assert_field(&app.get("/api/v1/promises?owner=me&status=open%00", marta).await, 400, "status", "invalid_character");
    // The pages too: a NUL in a page's path, and in the login form, which reads the database before any session.
    let http = reqwest::Client::new();
    let page = read(http.get(format!("{}/customers/{c}%00", app.address)).send().await.expect("GET page")).await;
    assert_field(&page, 400, "path", "invalid_character");
    let login = http
        .post(format!("{}/login", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=ana%00%40example.test&password=x&csrf=y")
        .send()
        .await
        .expect("POST /login");
    assert_field(&read(login).await, 400, "email", "invalid_character");
    assert_eq!(rows(&app), before, "nothing was written");

    // A backslash followed by the text u0000 is not a NUL, and is kept as sent.
    let text = "C:\\u0000\\dir";
    let kept = app.created("/api/v1/customers", marta, json!({ "name": text, "time_zone": "Europe/Madrid" })).await;
    assert_eq!(kept["name"], text);
}

#[actix_web::test]
async fn unknown_time_zones_are_422_naming_the_field_everywhere() {
    let app = spawn_app_at(at(NOW)).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let p = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": c, "kind": "callback", "title": "Te llamo", "due_local": "2026-03-17T10:00" }),
        )
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    let before = rows(&app);
    let long = "Europe/".to_string() + &"x".repeat(5_000);
    let zones = ["Mars/Olympus", "Europe/Zaragoza", "", "UTC+01:00", "../../etc/passwd", "Europe/Madrid\nX", &long];
    for zone in zones {
        let create = app.post("/api/v1/customers", marta, json!({ "name": "Ana", "time_zone": zone })).await;
        assert_field(&create, 422, "time_zone", "unknown_time_zone");
        let patch = app.patch(&format!("/api/v1/customers/{c}"), marta, json!({ "time_zone": zone })).await;
        assert_field(&patch, 422, "time_zone", "unknown_time_zone");
        let agent = app
            .post(
                "/api/v1/agents",
                &app.admin,
                json!({ "name": "Nuevo", "email": "nuevo@tendero.test", "time_zone": zone }),
            )
            .await;
        assert_field(&agent, 422, "time_zone", "unknown_time_zone");
        let agent_patch =
            app.patch(&format!("/api/v1/agents/{}", z.jorge.id), &app.admin, json!({ "time_zone": zone })).await;
        assert_field(&agent_patch, 422, "time_zone", "unknown_time_zone");
        let due = json!({ "customer_id": c, "kind": "callback", "title": "x", "due_local": "2026-03-17T10:00", "time_zone": zone });
        assert_field(&app.post("/api/v1/promises", marta, due).await, 422, "time_zone", "unknown_time_zone");
        let preview = json!({ "customer_id": c, "due_local": "2026-03-17T10:00", "time_zone": zone });
        assert_field(
            &app.post("/api/v1/promises/preview", marta, preview).await,
            422,
            "time_zone",
            "unknown_time_zone",
        );
        let reschedule =
            json!({ "due_local": "2026-03-17T12:00", "time_zone": zone, "reason": "r", "initiated_by": "customer" });
        let answer = app.post(&format!("/api/v1/promises/{pid}/reschedule"), marta, reschedule).await;
        assert_field(&answer, 422, "time_zone", "unknown_time_zone");
    }
    // An echoed zone is clipped, not a megabyte of garbage sent back.
    let create = app.post("/api/v1/customers", marta, json!({ "name": "Ana", "time_zone": long })).await;
    assert!(create.body["detail"].as_str().unwrap().len() < 400, "{}", create.body["detail"]);

    assert_eq!(rows(&app), before, "nothing was written");
    let customer = app.get(&format!("/api/v1/customers/{c}"), marta).await.body;
    assert_eq!(customer["time_zone"], "Europe/Madrid");
    assert_eq!(app.get(&format!("/api/v1/agents/{}", z.jorge.id), &app.admin).await.body["time_zone"], "Europe/Madrid");
    assert_eq!(app.get(&format!("/api/v1/promises/{pid}"), marta).await.body["version"], 1);
}

#[actix_web::test]
async fn impossible_dates_and_year_10000_are_422_naming_the_field() {
    let app = spawn_app_at(at(NOW)).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let p = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": c, "kind": "callback", "title": "Te llamo", "due_local": "2026-03-17T10:00" }),
        )
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    let before = rows(&app);

    let locals = [
        "10000-01-01T10:00",
        "+10000-01-01T10:00",
        "99999-12-31T10:00",
        "0000-01-01T10:00",
        "-0001-01-01T10:00",
        "2026-02-29T10:00",
        "2026-04-31T10:00",
        "2026-13-01T10:00",
        "2026-00-10T10:00",
        "2026-03-17T24:00",
        "2026-03-17T10:60",
        "2026-03-17T10:00:61",
        "2026-03-17",
        "17/03/2026 10:00",
        "tomorrow at ten",
        "",
    ];
    for local in locals {
        let create = json!({ "customer_id": c, "kind": "callback", "title": "x", "due_local": local });
        let answer = app.post("/api/v1/promises", marta, create).await;
        answer.assert_problem(422);
        assert_eq!(answer.error_fields()[0].0, "due_local", "{local}: {}", answer.body);
        let preview =
            app.post("/api/v1/promises/preview", marta, json!({ "customer_id": c, "due_local": local })).await;
        preview.assert_problem(422);
        assert_eq!(preview.error_fields()[0].0, "due_local", "{local}: {}", preview.body);
        let reschedule = json!({ "due_local": local, "reason": "r", "initiated_by": "customer", "version": 1 });
        let answer = app.post(&format!("/api/v1/promises/{pid}/reschedule"), marta, reschedule).await;
        answer.assert_problem(422);
        assert_eq!(answer.error_fields()[0].0, "due_local", "{local}: {}", answer.body);
    }

    // Instants in year 10000 and beyond, wherever an instant is taken.
    for instant in ["10000-01-01T00:00:00Z", "+10000-01-01T00:00:00Z", "2026-02-30T10:00:00Z", "2026-03-17T10:00:00"] {
        let contact = json!({ "channel": "phone", "direction": "outbound", "outcome": "reached", "summary": "s", "occurred_at": instant });
        let answer = app.post(&format!("/api/v1/customers/{c}/interactions"), marta, contact).await;
        assert_field(&answer, 422, "occurred_at", "invalid_instant");
        let absence = json!({ "starts_at": instant, "ends_at": "2026-03-20T18:00:00Z" });
        let answer = app.post(&format!("/api/v1/agents/{}/absences", z.marta.id), marta, absence).await;
        assert_field(&answer, 422, "starts_at", "invalid_instant");
        let update = json!({ "customer_id": c, "kind": "update", "title": "x", "recurrence": { "cron": "0 10 * * mon-fri", "until": instant } });
        assert_field(&app.post("/api/v1/promises", marta, update).await, 422, "recurrence.until", "invalid_instant");
        let query = format!("/api/v1/promises?due_from={}", instant.replace('+', "%2B"));
        assert_field(&app.get(&query, marta).await, 422, "due_from", "invalid_instant");
    }
    for date in ["10000-01-01", "%2B262143-12-31", "2026-02-29", "2026-3-1x"] {
        let answer = app.get(&format!("/api/v1/agents/me/agenda?date={date}"), marta).await;
        assert_field(&answer, 422, "date", "invalid_date");
    }
    for period in ["from=10000-01-01", "to=2026-02-30", "from=2026-03-20&to=2026-03-01"] {
        let answer = app.get(&format!("/api/v1/metrics/promises?{period}"), &app.admin).await;
        answer.assert_problem(422);
    }

    assert_eq!(rows(&app), before, "nothing was written");
    let promise = app.get(&format!("/api/v1/promises/{pid}"), marta).await.body;
    assert_eq!((promise["version"].clone(), promise["due_local"].clone()), (json!(1), json!("2026-03-17T10:00:00")));
}

#[actix_web::test]
async fn negative_and_absurd_durations_are_422_naming_the_field() {
    let app = spawn_app_at(at(NOW)).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let p = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": c, "kind": "deadline", "title": "Te mando el presupuesto", "within": "P3D" }),
        )
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    let before = rows(&app);
    let callback = |extra: Value| {
        let mut body = json!({ "customer_id": c, "kind": "callback", "title": "x", "due_local": "2026-03-17T10:00" });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };

    let durations = [
        "-PT5M",
        "\u{2212}PT5M",
        "PT-5M",
        "P-1D",
        "P1Y",
        "P1M",
        "P",
        "PT",
        "",
        "15 minutes",
        "PT1e9S",
        "P36601D",
        "P99999999999999999999D",
        "PT99999999999999999999999999999999H",
        "PT0.0000000001S",
    ];
    for text in durations {
        let answer = app.post("/api/v1/promises", marta, callback(json!({ "grace": text }))).await;
        assert_field(&answer, 422, "grace", "invalid_duration");
        let answer = app.post("/api/v1/promises", marta, callback(json!({ "lead": ["PT10M", text] }))).await;
        assert_field(&answer, 422, "lead[1]", "invalid_duration");
    }
    let many = vec!["PT1M"; 11];
    let answer = app.post("/api/v1/promises", marta, callback(json!({ "lead": many }))).await;
    assert_field(&answer, 422, "lead", "too_many");

    let deadline = |within: Value| json!({ "customer_id": c, "kind": "deadline", "title": "x", "within": within });
    for within in ["-P3D", "P-3D", "P0.5D", "PT5H", "P1M", "P1Y", "P3661D", "P9999999D", "P4294967296D", "3 days", ""] {
        let answer = app.post("/api/v1/promises", marta, deadline(json!(within))).await;
        assert_field(&answer, 422, "within", "invalid_relative_deadline");
        let reschedule = json!({ "within": within, "reason": "r", "initiated_by": "customer", "version": 1 });
        let answer = app.post(&format!("/api/v1/promises/{pid}/reschedule"), marta, reschedule).await;
        assert_field(&answer, 422, "within", "invalid_relative_deadline");
    }
    for days in [0, 2_601] {
        let body = json!({ "customer_id": c, "kind": "deadline", "title": "x", "within_business_days": days });
        let answer = app.post("/api/v1/promises", marta, body).await;
        assert_field(&answer, 422, "within_business_days", "invalid_relative_deadline");
    }
    // Not a whole number of days that fits at all: the body cannot be read as the type.
    for days in [json!(-1), json!(4_294_967_296_u64), json!(1.5), json!("3")] {
        let body = json!({ "customer_id": c, "kind": "deadline", "title": "x", "within_business_days": days });
        assert_field(&app.post("/api/v1/promises", marta, body).await, 400, "within_business_days", "malformed");
    }

    assert_eq!(rows(&app), before, "nothing was written");
    assert_eq!(app.get(&format!("/api/v1/promises/{pid}"), marta).await.body["version"], 1);
}

/// Strings that would do damage if they were ever pasted into SQL, HTML or a template instead of bound or escaped.
const SQL: &str = "Robert'); DROP TABLE customers;--";
const SQL_OR: &str = "' OR '1'='1' --";
const HTML: &str = "<script>alert(\"xss\")</script><img src=x onerror=alert(1)>";
const TEMPLATE: &str = "{{7*7}} {{{raw}}} ${jndi:ldap://x} %s%n";

#[actix_web::test]
async fn sql_and_html_in_every_text_field_are_stored_and_returned_verbatim() {
    let app = spawn_app_at(at(NOW)).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let other = customer(&app, marta, "Luis Gracia", "Europe/Madrid").await.id;
    let teams_before = app.get("/api/v1/teams", &app.admin).await.body.as_array().unwrap().len();

    let name = format!("{SQL} {HTML}");
    let notes = format!("\"; DELETE FROM promises; --\n{HTML}\n{TEMPLATE}\n\u{202e}reversed \u{1F600} &lt;b&gt;");
    let facts = vec![
        "1 UNION SELECT token_hash FROM api_tokens --".to_string(),
        "<iframe src=\"javascript:alert(1)\"></iframe>".to_string(),
        "%' AND 1=1 --".to_string(),
        TEMPLATE.to_string(),
    ];
    let external_ref = "ext-1'; UPDATE agents SET role='admin' WHERE '1'='1";
    let email = "o'brien+<script>@example.com";
    let sent = json!({
        "name": name, "time_zone": "Europe/Madrid", "phone": SQL_OR, "email": email, "notes": notes,
        "facts": facts, "external_ref": external_ref,
    });
    let created = app.created("/api/v1/customers", marta, sent).await;
    let id = created["id"].as_str().unwrap().to_string();
    let expect = |c: &Value| {
        assert_eq!(c["name"], name.as_str());
        assert_eq!(c["phone"], SQL_OR);
        assert_eq!(c["email"], email);
        assert_eq!(c["notes"], notes.as_str());
        assert_eq!(c["facts"], json!(facts));
        assert_eq!(c["external_ref"], external_ref);
    };
    expect(&created);
    expect(&app.get(&format!("/api/v1/customers/{id}"), marta).await.body);
    expect(&app.get(&format!("/api/v1/customers/{id}/brief"), marta).await.body["customer"]);
    let stored = app.db.read_blocking({
        let id = id.clone();
        move |conn| Ok(tendero::repo::customers::find(conn, &id)?.expect("the row"))
    });
    let stored = stored.unwrap();
    assert_eq!((stored.name.as_str(), stored.phone.as_deref()), (name.as_str(), Some(SQL_OR)));
    assert_eq!((stored.notes.as_str(), stored.external_ref.as_deref()), (notes.as_str(), Some(external_ref)));
    assert_eq!(serde_json::from_str::<Vec<String>>(&stored.facts).unwrap(), facts);

    // A search for an injection finds the customer that holds it literally, and nobody else.
    for (q, hits) in
        [("%27%20OR%20%271%27%3D%271", 1), ("DROP%20TABLE", 1), ("%3Cscript%3E", 1), ("UPDATE%20agents", 1)]
    {
        let found = app.get(&format!("/api/v1/customers?q={q}"), marta).await.body;
        let ids: Vec<&str> = found["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), hits, "q={q}: {ids:?}");
        assert!(!ids.contains(&other.as_str()), "q={q} must not match every customer");
    }

    // Interactions and promises, and the notes and reasons of everything that happens to a promise.
    let summary = format!("Called; she said \"'; DROP TABLE interactions; --\" {HTML}");
    let contact = json!({ "channel": "phone", "direction": "inbound", "outcome": "reached", "summary": summary });
    let logged = app.created(&format!("/api/v1/customers/{id}/interactions"), marta, contact).await;
    assert_eq!(logged["interaction"]["summary"], summary.as_str());
    let title = format!("<b>Te llamo</b> {SQL_OR}");
    let details = format!("</textarea>{HTML}{TEMPLATE}");
    let promise = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": id, "kind": "callback", "title": title, "details": details, "due_local": "2026-03-17T10:00" }),
        )
        .await;
    assert_eq!(
        (promise["title"].as_str(), promise["details"].as_str()),
        (Some(title.as_str()), Some(details.as_str()))
    );
    let pid = promise["id"].as_str().unwrap().to_string();
    let reason = format!("{SQL} {TEMPLATE}");
    app.created(
        &format!("/api/v1/promises/{pid}/reschedule"),
        marta,
        json!({ "due_local": "2026-03-17T12:00", "reason": reason, "initiated_by": "customer", "version": 1 }),
    )
    .await;
    let handover_note = format!("{HTML} --");
    app.created(
        &format!("/api/v1/promises/{pid}/handover"),
        marta,
        json!({ "to_agent_id": z.jorge.id, "note": handover_note, "version": 2 }),
    )
    .await;
    let keep_note = "'); UPDATE promises SET status='broken' WHERE ('1'='1";
    let kept = app
        .created(&format!("/api/v1/promises/{pid}/keep"), &z.jorge.token, json!({ "note": keep_note, "version": 3 }))
        .await;
    assert_eq!((kept["status"].as_str(), kept["resolution_note"].as_str()), (Some("kept"), Some(keep_note)));
    let full = app.get(&format!("/api/v1/promises/{pid}"), marta).await.body;
    assert_eq!((full["title"].as_str(), full["details"].as_str()), (Some(title.as_str()), Some(details.as_str())));
    let ledger = full["ledger"].as_array().unwrap();
    assert_eq!(
        ledger.iter().map(|e| e["kind"].as_str().unwrap()).collect::<Vec<_>>(),
        ["created", "rescheduled", "handed_over", "kept"]
    );
    assert_eq!(ledger[1]["data"]["reason"], reason.as_str());
    assert_eq!(ledger[2]["data"]["note"], handover_note.as_str());
    assert_eq!(ledger[3]["data"]["note"], keep_note);

    let second = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": id, "kind": "deadline", "title": HTML, "within": "P3D" }),
        )
        .await;
    let cancel_reason = format!("{SQL_OR}\n{HTML}");
    let cancelled = app
        .created(
            &format!("/api/v1/promises/{}/cancel", second["id"].as_str().unwrap()),
            marta,
            json!({ "reason": cancel_reason, "initiated_by": "customer" }),
        )
        .await;
    assert_eq!(cancelled["resolution_note"], cancel_reason.as_str());

    // The database holds exactly what was sent, and the injections did nothing to it.
    let (row, interaction) = app
        .db
        .read_blocking({
            let (pid, iid) = (pid.clone(), logged["interaction"]["id"].as_str().unwrap().to_string());
            move |conn| {
                Ok((
                    tendero::repo::promises::find(conn, &pid)?.expect("promise row"),
                    tendero::repo::interactions::find(conn, &iid)?.expect("interaction row"),
                ))
            }
        })
        .unwrap();
    assert_eq!(
        (row.title.as_str(), row.details.as_str(), row.status.as_str()),
        (title.as_str(), details.as_str(), "kept")
    );
    assert_eq!(row.resolution_note.as_deref(), Some(keep_note));
    assert_eq!(interaction.summary, summary);
    let timeline = app.get(&format!("/api/v1/customers/{id}/timeline"), marta).await.body;
    assert!(timeline["items"].as_array().unwrap().iter().any(|e| e["interaction"]["summary"] == summary.as_str()));
    assert_eq!(app.get("/api/v1/teams", &app.admin).await.body.as_array().unwrap().len(), teams_before);
    assert_eq!(app.get(&format!("/api/v1/agents/{}", z.marta.id), &app.admin).await.body["role"], "agent");
    let all = app.get("/api/v1/customers?limit=500", &app.admin).await.body;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn expired_revoked_deactivated_and_forged_credentials_are_401_and_write_nothing() {
    let app = spawn_app_at(at(NOW)).await;
    let z = zaragoza(&app).await;
    let (marta_id, marta) = (z.marta.id.clone(), z.marta.token.clone());
    let c = customer(&app, &marta, "Ana Royo", "Europe/Madrid").await.id;
    let before = rows(&app);
    let body = json!({ "name": "Intruso", "time_zone": "Europe/Madrid" });
    let refused = |answer: Answer, what: &str| {
        answer.assert_problem(401);
        assert_eq!(answer.headers.get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"), "{what}");
        answer
    };

    // Forged: well-formed but unknown, one character off a real one, truncated, extended, huge, not the scheme.
    let mut flipped = marta.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let forged = [
        format!("tnd_{}", "A".repeat(43)),
        flipped,
        marta[..marta.len() - 1].to_string(),
        format!("{marta}x"),
        format!("tnd_{}", "x".repeat(4_000)),
        format!("{marta}' OR '1'='1"),
        "null".to_string(),
    ];
    for token in &forged {
        let answer = app.send(Method::POST, "/api/v1/customers", Some(token), Some(&body)).await;
        let answer = refused(answer, token);
        assert_eq!(answer.body["detail"], "the token is unknown or revoked");
        refused(app.get(&format!("/api/v1/customers/{c}"), token).await, token);
    }
    for header in ["Bearer ", "Bearer", "Basic YTpi", &format!("Token {marta}"), &marta] {
        let answer = app
            .client
            .post(format!("{}/api/v1/customers", app.address))
            .header("Authorization", header)
            .json(&body)
            .send()
            .await
            .unwrap();
        refused(read(answer).await, header);
    }
    let not_text = reqwest::header::HeaderValue::from_bytes(b"Bearer tnd_\xff\xfe").unwrap();
    let answer = app.client.get(format!("{}/api/v1/customers", app.address)).header("Authorization", not_text);
    refused(read(answer.send().await.unwrap()).await, "bytes that are not text");

    // Revoked: the token worked, then stops working at once.
    let issued = app.created(&format!("/api/v1/agents/{marta_id}/tokens"), &app.admin, json!({ "name": "crm" })).await;
    let (token_id, token) = (issued["id"].as_str().unwrap().to_string(), issued["token"].as_str().unwrap().to_string());
    assert_eq!(app.get("/api/v1/customers", &token).await.status.as_u16(), 200);
    let now = app.clock.now().timestamp_millis();
    app.db.write_blocking(move |conn| Ok(tendero::repo::tokens::revoke(conn, &token_id, now)?)).unwrap();
    refused(app.send(Method::POST, "/api/v1/customers", Some(&token), Some(&body)).await, "revoked");

    // Expired: a web session cookie past its end, even with its CSRF token.
    let (session, secret) =
        app.db.write_blocking(move |conn| Ok(tendero::repo::sessions::open(conn, &marta_id, now, 3_600_000)?)).unwrap();
    let with_cookie = |csrf: Option<&str>| {
        let mut request = app
            .client
            .post(format!("{}/api/v1/customers", app.address))
            .header("Cookie", format!("{}={secret}", tendero::auth::SESSION_COOKIE))
            .json(&body);
        if let Some(csrf) = csrf {
            request = request.header(tendero::auth::CSRF_HEADER, csrf);
        }
        request.send()
    };
    // Live but without the CSRF header: 403, nothing written.
    assert_eq!(with_cookie(None).await.unwrap().status().as_u16(), 403);
    app.clock.advance(chrono::Duration::hours(2));
    let expired = read(with_cookie(Some(&session.csrf_token)).await.unwrap()).await;
    let expired = refused(expired, "expired session");
    assert_eq!(expired.body["detail"], "the session has ended; log in again");

    // Deactivated: every token of an agent stops when the agent does.
    let jorge = z.jorge.token.clone();
    assert_eq!(app.get("/api/v1/customers", &jorge).await.status.as_u16(), 200);
    let off = app.patch(&format!("/api/v1/agents/{}", z.jorge.id), &app.admin, json!({ "active": false })).await;
    assert_eq!(off.status.as_u16(), 200, "{}", off.body);
    refused(app.send(Method::POST, "/api/v1/customers", Some(&jorge), Some(&body)).await, "deactivated");

    let mut after = rows(&app);
    let mut expected = before;
    for (table, count) in expected.iter_mut() {
        // What this test did on purpose: one token issued and one session opened.
        if *table == "api_tokens" || *table == "web_sessions" {
            *count += 1;
        }
    }
    after.sort();
    expected.sort();
    assert_eq!(after, expected, "a refused credential writes nothing");
    assert_eq!(app.get("/api/v1/customers?limit=500", &app.admin).await.body["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn a_token_used_with_someone_elses_ids_is_404_or_403_and_changes_nothing() {
    let app = spawn_app_at(at(NOW)).await;
    let z = zaragoza(&app).await;
    let (marta_id, marta) = (z.marta.id.clone(), z.marta.token.clone());
    let c = customer(&app, &marta, "Ana Royo", "Europe/Madrid").await.id;
    let p = app
        .created(
            "/api/v1/promises",
            &marta,
            json!({ "customer_id": c, "kind": "callback", "title": "Te llamo", "due_local": "2026-03-17T10:00" }),
        )
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    let before = rows(&app);
    let outsider = &z.outsider.token;
    let jorge = &z.jorge.token;

    // Another team's agent: the customer and the promise do not exist for them (404, not 403, so ids do not leak).
    let reads = [
        format!("/api/v1/customers/{c}"),
        format!("/api/v1/customers/{c}/brief"),
        format!("/api/v1/customers/{c}/timeline"),
        format!("/api/v1/promises/{pid}"),
        format!("/api/v1/agents/{marta_id}"),
    ];
    for path in &reads {
        let answer = app.get(path, outsider).await;
        answer.assert_problem(404);
        assert_eq!(answer.body["type"], "/problems/not-found");
    }
    let listed = app.get(&format!("/api/v1/promises?customer={c}"), outsider).await;
    assert!(listed.body["items"].as_array().unwrap().is_empty(), "{}", listed.body);
    let listed = app.get("/api/v1/customers?q=Ana", outsider).await;
    assert!(listed.body["items"].as_array().unwrap().is_empty(), "{}", listed.body);
    let writes = [
        (Method::PATCH, format!("/api/v1/customers/{c}"), json!({ "name": "Robada" })),
        (
            Method::POST,
            format!("/api/v1/customers/{c}/interactions"),
            json!({ "channel": "phone", "direction": "outbound", "outcome": "reached", "summary": "s", "promise_id": pid }),
        ),
        (
            Method::POST,
            "/api/v1/promises".to_string(),
            json!({ "customer_id": c, "kind": "callback", "title": "x", "due_local": "2026-03-17T11:00" }),
        ),
        (
            Method::POST,
            "/api/v1/promises/preview".to_string(),
            json!({ "customer_id": c, "due_local": "2026-03-17T11:00" }),
        ),
        (Method::POST, format!("/api/v1/promises/{pid}/keep"), json!({ "note": "done" })),
        (Method::POST, format!("/api/v1/promises/{pid}/cancel"), json!({ "reason": "r", "initiated_by": "agent" })),
        (
            Method::POST,
            format!("/api/v1/promises/{pid}/reschedule"),
            json!({ "due_local": "2026-03-17T12:00", "reason": "r", "initiated_by": "agent" }),
        ),
        (
            Method::POST,
            format!("/api/v1/promises/{pid}/handover"),
            json!({ "to_agent_id": z.outsider.id, "note": "mine" }),
        ),
        (
            Method::POST,
            format!("/api/v1/agents/{marta_id}/absences"),
            json!({ "starts_at": NOW, "ends_at": "2026-03-20T18:00:00Z" }),
        ),
    ];
    for (method, path, body) in &writes {
        let answer = app.send(method.clone(), path, Some(outsider), Some(body)).await;
        answer.assert_problem(404);
        assert!(answer.body["detail"].as_str().unwrap().contains("not found"), "{method} {path}: {}", answer.body);
    }

    // The same team, but not the owner: may read, may not act on the promise or see another agent's day.
    assert_eq!(app.get(&format!("/api/v1/promises/{pid}"), jorge).await.status.as_u16(), 200);
    for (path, body) in [
        (format!("/api/v1/promises/{pid}/keep"), json!({ "note": "done" })),
        (format!("/api/v1/promises/{pid}/cancel"), json!({ "reason": "r", "initiated_by": "customer" })),
        (
            format!("/api/v1/promises/{pid}/reschedule"),
            json!({ "due_local": "2026-03-17T12:00", "reason": "r", "initiated_by": "customer" }),
        ),
        (format!("/api/v1/promises/{pid}/handover"), json!({ "to_agent_id": z.jorge.id, "note": "mine now" })),
        (format!("/api/v1/agents/{marta_id}/absences"), json!({ "starts_at": NOW, "ends_at": "2026-03-20T18:00:00Z" })),
        (format!("/api/v1/agents/{marta_id}/tokens"), json!({ "name": "stolen" })),
        (format!("/api/v1/agents/{marta_id}/calendar-token"), json!({})),
    ] {
        let answer = app.post(&path, jorge, body).await;
        answer.assert_problem(403);
        assert_eq!(answer.body["type"], "/problems/forbidden", "{path}");
    }
    for path in [format!("/api/v1/agents/{marta_id}/agenda"), format!("/api/v1/agents/{marta_id}/prompts")] {
        app.get(&path, jorge).await.assert_problem(403);
    }
    let patch = app.patch(&format!("/api/v1/agents/{marta_id}"), jorge, json!({ "role": "admin" })).await;
    patch.assert_problem(403);

    assert_eq!(rows(&app), before, "nothing was written");
    let promise = app.get(&format!("/api/v1/promises/{pid}"), &marta).await.body;
    assert_eq!((promise["status"].as_str(), promise["version"].as_i64()), (Some("open"), Some(1)));
    assert_eq!(promise["owner_agent_id"], marta_id.as_str());
    assert_eq!(app.get(&format!("/api/v1/customers/{c}"), &marta).await.body["name"], "Ana Royo");
    assert_eq!(app.get(&format!("/api/v1/agents/{marta_id}"), &app.admin).await.body["role"], "agent");
}
