//! Every error class answers problem+json naming the field, and a refused request writes nothing.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{at, customer, spawn_app_at, zaragoza, TestApp};

async fn customer_count(app: &TestApp) -> usize {
    app.get("/api/v1/customers?limit=500", &app.admin).await.body["items"].as_array().unwrap().len()
}

async fn promise_count(app: &TestApp) -> usize {
    app.get("/api/v1/promises?limit=500", &app.admin).await.body["items"].as_array().unwrap().len()
}

#[actix_web::test]
async fn missing_malformed_and_revoked_tokens_are_401() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let none = app.send(Method::GET, "/api/v1/customers", None, None).await;
    none.assert_problem(401);
    assert_eq!(none.headers.get("www-authenticate").unwrap(), "Bearer");
    app.get("/api/v1/customers", "tnd_forged").await.assert_problem(401);
    let basic = app
        .client
        .get(format!("{}/api/v1/teams", app.address))
        .header("Authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 401);
}

#[actix_web::test]
async fn malformed_bodies_are_400_naming_the_field_and_write_nothing() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let raw = |body: &'static str| {
        app.client
            .post(format!("{}/api/v1/customers", app.address))
            .bearer_auth(marta)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let broken = raw("{\"name\": ").await.unwrap();
    assert_eq!(broken.status().as_u16(), 400);
    let wrong_type = app.post("/api/v1/customers", marta, json!({ "name": 42, "time_zone": "Europe/Madrid" })).await;
    wrong_type.assert_problem(400);
    assert_eq!(wrong_type.error_fields()[0].0, "name");
    let missing = app.post("/api/v1/customers", marta, json!({ "name": "Sin zona" })).await;
    missing.assert_problem(400);
    assert_eq!(missing.error_fields()[0].0, "time_zone");
    let unknown = app
        .post(
            "/api/v1/customers",
            marta,
            json!({ "name": "X", "time_zone": "Europe/Madrid", "favourite_colour": "red" }),
        )
        .await;
    unknown.assert_problem(400);
    assert!(unknown.body["detail"].as_str().unwrap().contains("favourite_colour"));
    let invalid_utf8 = app
        .client
        .post(format!("{}/api/v1/customers", app.address))
        .bearer_auth(marta)
        .body(vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid_utf8.status().as_u16(), 400);
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let nested = app
        .client
        .post(format!("{}/api/v1/teams", app.address))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    // Under the size limit but nested far past serde_json's recursion limit: refused, not a stack overflow.
    assert_eq!(nested.status().as_u16(), 400);
    assert_eq!(customer_count(&app).await, 0);
}

#[actix_web::test]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let huge = "x".repeat(200_000);
    let answer = app.post("/api/v1/teams", &app.admin, json!({ "name": huge })).await;
    answer.assert_problem(413);
    assert!(app.get("/api/v1/teams", &app.admin).await.body.as_array().unwrap().is_empty());
}

#[actix_web::test]
async fn semantic_errors_are_422_naming_every_bad_field() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let bad = app
        .post(
            "/api/v1/customers",
            marta,
            json!({ "name": " ", "time_zone": "Europe/Zaragoza", "locale": "spanish!", "contact_window": "mon-fri 25:00-26:00", "region": "XX" }),
        )
        .await;
    bad.assert_problem(422);
    let fields: Vec<String> = bad.error_fields().into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["name", "time_zone", "locale", "contact_window", "region"]);
    assert_eq!(bad.error_fields()[1].1, "unknown_time_zone");
    assert_eq!(customer_count(&app).await, 0);

    let c = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let cases = [
        (json!({ "due_local": "2026-02-30T10:00" }), "due_local"),
        (json!({ "due_local": "2026-03-17T10:00", "time_zone": "Mars/Olympus" }), "time_zone"),
        (json!({ "due_local": "2026-03-17T10:00", "disambiguation": "whenever" }), "disambiguation"),
        (json!({ "due_local": "2026-03-15T10:00" }), "due_local"),
        (json!({ "due_local": "10000-01-01T10:00" }), "due_local"),
        (json!({ "due_local": "2026-03-17T10:00", "grace": "-PT5M" }), "grace"),
        (json!({ "due_local": "2026-03-17T10:00", "lead": ["P1Y"] }), "lead[0]"),
        (json!({ "due_local": "2026-03-17T10:00", "recurrence": { "cron": "61 * * * *" } }), "recurrence.cron"),
        (json!({}), "due_local"),
    ];
    for (extra, field) in cases {
        let mut body = json!({ "customer_id": c, "kind": "callback", "title": "Te llamo" });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let answer = app.post("/api/v1/promises", marta, body.clone()).await;
        answer.assert_problem(422);
        assert_eq!(answer.error_fields()[0].0, field, "{body} -> {}", answer.body);
    }
    let kinds = app
        .post(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": c, "kind": "favour", "title": "x", "due_local": "2026-03-17T10:00" }),
        )
        .await;
    assert_eq!(kinds.error_fields()[0], ("kind".to_string(), "invalid_value".to_string()));
    assert_eq!(promise_count(&app).await, 0);
    assert_eq!(app.ledger_rows(), 0, "a refused promise leaves nothing in the ledger");

    let limit = app.get("/api/v1/promises?limit=501", marta).await;
    limit.assert_problem(422);
    app.get("/api/v1/promises?cursor=%%%", marta).await.assert_problem(422);
    app.get("/api/v1/promises?due_from=yesterday", marta).await.assert_problem(422);
}

#[actix_web::test]
async fn unknown_ids_and_routes_are_404() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    app.get("/api/v1/customers/cus_nope", &z.marta.token).await.assert_problem(404);
    app.get("/api/v1/promises/prm_nope", &z.marta.token).await.assert_problem(404);
    app.get("/api/v1/nothing-here", &z.marta.token).await.assert_problem(404);
    let unknown_customer = app
        .post(
            "/api/v1/promises",
            &z.marta.token,
            json!({ "customer_id": "cus_nope", "kind": "callback", "title": "x", "due_local": "2026-03-17T10:00" }),
        )
        .await;
    unknown_customer.assert_problem(404);
}

#[actix_web::test]
async fn stale_versions_and_final_states_are_409() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
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
    let id = p["id"].as_str().unwrap();
    app.created(
        &format!("/api/v1/promises/{id}/reschedule"),
        marta,
        json!({ "due_local": "2026-03-17T12:00", "reason": "r", "initiated_by": "customer", "version": 1 }),
    )
    .await;
    let stale = app
        .post(
            &format!("/api/v1/promises/{id}/reschedule"),
            marta,
            json!({ "due_local": "2026-03-17T13:00", "reason": "r", "initiated_by": "customer", "version": 1 }),
        )
        .await;
    stale.assert_problem(409);
    assert_eq!(stale.body["current_version"], 2);
    let via_header = app
        .client
        .post(format!("{}/api/v1/promises/{id}/cancel", app.address))
        .bearer_auth(marta)
        .header("If-Match", "\"1\"")
        .json(&json!({ "reason": "r", "initiated_by": "customer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(via_header.status().as_u16(), 409);
    let full = app.get(&format!("/api/v1/promises/{id}"), marta).await.body;
    assert_eq!(full["due_local"], "2026-03-17T12:00:00");
    assert_eq!(full["ledger"].as_array().unwrap().len(), 2);
    assert_eq!(app.ledger_rows(), 2);
}

#[actix_web::test]
async fn idempotency_key_replays_the_first_answer_and_refuses_a_different_body() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let body = json!({ "customer_id": c, "kind": "callback", "title": "Te llamo", "due_local": "2026-03-17T10:00" });
    let send = |body: serde_json::Value| {
        app.client
            .post(format!("{}/api/v1/promises", app.address))
            .bearer_auth(marta)
            .header("Idempotency-Key", "call-ana-1")
            .json(&body)
            .send()
    };
    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    let second = send(body.clone()).await.unwrap();
    assert_eq!(second.status().as_u16(), 201);
    assert_eq!(second.headers().get("idempotent-replayed").unwrap(), "true");
    let second: serde_json::Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    let mut other = body;
    other["title"] = json!("Otra cosa");
    let third = send(other).await.unwrap();
    assert_eq!(third.status().as_u16(), 422);
    assert_eq!(promise_count(&app).await, 1);
}
