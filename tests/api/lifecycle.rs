//! The rules of a promise's life as the seed stories meet them: what counts as evidence, what a call keeps by
//! itself, who may stand in, and do-not-call lifted by the customer's own request.

use serde_json::json;

use crate::helpers::{at, customer, spawn_app_at, zaragoza};

/// Seed 003: Marta agreed "tomorrow at 11:00" with Víctor. A keep that cites a call logged an hour before the
/// promise existed is refused, and the promise stays open: a missed promise cannot be turned into an on-time keep.
#[actix_web::test]
async fn a_keep_cannot_cite_a_call_from_before_the_promise() {
    let app = spawn_app_at(at("2026-03-16T08:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let victor = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await.id;
    let early_call = app
        .created(
            &format!("/api/v1/customers/{victor}/interactions"),
            marta,
            json!({ "channel": "phone", "direction": "outbound", "outcome": "reached", "summary": "Talked about the router" }),
        )
        .await;
    app.clock.set(at("2026-03-16T09:00:00Z"));
    let p = app
        .created("/api/v1/promises", marta, json!({ "customer_id": victor, "kind": "callback", "title": "Te llamo mañana a las 11:00", "due_local": "2026-03-17T11:00", "lead": [] }))
        .await;
    let pid = p["id"].as_str().unwrap();
    app.clock.set(at("2026-03-17T12:00:00Z"));
    let refused = app
        .post(
            &format!("/api/v1/promises/{pid}/keep"),
            marta,
            json!({ "interaction_id": early_call["interaction"]["id"], "note": "called" }),
        )
        .await;
    refused.assert_problem(422);
    assert_eq!(refused.error_fields(), [("interaction_id".to_string(), "before_promise".to_string())]);
    let after = app.get(&format!("/api/v1/promises/{pid}"), marta).await.body;
    assert_eq!(after["status"], "open");
    assert_eq!(after["ledger"].as_array().unwrap().len(), 1, "nothing was written: {}", after["ledger"]);

    // An inbound call is on the timeline but is not the callback Marta promised.
    let inbound = app
        .created(
            &format!("/api/v1/customers/{victor}/interactions"),
            marta,
            json!({ "channel": "phone", "direction": "inbound", "outcome": "reached", "summary": "He called us" }),
        )
        .await;
    let refused = app
        .post(&format!("/api/v1/promises/{pid}/keep"), marta, json!({ "interaction_id": inbound["interaction"]["id"] }))
        .await;
    assert_eq!(refused.error_fields(), [("interaction_id".to_string(), "not_outbound".to_string())]);
}

/// Seed 003 again: at 11:02 Marta calls Víctor, nobody answers, and she logs the call without picking the
/// promise. The call keeps the callback on time (she showed up) and the answer says which promise it kept.
/// Jorge's call, or a call two hours late, keeps nothing by itself.
#[actix_web::test]
async fn an_outbound_call_at_the_due_time_keeps_the_callback_without_naming_it() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let victor = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await.id;
    let callback = app
        .created("/api/v1/promises", marta, json!({ "customer_id": victor, "kind": "callback", "title": "Te llamo mañana a las 11:00", "due_local": "2026-03-17T11:00", "lead": [] }))
        .await;
    let later = app
        .created("/api/v1/promises", marta, json!({ "customer_id": victor, "kind": "callback", "title": "Y el jueves te confirmo", "due_local": "2026-03-19T11:00", "lead": [] }))
        .await;
    let log = |token: String, at_text: &'static str| {
        let app = &app;
        let victor = victor.clone();
        async move {
            app.clock.set(at(at_text));
            app.created(
                &format!("/api/v1/customers/{victor}/interactions"),
                &token,
                json!({ "channel": "phone", "direction": "outbound", "outcome": "no_answer", "summary": "No contesta" }),
            )
            .await
        }
    };
    let by_jorge = log(z.jorge.token.clone(), "2026-03-17T10:01:00Z").await;
    assert_eq!(by_jorge["kept"], json!([]), "a colleague's call is not Marta's callback");
    let by_marta = log(marta.clone(), "2026-03-17T10:02:00Z").await;
    let kept = by_marta["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{by_marta}");
    assert_eq!(kept[0]["id"], callback["id"]);
    assert_eq!(kept[0]["status"], "kept");
    assert_eq!(kept[0]["kept_on_time"], true);
    let ledger =
        app.get(&format!("/api/v1/promises/{}", callback["id"].as_str().unwrap()), marta).await.body["ledger"].clone();
    assert_eq!(ledger[1]["kind"], "kept");
    assert_eq!(ledger[1]["data"]["evidence_interaction_id"], by_marta["interaction"]["id"]);
    let still_open = app.get(&format!("/api/v1/promises/{}", later["id"].as_str().unwrap()), marta).await.body;
    assert_eq!(still_open["status"], "open", "Thursday's callback is not due yet");
    let too_late = log(marta.clone(), "2026-03-19T12:30:00Z").await;
    assert_eq!(too_late["kept"], json!([]), "two hours after due is outside the keep window");
}

/// An absence may only name a stand-in from the same team, a hand-over only a colleague, and the preview only
/// answers for the team's agents: another team's agent gets the same answer as an agent who does not exist.
#[actix_web::test]
async fn stand_ins_and_hand_over_targets_are_colleagues_of_the_same_team() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let absence = |stand_in: &str| json!({ "starts_at": "2026-03-17T00:00:00Z", "ends_at": "2026-03-18T00:00:00Z", "stand_in_agent_id": stand_in });
    let outsider = app.post(&format!("/api/v1/agents/{}/absences", z.marta.id), marta, absence(&z.outsider.id)).await;
    let nobody = app.post(&format!("/api/v1/agents/{}/absences", z.marta.id), marta, absence("agt_nobody")).await;
    outsider.assert_problem(422);
    assert_eq!(outsider.error_fields(), [("stand_in_agent_id".to_string(), "unknown_agent".to_string())]);
    assert_eq!(outsider.error_fields(), nobody.error_fields(), "not yours and not there answer alike");

    let victor = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await.id;
    let p = app
        .created("/api/v1/promises", marta, json!({ "customer_id": victor, "kind": "callback", "title": "Te llamo mañana a las 11:00", "due_local": "2026-03-17T11:00" }))
        .await;
    let handover = |to: &str| json!({ "to_agent_id": to, "note": "Prefiere mañanas" });
    let path = format!("/api/v1/promises/{}/handover", p["id"].as_str().unwrap());
    let outsider = app.post(&path, marta, handover(&z.outsider.id)).await;
    let nobody = app.post(&path, marta, handover("agt_nobody")).await;
    outsider.assert_problem(422);
    assert_eq!(outsider.error_fields(), [("to_agent_id".to_string(), "unknown_agent".to_string())]);
    assert_eq!(outsider.error_fields(), nobody.error_fields());
    let preview = app
        .post(
            "/api/v1/promises/preview",
            &z.manager.token,
            json!({ "customer_id": victor, "due_local": "2026-03-17T12:00", "owner_agent_id": z.outsider.id }),
        )
        .await;
    assert_eq!(preview.error_fields(), [("owner_agent_id".to_string(), "unknown_agent".to_string())]);
    // A colleague is fine.
    let handed = app.post(&path, marta, handover(&z.jorge.id)).await;
    assert_eq!(handed.status.as_u16(), 200, "{}", handed.body);
    assert_eq!(handed.body["owner_agent_id"], json!(z.jorge.id));
}

/// DESIGN.md section 4: do-not-call blocks calls the company starts. A do-not-call customer who asks to be called
/// back gets a tracked promise, and the ledger records that they asked.
#[actix_web::test]
async fn a_do_not_call_customer_who_asks_to_be_called_gets_a_tracked_promise() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let pilar = app
        .created(
            "/api/v1/customers",
            marta,
            json!({ "name": "Pilar Royo", "time_zone": "Europe/Madrid", "locale": "es-ES", "do_not_call": true }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ask = |requested: bool| json!({ "customer_id": pilar, "kind": "callback", "title": "Te llamo el martes a las 10", "due_local": "2026-03-17T10:00", "customer_requested": requested });
    let refused = app.post("/api/v1/promises", marta, ask(false)).await;
    refused.assert_problem(422);
    assert_eq!(refused.error_fields(), [("customer_id".to_string(), "do_not_call".to_string())]);
    let made = app.created("/api/v1/promises", marta, ask(true)).await;
    let codes: Vec<&str> = made["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"do_not_call_overridden"), "{codes:?}");
    let ledger =
        app.get(&format!("/api/v1/promises/{}", made["id"].as_str().unwrap()), marta).await.body["ledger"].clone();
    assert_eq!(ledger[0]["data"]["do_not_call_overridden"], true);
    assert_eq!(ledger[0]["data"]["customer_requested"], true);
}

/// A stored contact window that no longer reads is an error, never "always": before, a corrupt window let a
/// callback be booked at 03:00 without a word. Nothing is written.
#[actix_web::test]
async fn a_corrupt_stored_window_refuses_rather_than_allowing_any_time() {
    use diesel::prelude::*;
    use tendero::db::schema::customers;
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let victor = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await.id;
    let id = victor.clone();
    app.db
        .write_blocking(move |tx| {
            diesel::update(customers::table.find(&id))
                .set(customers::contact_window.eq("lunes a veces"))
                .execute(&mut **tx)?;
            Ok(())
        })
        .unwrap();
    let rows = app.ledger_rows();
    let answer = app
        .post(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": victor, "kind": "callback", "title": "Te llamo a las 3", "due_local": "2026-03-17T03:00", "lead": [] }),
        )
        .await;
    answer.assert_problem(500);
    assert_eq!(app.ledger_rows(), rows, "nothing was written");
}
