//! Getting prompts out of the building: signed webhooks to a real HTTP receiver (with retries), email to a real
//! SMTP server, and the calendar feed read by a real iCalendar parser.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::Duration;
use serde_json::{json, Value};

use crate::helpers::{at, customer, spawn_app_at, spawn_app_with, zaragoza};
use tendero::channels::webhook::verify;
use tendero::clock::Clock;

/// What the receiver saw: webhook-id, event type, whether the signature verified.
#[derive(Clone, Debug)]
struct Seen {
    id: String,
    kind: String,
    verified: bool,
    body: Value,
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    failures_left: Arc<Mutex<u32>>,
    secret: Arc<Mutex<String>>,
    clock: Clock,
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<Receiver>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let secret = state.secret.lock().unwrap().clone();
    let verified = verify(
        &secret,
        &header("webhook-id"),
        &header("webhook-timestamp"),
        &header("webhook-signature"),
        &body,
        state.clock.now().timestamp(),
        300,
    )
    .is_ok();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.seen.lock().unwrap().push(Seen {
        id: header("webhook-id"),
        kind: parsed["type"].as_str().unwrap_or("").to_string(),
        verified,
        body: parsed,
    });
    let mut failures = state.failures_left.lock().unwrap();
    if *failures > 0 {
        *failures -= 1;
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok().finish()
}

/// Starts a receiver on a free port that answers 500 to its first `failures` requests; returns it and its URL.
fn start_receiver(clock: &Clock, failures: u32) -> (Receiver, String) {
    let receiver = Receiver {
        seen: Arc::default(),
        failures_left: Arc::new(Mutex::new(failures)),
        secret: Arc::default(),
        clock: clock.clone(),
    };
    let data = web::Data::new(receiver.clone());
    let server = HttpServer::new(move || App::new().app_data(data.clone()).route("/hook", web::post().to(receive)))
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
    let url = format!("http://{}/hook", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    (receiver, url)
}

/// Signed webhooks reach a real receiver; a 500 is retried later with the same id; redelivery sends it again.
#[actix_web::test]
async fn webhooks_are_signed_retried_after_a_500_and_redeliverable() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let (receiver, url) = start_receiver(&app.clock, 1);

    let z = zaragoza(&app).await;
    let bad = app
        .post("/api/v1/webhooks", &app.admin, json!({ "url": "ftp://nowhere", "events": ["promise.exploded"] }))
        .await;
    bad.assert_problem(422);
    assert_eq!(bad.error_fields().len(), 2);
    app.post("/api/v1/webhooks", &z.marta.token, json!({ "url": url })).await.assert_problem(403);
    let sub = app
        .created(
            "/api/v1/webhooks",
            &app.admin,
            json!({ "url": url, "events": ["promise.created", "promise.due", "prompt.fired"] }),
        )
        .await;
    let secret = sub["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    *receiver.secret.lock().unwrap() = secret;
    let listed = app.get("/api/v1/webhooks", &app.admin).await.body;
    assert!(listed[0].get("secret").is_none(), "the secret is shown once");

    let marta = &z.marta.token;
    let c = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await.id;
    app.created("/api/v1/promises", marta, json!({ "customer_id": c, "kind": "callback", "title": "Te llamo mañana a las 11:00", "due_local": "2026-03-17T11:00", "lead": [] }))
        .await;

    let first = app.sender.run_once().await.unwrap();
    assert_eq!((first.delivered, first.retried, first.dead), (0, 1, 0));
    let deliveries =
        app.get(&format!("/api/v1/webhooks/{}/deliveries", sub["id"].as_str().unwrap()), &app.admin).await.body;
    assert_eq!(deliveries[0]["status"], "pending");
    assert_eq!(deliveries[0]["last_status"], 500);
    assert_eq!(app.sender.run_once().await.unwrap(), Default::default(), "not retried before its backoff");
    app.clock.advance(Duration::minutes(2));
    let second = app.sender.run_once().await.unwrap();
    assert_eq!(second.delivered, 1);

    app.at("2026-03-17T10:00:00Z").await;
    assert_eq!(app.sender.run_once().await.unwrap().delivered, 2, "prompt.fired and promise.due");
    let seen = receiver.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|s| s.verified), "{seen:?}");
    let kinds: Vec<&str> = seen.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "promise.created").count(), 2, "the retry carries the same event");
    assert_eq!(seen[0].id, seen[1].id, "a retry keeps its webhook-id");
    let due = seen.iter().find(|s| s.kind == "promise.due").unwrap();
    assert_eq!(due.body["data"]["confirmation"], "Te llamaremos el martes 17 de marzo a las 11:00, tu hora.");
    assert_eq!(due.body["data"]["promise"]["due_local"], "2026-03-17T11:00:00");

    let redeliver =
        app.post(&format!("/api/v1/webhooks/deliveries/{}/redeliver", seen[0].id), &app.admin, json!({})).await;
    assert_eq!(redeliver.status.as_u16(), 202, "{}", redeliver.body);
    assert_eq!(app.sender.run_once().await.unwrap().delivered, 1);
    let again = receiver.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(again.id, seen[0].id);
    assert!(again.verified);
}

#[derive(Clone, Default)]
struct Sink {
    mails: Arc<Mutex<Vec<String>>>,
    current: Arc<Mutex<Vec<u8>>>,
}

impl mailin_embedded::Handler for Sink {
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.lock().unwrap().extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let mail = String::from_utf8_lossy(&std::mem::take(&mut *self.current.lock().unwrap())).to_string();
        self.mails.lock().unwrap().push(mail);
        mailin_embedded::response::OK
    }
}

/// A due prompt is emailed to the agent through a real SMTP server.
#[actix_web::test]
async fn due_prompt_is_emailed_through_a_real_smtp_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sink = Sink::default();
    let mut server = mailin_embedded::Server::new(sink.clone());
    server.with_name("sink.test").with_ssl(mailin_embedded::SslConfig::None).unwrap().with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });

    let app = spawn_app_with(at("2026-03-16T09:00:00Z"), |s| {
        s.email.smtp_url = format!("smtp://127.0.0.1:{port}");
        s.email.from = "tendero@tendero.test".into();
    })
    .await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Pilar Ortega", "Europe/Madrid").await.id;
    app.created("/api/v1/promises", marta, json!({ "customer_id": c, "kind": "callback", "title": "Te llamo a las 11", "due_local": "2026-03-16T11:00", "lead": [] }))
        .await;
    app.at("2026-03-16T10:00:00Z").await;
    let report = app.sender.run_once().await.unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    let mails = sink.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("To: marta.gil@tendero.test"), "{}", mails[0]);
    assert!(mails[0].contains("Subject: "), "{}", mails[0]);
    assert!(mails[0].contains("Pilar Ortega"), "{}", mails[0]);
}

/// The calendar feed parses with a real iCalendar parser, carries an alarm per lead reminder, and stops working
/// once revoked.
#[actix_web::test]
async fn calendar_feed_parses_and_carries_the_alarms_until_revoked() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await.id;
    let p = app
        .created("/api/v1/promises", marta, json!({ "customer_id": c, "kind": "callback", "title": "Te llamo, sin falta; a las 11", "due_local": "2026-03-17T11:00", "lead": ["PT10M", "P1D"] }))
        .await;
    app.post(&format!("/api/v1/agents/{}/calendar-token", z.jorge.id), marta, json!({})).await.assert_problem(403);
    let token = app.created("/api/v1/agents/me/calendar-token", marta, json!({})).await;
    let url = token["url"].as_str().unwrap();
    let path = url.split_once("/api/v1/").map(|(_, rest)| format!("/api/v1/{rest}")).unwrap();
    let response = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let text = response.text().await.unwrap();
    let calendar = ical::IcalParser::new(text.as_bytes()).next().expect("a calendar").expect("it parses");
    assert_eq!(calendar.events.len(), 1);
    let event = &calendar.events[0];
    let prop =
        |name: &str| event.properties.iter().find(|p| p.name == name).and_then(|p| p.value.clone()).unwrap_or_default();
    assert_eq!(prop("UID"), format!("{}@tendero", p["id"].as_str().unwrap()));
    assert_eq!(prop("DTSTART"), "20260317T100000Z");
    // The parser hands back the escaped text, as RFC 5545 writes commas and semicolons.
    let summary = prop("SUMMARY").replace("\\,", ",").replace("\\;", ";");
    assert!(summary.contains("Te llamo, sin falta; a las 11"), "{summary}");
    assert!(prop("DESCRIPTION").contains("Europe/Madrid"), "{}", prop("DESCRIPTION"));
    let mut triggers: Vec<String> = event
        .alarms
        .iter()
        .flat_map(|a| a.properties.iter().filter(|p| p.name == "TRIGGER").filter_map(|p| p.value.clone()))
        .collect();
    triggers.sort();
    assert_eq!(triggers, ["-P1D", "-PT10M"]);

    let revoked = app.send(reqwest::Method::DELETE, "/api/v1/agents/me/calendar-token", Some(marta), None).await;
    assert_eq!(revoked.status.as_u16(), 204);
    app.send(reqwest::Method::GET, &path, None, None).await.assert_problem(404);
}

/// A receiver that never answers 2xx: retries back off for about a day, then the message is dead and listed so.
#[actix_web::test]
async fn webhook_that_keeps_failing_dies_after_about_a_day_and_is_listed_dead() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let (receiver, url) = start_receiver(&app.clock, u32::MAX);
    let sub = app.created("/api/v1/webhooks", &app.admin, json!({ "url": url, "events": ["promise.created"] })).await;
    let z = zaragoza(&app).await;
    let c = customer(&app, &z.marta.token, "Ana Royo", "Europe/Madrid").await.id;
    app.created(
        "/api/v1/promises",
        &z.marta.token,
        json!({ "customer_id": c, "kind": "callback", "title": "Te llamo", "due_local": "2026-03-17T11:00" }),
    )
    .await;
    let started = app.clock.now();
    let mut dead = 0;
    for _ in 0..60 {
        dead += app.sender.run_once().await.unwrap().dead;
        if dead > 0 {
            break;
        }
        app.clock.advance(Duration::minutes(30));
    }
    assert_eq!(dead, 1);
    let lived = app.clock.now() - started;
    assert!(lived >= Duration::hours(20) && lived <= Duration::hours(25), "died after {lived}");
    let deliveries =
        app.get(&format!("/api/v1/webhooks/{}/deliveries", sub["id"].as_str().unwrap()), &app.admin).await.body;
    assert_eq!(deliveries[0]["status"], "dead");
    assert!(deliveries[0]["attempts"].as_i64().unwrap() > 10, "{}", deliveries[0]);
    assert_eq!(receiver.seen.lock().unwrap().len() as i64, deliveries[0]["attempts"].as_i64().unwrap());
}

/// An integrator mirrors promises in their CRM: every transition arrives as its own signed event with its
/// details, a cancel agreed with the customer and an acknowledged prompt included, and a text only where it is
/// true ("we will call you" on a made promise, never on a kept or cancelled one).
#[actix_web::test]
async fn every_transition_reaches_the_integrator_with_its_details() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let (receiver, url) = start_receiver(&app.clock, 0);
    let z = zaragoza(&app).await;
    let sub = app.created("/api/v1/webhooks", &app.admin, json!({ "url": url })).await;
    *receiver.secret.lock().unwrap() = sub["secret"].as_str().unwrap().to_string();
    let marta = &z.marta.token;
    let victor = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await.id;
    let callback = app
        .created("/api/v1/promises", marta, json!({ "customer_id": victor, "kind": "callback", "title": "Te llamo mañana a las 11:00", "due_local": "2026-03-17T11:00", "lead": [] }))
        .await;
    let bill = app
        .created("/api/v1/promises", marta, json!({ "customer_id": victor, "kind": "deadline", "title": "Factura corregida en 15 días", "within": "P15D" }))
        .await;
    app.at("2026-03-17T10:00:00Z").await;
    let prompt = app.get(&format!("/api/v1/agents/{}/prompts", z.marta.id), marta).await.body[0].clone();
    let ack = app.post(&format!("/api/v1/prompts/{}/ack", prompt["id"].as_str().unwrap()), marta, json!({})).await;
    assert_eq!(ack.status.as_u16(), 200, "{}", ack.body);
    app.clock.set(at("2026-03-17T10:02:00Z"));
    app.created(
        &format!("/api/v1/customers/{victor}/interactions"),
        marta,
        json!({ "channel": "phone", "direction": "outbound", "outcome": "reached", "summary": "Router OK", "promise_id": callback["id"] }),
    )
    .await;
    let cancelled = app
        .post(
            &format!("/api/v1/promises/{}/cancel", bill["id"].as_str().unwrap()),
            marta,
            json!({ "reason": "Ya se la corrigieron en tienda", "initiated_by": "customer" }),
        )
        .await;
    assert_eq!(cancelled.body["status"], "cancelled");
    while app.sender.run_once().await.unwrap().delivered > 0 {}

    let seen = receiver.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|s| s.verified), "{seen:?}");
    let of = |kind: &str| {
        seen.iter().find(|s| s.kind == kind).unwrap_or_else(|| panic!("no {kind} in {seen:?}")).body.clone()
    };
    // The sender delivers in no promised order: each event is looked up by its promise.
    let created = seen
        .iter()
        .find(|s| s.kind == "promise.created" && s.body["data"]["promise"]["id"] == callback["id"])
        .unwrap_or_else(|| panic!("no promise.created for the callback in {seen:?}"))
        .body
        .clone();
    assert_eq!(created["data"]["confirmation"], "Te llamaremos el martes 17 de marzo a las 11:00, tu hora.");
    let acknowledged = of("prompt.acknowledged");
    assert_eq!(acknowledged["data"]["details"]["prompt_id"], prompt["id"]);
    let kept = of("promise.kept");
    assert_eq!(kept["data"]["details"]["timeliness"], "on_time");
    assert_eq!(kept["data"]["details"]["kept_at"], "2026-03-17T10:02:00Z");
    assert!(kept["data"].get("confirmation").is_none(), "{kept}");
    let cancel = of("promise.cancelled");
    assert_eq!(cancel["data"]["details"]["initiated_by"], "customer");
    assert_eq!(cancel["data"]["details"]["reason"], "Ya se la corrigieron en tienda");
    assert_eq!(cancel["data"]["promise"]["status"], "cancelled");
    assert!(cancel["data"].get("confirmation").is_none(), "{cancel}");
    assert!(seen.iter().all(|s| s.kind != "promise.broken"), "a cancel the customer agreed is not a broken promise");
}

/// Seed 001's agent is away when the callback falls due: the prompt goes to her recorded stand-in, and the
/// integrator hears of the routed hand-over like of any other, with who took it and why.
#[actix_web::test]
async fn a_prompt_routed_to_the_stand_in_is_announced_as_a_hand_over() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let (receiver, url) = start_receiver(&app.clock, 0);
    let z = zaragoza(&app).await;
    let sub =
        app.created("/api/v1/webhooks", &app.admin, json!({ "url": url, "events": ["promise.handed_over"] })).await;
    *receiver.secret.lock().unwrap() = sub["secret"].as_str().unwrap().to_string();
    let ayoze = &z.ayoze.token;
    let carmen = customer(&app, ayoze, "Carmen Déniz", "Atlantic/Canary").await.id;
    app.created(
        &format!("/api/v1/agents/{}/absences", z.ayoze.id),
        ayoze,
        json!({ "starts_at": "2026-03-17T00:00:00Z", "ends_at": "2026-03-18T00:00:00Z", "stand_in_agent_id": z.marta.id, "note": "Formación" }),
    )
    .await;
    app.created("/api/v1/promises", ayoze, json!({ "customer_id": carmen, "kind": "callback", "title": "Te llamo a las 10:00", "due_local": "2026-03-17T10:00", "lead": [] }))
        .await;
    assert_eq!(app.at("2026-03-17T10:00:00Z").await, 1);
    while app.sender.run_once().await.unwrap().delivered > 0 {}
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].verified);
    let details = &seen[0].body["data"]["details"];
    assert_eq!(details["routing"], true);
    assert_eq!(details["from"], json!(z.ayoze.id));
    assert_eq!(details["to"], json!([z.marta.id]));
    assert_eq!(details["note"], "Formación");
}
