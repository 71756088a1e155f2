//! The scheduler, driven by a manual clock: every promise fires on time, to the same agent, with the
//! shopkeeper's card; absences route to the stand-in; missed and broken follow from time; recurrences keep their
//! wall-clock time across DST.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{at, customer, spawn_app_at, zaragoza, TestApp};

async fn ledger(app: &TestApp, id: &str, token: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/promises/{id}"), token).await.body["ledger"].as_array().unwrap().clone()
}

fn kinds(ledger: &[Value]) -> Vec<&str> {
    ledger.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

async fn inbox(app: &TestApp, token: &str) -> Vec<Value> {
    app.get("/api/v1/agents/me/prompts?open=false", token).await.body.as_array().unwrap().clone()
}

/// Seed 003: the callback agreed for 11:00 reaches the same agent at 10:50 and at 11:00 with the story; the
/// customer is out, the attempt keeps it, and the new 13:00 promise fires too.
#[actix_web::test]
async fn callback_at_eleven_prompts_the_same_agent_at_ten_fifty_and_eleven_then_again_at_one() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let jorge = &z.jorge.token;
    let victor = customer(&app, jorge, "Víctor Lanuza", "Europe/Madrid").await.id;
    app.patch(&format!("/api/v1/customers/{victor}"), jorge, json!({ "facts": ["Does not want TV"] })).await;
    app.created(
        &format!("/api/v1/customers/{victor}/interactions"),
        jorge,
        json!({ "channel": "phone", "direction": "inbound", "outcome": "reached", "summary": "Asked about fibre; wants a call tomorrow at 11" }),
    )
    .await;
    let p = app
        .created("/api/v1/promises", jorge, json!({ "customer_id": victor, "kind": "callback", "title": "Te llamo mañana a las 11:00", "due_local": "2026-03-17T11:00" }))
        .await;
    let id = p["id"].as_str().unwrap().to_string();

    assert_eq!(app.at("2026-03-17T09:49:59Z").await, 0, "nothing before 10:50 Madrid");
    assert_eq!(app.at("2026-03-17T09:50:00Z").await, 1);
    let lead = &inbox(&app, jorge).await[0];
    assert_eq!(lead["purpose"], "lead");
    assert_eq!(lead["agent_id"], json!(z.jorge.id));
    assert_eq!(lead["late_by_ms"], 0);
    let body = lead["body"].as_str().unwrap();
    assert!(body.contains("Recordatorio: en 10 min"), "{body}");
    assert!(body.contains("Su hora: 10:50 (Europe/Madrid, UTC+01:00)"), "{body}");
    assert!(body.contains("«Te llamo mañana a las 11:00»"), "{body}");
    assert!(body.contains("Does not want TV"), "{body}");
    assert!(body.contains("Asked about fibre"), "{body}");
    assert!(body.contains("Hola Víctor, soy Jorge. Te llamo como quedamos."), "{body}");

    assert_eq!(app.at("2026-03-17T10:00:00Z").await, 1);
    let due = &inbox(&app, jorge).await[0];
    assert_eq!(due["purpose"], "due");
    assert!(due["body"].as_str().unwrap().contains("Ahora: Víctor Lanuza espera tu llamada."));
    assert_eq!(app.run_scheduler().await, 0, "a second pass at the same instant fires nothing twice");

    app.clock.set(at("2026-03-17T10:02:00Z"));
    let ack = app.post(&format!("/api/v1/prompts/{}/ack", due["id"].as_str().unwrap()), jorge, json!({})).await;
    assert_eq!(ack.status.as_u16(), 200, "{}", ack.body);
    app.post(&format!("/api/v1/prompts/{}/ack", due["id"].as_str().unwrap()), jorge, json!({}))
        .await
        .assert_problem(409);
    let logged = app
        .created(
            &format!("/api/v1/customers/{victor}/interactions"),
            jorge,
            json!({ "channel": "phone", "direction": "outbound", "outcome": "no_answer", "summary": "Out; will call at 13:00", "promise_id": id }),
        )
        .await;
    assert_eq!(logged["promise"]["kept_on_time"], true);
    let again = app
        .created("/api/v1/promises", jorge, json!({ "customer_id": victor, "kind": "callback", "title": "Te vuelvo a llamar a las 13:00", "due_local": "2026-03-17T13:00" }))
        .await;
    // The kept promise's remaining checks are retired: nothing fires for it at 10:15 or tomorrow.
    assert_eq!(app.at("2026-03-17T10:20:00Z").await, 0);
    assert_eq!(app.at("2026-03-17T11:50:00Z").await, 1);
    assert_eq!(app.at("2026-03-17T12:00:00Z").await, 1);
    let latest = &inbox(&app, jorge).await[0];
    assert_eq!(latest["promise_id"], again["id"]);
    assert!(latest["body"].as_str().unwrap().contains("Out; will call at 13:00"), "the card carries the last contact");

    let first = ledger(&app, &id, jorge).await;
    assert_eq!(kinds(&first), ["created", "reminded", "prompted", "acknowledged", "kept"]);
    // The 13:00 callback is never attempted: escalated to the manager at 13:10, missed at 13:15, broken a day
    // later. The kept 11:00 one adds nothing.
    assert_eq!(app.at("2026-03-18T12:00:00Z").await, 1);
    assert_eq!(inbox(&app, &z.manager.token).await[0]["promise_id"], again["id"]);
    let second = ledger(&app, again["id"].as_str().unwrap(), jorge).await;
    assert_eq!(kinds(&second), ["created", "reminded", "prompted", "escalated", "missed", "broken"]);
    assert_eq!(kinds(&ledger(&app, &id, jorge).await).len(), 5);
}

/// Seed 001: "I'll call you back in 20 minutes" at 18:28 fires at 18:48.
#[actix_web::test]
async fn twenty_minute_callback_made_at_18_28_fires_at_18_48() {
    let app = spawn_app_at(at("2026-03-16T17:28:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Talleres Cuarte", "Europe/Madrid").await.id;
    app.created("/api/v1/promises", marta, json!({ "customer_id": c, "kind": "callback", "title": "Te llamo en 20 minutos", "due_local": "2026-03-16T18:48" }))
        .await;
    assert_eq!(app.at_local("Europe/Madrid", "2026-03-16 18:38").await, 1, "the lead reminder at 18:38");
    assert_eq!(app.at_local("Europe/Madrid", "2026-03-16 18:47:59").await, 0);
    assert_eq!(app.at_local("Europe/Madrid", "2026-03-16 18:48").await, 1);
    let due = &inbox(&app, marta).await[0];
    assert_eq!(due["scheduled_for"], "2026-03-16T17:48:00Z");
    assert_eq!(due["fired_at"], "2026-03-16T17:48:00Z");
    assert_eq!(due["card"]["customer"]["local_now"], "18:48");
}

/// The owner is away: the stand-in gets the prompt with a hand-over note, and the ledger says so; with no
/// stand-in, the team's manager does.
#[actix_web::test]
async fn absent_owner_routes_the_prompt_to_the_stand_in_or_the_managers() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let ayoze = &z.ayoze.token;
    let carmen = customer(&app, ayoze, "Carmen Déniz", "Atlantic/Canary").await.id;
    app.created(
        &format!("/api/v1/agents/{}/absences", z.ayoze.id),
        ayoze,
        json!({ "starts_at": "2026-03-17T00:00:00Z", "ends_at": "2026-03-18T00:00:00Z", "stand_in_agent_id": z.marta.id, "note": "Training in Madrid" }),
    )
    .await;
    let p = app
        .created("/api/v1/promises", ayoze, json!({ "customer_id": carmen, "kind": "callback", "title": "Te llamo a las 10:00", "due_local": "2026-03-17T10:00", "lead": [] }))
        .await;
    assert_eq!(app.at("2026-03-17T10:00:00Z").await, 1);
    assert!(inbox(&app, ayoze).await.is_empty());
    let prompt = &inbox(&app, &z.marta.token).await[0];
    let note = prompt["handover_note"].as_str().unwrap();
    // Marta reads Spanish: the note that travels with the hand-over is in her language, inside her card.
    assert_eq!(note, "Ayoze Medina está ausente (Training in Madrid); le sustituyes y esta promesa pasa a ti.");
    assert!(prompt["body"].as_str().unwrap().contains("Traspaso: Ayoze Medina está ausente"), "{}", prompt["body"]);
    let events = ledger(&app, p["id"].as_str().unwrap(), ayoze).await;
    assert_eq!(kinds(&events), ["created", "handed_over", "prompted"]);
    assert_eq!(events[1]["data"]["routing"], true);
    assert_eq!(events[2]["data"]["recipient"], json!(z.marta.id));
    // The stand-in's call keeps the promise: the recorded stand-in counts like the owner.
    app.clock.set(at("2026-03-17T10:03:00Z"));
    let kept = app
        .created(
            &format!("/api/v1/customers/{carmen}/interactions"),
            &z.marta.token,
            json!({ "channel": "phone", "direction": "outbound", "outcome": "reached", "summary": "Technician booked", "promise_id": p["id"] }),
        )
        .await;
    assert_eq!(kept["promise"]["status"], "kept");
    let events = ledger(&app, p["id"].as_str().unwrap(), ayoze).await;
    assert_eq!(events[3]["data"]["by_stand_in"], true);

    app.created(
        &format!("/api/v1/agents/{}/absences", z.ayoze.id),
        ayoze,
        json!({ "starts_at": "2026-03-19T00:00:00Z", "ends_at": "2026-03-20T00:00:00Z" }),
    )
    .await;
    app.created("/api/v1/promises", ayoze, json!({ "customer_id": carmen, "kind": "callback", "title": "Te llamo el jueves", "due_local": "2026-03-19T10:00", "lead": [] }))
        .await;
    assert_eq!(app.at("2026-03-19T10:00:00Z").await, 1);
    assert_eq!(inbox(&app, &z.manager.token).await[0]["purpose"], "due");
}

/// A weekly update at 11:00 Madrid keeps 11:00 local across the end of summer time.
#[actix_web::test]
async fn weekly_update_fires_at_the_same_local_time_before_and_after_the_dst_change() {
    let app = spawn_app_at(at("2026-10-19T08:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Talleres Cuarte", "Europe/Madrid").await.id;
    let p = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": c, "kind": "update", "title": "Te informo cada martes a las 11:00", "recurrence": { "cron": "0 11 * * tue" }, "lead": [] }),
        )
        .await;
    assert_eq!(p["due_at"], "2026-10-20T09:00:00Z", "11:00 CEST");
    assert_eq!(app.at("2026-10-20T09:00:00Z").await, 1);
    let first = &inbox(&app, marta).await[0];
    assert_eq!(first["card"]["customer"]["local_now"], "11:00");
    app.created(&format!("/api/v1/prompts/{}/ack", first["id"].as_str().unwrap()), marta, json!({})).await;
    // Nobody updates the customer this week: the occurrence is missed and the next one is scheduled.
    assert_eq!(app.at("2026-10-20T09:15:00Z").await, 0);
    let after = app.get(&format!("/api/v1/promises/{}", p["id"].as_str().unwrap()), marta).await.body;
    assert_eq!(after["status"], "open");
    assert_eq!(after["due_at"], "2026-10-27T10:00:00Z", "11:00 CET, one hour later in UTC");
    assert_eq!(app.at("2026-10-27T09:00:00Z").await, 0, "not at the old UTC time");
    assert_eq!(app.at("2026-10-27T10:00:00Z").await, 1);
    let prompt = &inbox(&app, marta).await[0];
    assert_eq!(prompt["card"]["customer"]["local_now"], "11:00");
    assert_eq!(prompt["card"]["customer"]["offset"], "+01:00");
}

/// The last occurrence of an update is missed once: the overdue check is not rescheduled into the past and fired
/// again on every pass.
#[actix_web::test]
async fn the_last_missed_occurrence_of_an_update_is_recorded_once() {
    let app = spawn_app_at(at("2026-10-19T08:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Talleres Cuarte", "Europe/Madrid").await.id;
    let p = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": c, "kind": "update", "title": "Te informo el martes a las 11:00", "lead": [],
                    "recurrence": { "cron": "0 11 * * tue", "until": "2026-10-21T00:00:00Z" } }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    app.at("2026-10-20T09:00:00Z").await;
    for minute in ["09:16", "09:30", "10:00", "12:00"] {
        app.at(&format!("2026-10-20T{minute}:00Z")).await;
    }
    let after = app.get(&format!("/api/v1/promises/{id}"), marta).await.body;
    assert_eq!(after["status"], "missed");
    let missed = after["ledger"].as_array().unwrap().iter().filter(|e| e["kind"] == "missed").count();
    assert_eq!(missed, 1, "{:?}", after["ledger"]);
}

/// The service was down at due time: the prompt fires once, late, and says why; the lead reminder it overslept
/// is not replayed.
#[actix_web::test]
async fn misfire_after_downtime_fires_once_marked_late_without_replaying_the_lead() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Pilar Ortega", "Europe/Madrid").await.id;
    let p = app
        .created("/api/v1/promises", marta, json!({ "customer_id": c, "kind": "callback", "title": "Te llamo a las 11", "due_local": "2026-03-16T11:00" }))
        .await;
    assert_eq!(app.at("2026-03-16T10:05:00Z").await, 1, "only the due prompt, 5 minutes late");
    let prompt = &inbox(&app, marta).await[0];
    assert_eq!(prompt["purpose"], "due");
    assert_eq!(prompt["late_by_ms"], 300_000);
    assert!(
        prompt["body"].as_str().unwrap().contains("vencía hace 5 min mientras el sistema estaba parado"),
        "{}",
        prompt["body"]
    );
    let events = ledger(&app, p["id"].as_str().unwrap(), marta).await;
    assert_eq!(kinds(&events), ["created", "prompted"]);
    assert_eq!(events[1]["data"]["misfire"], true);
}

/// A busy customer: the card lists the ten soonest of the customer's other open promises and counts the rest, so
/// a prompt stays a card however many promises are open; a customer with few lists them all and counts nothing.
#[actix_web::test]
async fn a_busy_customers_card_lists_the_ten_soonest_other_promises_and_counts_the_rest() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let busy = customer(&app, marta, "Ferretería Delicias", "Europe/Madrid").await.id;
    let quiet = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    // Asked for by the customer, so the Sundays among the days are allowed too.
    let callback = |customer: &str, title: &str, due: &str| {
        json!({ "customer_id": customer, "kind": "callback", "title": title, "due_local": due, "lead": [],
                "customer_requested": true })
    };
    let first = app.created("/api/v1/promises", marta, callback(&busy, "Te llamo a las 11", "2026-03-16T11:00")).await;
    // Made latest first, so the card's order can only come from the due times.
    for day in (17..=29).rev() {
        let title = format!("Pedido {day}");
        app.created("/api/v1/promises", marta, callback(&busy, &title, &format!("2026-03-{day}T10:00"))).await;
    }
    let alone = app.created("/api/v1/promises", marta, callback(&quiet, "Te llamo", "2026-03-16T11:00")).await;
    app.created("/api/v1/promises", marta, callback(&quiet, "Presupuesto", "2026-03-18T10:00")).await;

    assert_eq!(app.at("2026-03-16T10:00:00Z").await, 2);
    let prompts = inbox(&app, marta).await;
    let card_of = |promise: &Value| prompts.iter().find(|p| p["promise_id"] == promise["id"]).unwrap().clone();
    let busy_prompt = card_of(&first);
    let listed: Vec<&str> = busy_prompt["card"]["other_promises"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    let soonest: Vec<String> = (17..=26).map(|day| format!("Pedido {day}")).collect();
    assert_eq!(listed, soonest);
    assert_eq!(busy_prompt["card"]["other_promises_more"], 3);
    let body = busy_prompt["body"].as_str().unwrap();
    assert!(body.contains("«Pedido 26»") && !body.contains("«Pedido 27»"), "{body}");
    assert!(body.contains("  - y 3 promesas abiertas más\n"), "{body}");

    let quiet_prompt = card_of(&alone);
    assert_eq!(quiet_prompt["card"]["other_promises"].as_array().unwrap().len(), 1);
    assert_eq!(quiet_prompt["card"]["other_promises_more"], 0);
    let body = quiet_prompt["body"].as_str().unwrap();
    assert!(body.contains("«Presupuesto»") && !body.contains("abiertas más"), "{body}");
}

/// Nobody acknowledges a due callback within 10 minutes: the team's managers are prompted; an acknowledged one
/// is not escalated.
#[actix_web::test]
async fn unacknowledged_due_prompt_escalates_to_the_managers() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let quiet = app
        .created("/api/v1/promises", marta, json!({ "customer_id": c, "kind": "callback", "title": "Te llamo", "due_local": "2026-03-16T11:00", "lead": [] }))
        .await;
    let seen = app
        .created("/api/v1/promises", marta, json!({ "customer_id": c, "kind": "callback", "title": "Y otra cosa", "due_local": "2026-03-16T11:00", "lead": [] }))
        .await;
    assert_eq!(app.at("2026-03-16T10:00:00Z").await, 2);
    let prompts = inbox(&app, marta).await;
    let seen_prompt = prompts.iter().find(|p| p["promise_id"] == seen["id"]).unwrap();
    app.created(&format!("/api/v1/prompts/{}/ack", seen_prompt["id"].as_str().unwrap()), marta, json!({})).await;
    assert_eq!(app.at("2026-03-16T10:10:00Z").await, 1);
    let escalation = &inbox(&app, &z.manager.token).await[0];
    assert_eq!(escalation["purpose"], "escalation");
    assert_eq!(escalation["promise_id"], quiet["id"]);
    assert!(escalation["body"].as_str().unwrap().starts_with("ESCALADO"));
    let events = ledger(&app, quiet["id"].as_str().unwrap(), marta).await;
    assert!(kinds(&events).contains(&"escalated"));
    assert!(!kinds(&ledger(&app, seen["id"].as_str().unwrap(), marta).await).contains(&"escalated"));
}

/// A deadline left open: missed at due, broken seven days later, each a ledger event.
#[actix_web::test]
async fn open_deadline_is_missed_at_due_and_broken_a_week_later() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Pilar Ortega", "Europe/Madrid").await.id;
    let p = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": c, "kind": "deadline", "title": "Factura corregida en 15 días", "within": "P15D" }),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    assert_eq!(app.at("2026-03-29T19:00:00Z").await, 1, "the two-day lead reminder");
    assert_eq!(app.at("2026-03-31T07:00:00Z").await, 1, "the reminder at 09:00 on the due day, Madrid time");
    app.at("2026-03-31T19:00:00Z").await;
    assert_eq!(app.get(&format!("/api/v1/promises/{id}"), marta).await.body["status"], "missed");
    app.at("2026-04-07T19:00:00Z").await;
    let after = app.get(&format!("/api/v1/promises/{id}"), marta).await.body;
    assert_eq!(after["status"], "broken");
    let events: Vec<Value> = after["ledger"].as_array().unwrap().clone();
    assert_eq!(kinds(&events), ["created", "reminded", "reminded", "prompted", "missed", "broken"]);
    assert_eq!(events[5]["data"]["reason"], "deadline_passed");
    assert_eq!(after["lead"], json!(["P2D", "PT12H"]));
}

/// Prompts are pushed live to the agent's open stream.
#[actix_web::test]
async fn live_prompts_arrive_over_server_sent_events() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let p = app
        .created("/api/v1/promises", marta, json!({ "customer_id": c, "kind": "callback", "title": "Te llamo", "due_local": "2026-03-16T11:00", "lead": [] }))
        .await;
    let mut stream = app
        .client
        .request(Method::GET, format!("{}/api/v1/agents/me/prompts/stream", app.address))
        .bearer_auth(marta)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let unauthorised = app.send(Method::GET, "/api/v1/agents/me/prompts/stream", None, None).await;
    unauthorised.assert_problem(401);
    assert_eq!(app.at("2026-03-16T10:00:00Z").await, 1);
    let chunk =
        tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8_lossy(&chunk);
    assert!(text.starts_with("event: prompt\ndata: "), "{text}");
    let data: Value = serde_json::from_str(text.trim_start_matches("event: prompt\ndata: ").trim()).unwrap();
    assert_eq!(data["promise_id"], p["id"]);
    assert_eq!(data["purpose"], "due");
}

/// Several instances on PostgreSQL: an agent whose stream is open on instance B sees the prompt instance A fired
/// (LISTEN/NOTIFY). SQLite runs one instance, so the test has nothing to check there.
#[actix_web::test]
async fn a_prompt_fired_by_one_instance_reaches_a_stream_open_on_another() {
    if !crate::helpers::on_postgres() {
        eprintln!("skipped here: several instances need PostgreSQL (TEST_DATABASE_URL)");
        return;
    }
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let p = app
        .created("/api/v1/promises", marta, json!({ "customer_id": c, "kind": "callback", "title": "Te llamo", "due_local": "2026-03-16T11:00", "lead": [] }))
        .await;
    let other = app.second_instance().await;
    let mut stream = app
        .client
        .request(Method::GET, format!("{other}/api/v1/agents/me/prompts/stream"))
        .bearer_auth(marta)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // The first instance fires; the prompt crosses over through the database.
    assert_eq!(app.at("2026-03-16T10:00:00Z").await, 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let data = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let chunk = tokio::time::timeout(left, stream.chunk()).await.expect("no prompt crossed over").unwrap().unwrap();
        let text = String::from_utf8_lossy(&chunk).to_string();
        if let Some(json) = text.strip_prefix("event: prompt\ndata: ") {
            break serde_json::from_str::<Value>(json.trim()).unwrap();
        }
    };
    assert_eq!(data["promise_id"], p["id"]);
    assert_eq!(data["purpose"], "due");
}
