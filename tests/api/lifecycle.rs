//! The rules of a promise's life as the seed stories meet them: what counts as evidence, what a call keeps by
//! itself, who may stand in, and do-not-call lifted by the customer's own request.

use serde_json::json;

use crate::helpers::{customer, local, spawn_app_at, zaragoza, Customer};

/// Seed 003: Marta agreed "tomorrow at 11:00" with Víctor. A keep that cites a call logged an hour before the
/// promise existed is refused, and the promise stays open: a missed promise cannot be turned into an on-time keep.
#[actix_web::test]
async fn a_keep_cannot_cite_a_call_from_before_the_promise() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 09:00")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let victor = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await;
    let early_call = marta.logs_call(&app, &victor, "reached", "Talked about the router").await;
    app.set_local(&victor.zone, "2026-03-16 10:00");
    let p = marta
        .promises_callback(&app, &victor, "Te llamo mañana a las 11:00", "2026-03-17 11:00")
        .with(json!({ "lead": [] }))
        .await;
    app.set_local(&victor.zone, "2026-03-17 13:00");
    let refused = marta
        .keeps(&app, &p, "called")
        .with(json!({ "interaction_id": early_call["interaction"]["id"] }))
        .answer()
        .await;
    refused.assert_problem(422);
    assert_eq!(refused.error_fields(), [("interaction_id".to_string(), "before_promise".to_string())]);
    let after = marta.reads_promise(&app, &p).await;
    assert_eq!(after["status"], "open");
    assert_eq!(after["ledger"].as_array().unwrap().len(), 1, "nothing was written: {}", after["ledger"]);

    // An inbound call is on the timeline but is not the callback Marta promised.
    let inbound = marta.hears_from(&app, &victor, "phone", "He called us").await;
    let keep = format!("/api/v1/promises/{}/keep", p["id"].as_str().unwrap());
    let refused = marta.post(&app, &keep, json!({ "interaction_id": inbound["interaction"]["id"] })).answer().await;
    assert_eq!(refused.error_fields(), [("interaction_id".to_string(), "not_outbound".to_string())]);
}

/// Seed 003 again: at 11:02 Marta calls Víctor, nobody answers, and she logs the call without picking the
/// promise. The call keeps the callback on time (she showed up) and the answer says which promise it kept.
/// Jorge's call, or a call two hours late, keeps nothing by itself.
#[actix_web::test]
async fn an_outbound_call_at_the_due_time_keeps_the_callback_without_naming_it() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let (marta, jorge) = (&z.marta, &z.jorge);
    let victor = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await;
    let callback = marta
        .promises_callback(&app, &victor, "Te llamo mañana a las 11:00", "2026-03-17 11:00")
        .with(json!({ "lead": [] }))
        .await;
    let later = marta
        .promises_callback(&app, &victor, "Y el jueves te confirmo", "2026-03-19 11:00")
        .with(json!({ "lead": [] }))
        .await;
    app.set_local(&victor.zone, "2026-03-17 11:01");
    let by_jorge = jorge.logs_call(&app, &victor, "no_answer", "No contesta").await;
    assert_eq!(by_jorge["kept"], json!([]), "a colleague's call is not Marta's callback");
    app.set_local(&victor.zone, "2026-03-17 11:02");
    let by_marta = marta.logs_call(&app, &victor, "no_answer", "No contesta").await;
    let kept = by_marta["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{by_marta}");
    assert_eq!(kept[0]["id"], callback["id"]);
    assert_eq!(kept[0]["status"], "kept");
    assert_eq!(kept[0]["kept_on_time"], true);
    let ledger = marta.reads_promise(&app, &callback).await["ledger"].clone();
    assert_eq!(ledger[1]["kind"], "kept");
    assert_eq!(ledger[1]["data"]["evidence_interaction_id"], by_marta["interaction"]["id"]);
    let still_open = marta.reads_promise(&app, &later).await;
    assert_eq!(still_open["status"], "open", "Thursday's callback is not due yet");
    app.set_local(&victor.zone, "2026-03-19 13:30");
    let too_late = marta.logs_call(&app, &victor, "no_answer", "No contesta").await;
    assert_eq!(too_late["kept"], json!([]), "two hours after due is outside the keep window");
}

/// An absence may only name a stand-in from the same team, a hand-over only a colleague, and the preview only
/// answers for the team's agents: another team's agent gets the same answer as an agent who does not exist.
#[actix_web::test]
async fn stand_ins_and_hand_over_targets_are_colleagues_of_the_same_team() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let absence = |stand_in: &str| {
        let body = json!({ "starts_at": "2026-03-17T00:00:00Z", "ends_at": "2026-03-18T00:00:00Z", "stand_in_agent_id": stand_in });
        marta.post(&app, &format!("/api/v1/agents/{}/absences", marta.id), body).answer()
    };
    let outsider = absence(&z.outsider.id).await;
    let nobody = absence("agt_nobody").await;
    outsider.assert_problem(422);
    assert_eq!(outsider.error_fields(), [("stand_in_agent_id".to_string(), "unknown_agent".to_string())]);
    assert_eq!(outsider.error_fields(), nobody.error_fields(), "not yours and not there answer alike");

    let victor = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await;
    let p = marta.promises_callback(&app, &victor, "Te llamo mañana a las 11:00", "2026-03-17 11:00").await;
    let outsider = marta.hands_over(&app, &p, &z.outsider, "Prefiere mañanas").answer().await;
    // No agent of that id exists, so the raw body names it.
    let handover = format!("/api/v1/promises/{}/handover", p["id"].as_str().unwrap());
    let nobody =
        marta.post(&app, &handover, json!({ "to_agent_id": "agt_nobody", "note": "Prefiere mañanas" })).answer().await;
    outsider.assert_problem(422);
    assert_eq!(outsider.error_fields(), [("to_agent_id".to_string(), "unknown_agent".to_string())]);
    assert_eq!(outsider.error_fields(), nobody.error_fields());
    let preview = z
        .manager
        .post(
            &app,
            "/api/v1/promises/preview",
            json!({ "customer_id": victor.id, "due_local": "2026-03-17T12:00", "owner_agent_id": z.outsider.id }),
        )
        .answer()
        .await;
    assert_eq!(preview.error_fields(), [("owner_agent_id".to_string(), "unknown_agent".to_string())]);
    // A colleague is fine.
    let handed = marta.hands_over(&app, &p, &z.jorge, "Prefiere mañanas").answer().await;
    assert_eq!(handed.status.as_u16(), 200, "{}", handed.body);
    assert_eq!(handed.body["owner_agent_id"], json!(z.jorge.id));
}

/// DESIGN.md section 4: do-not-call blocks calls the company starts. A do-not-call customer who asks to be called
/// back gets a tracked promise, and the ledger records that they asked.
#[actix_web::test]
async fn a_do_not_call_customer_who_asks_to_be_called_gets_a_tracked_promise() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let made = marta
        .post(
            &app,
            "/api/v1/customers",
            json!({ "name": "Pilar Royo", "time_zone": "Europe/Madrid", "locale": "es-ES", "do_not_call": true }),
        )
        .await;
    let pilar = Customer {
        id: made["id"].as_str().unwrap().to_string(),
        name: "Pilar Royo".into(),
        zone: "Europe/Madrid".into(),
    };
    let ask = |requested: bool| {
        marta
            .promises_callback(&app, &pilar, "Te llamo el martes a las 10", "2026-03-17 10:00")
            .with(json!({ "customer_requested": requested }))
    };
    let refused = ask(false).answer().await;
    refused.assert_problem(422);
    assert_eq!(refused.error_fields(), [("customer_id".to_string(), "do_not_call".to_string())]);
    let made = ask(true).await;
    let codes: Vec<&str> = made["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"do_not_call_overridden"), "{codes:?}");
    let ledger = marta.reads_promise(&app, &made).await["ledger"].clone();
    assert_eq!(ledger[0]["data"]["do_not_call_overridden"], true);
    assert_eq!(ledger[0]["data"]["customer_requested"], true);
}

/// A stored contact window that no longer reads is an error, never "always": before, a corrupt window let a
/// callback be booked at 03:00 without a word. Nothing is written.
#[actix_web::test]
async fn a_corrupt_stored_window_refuses_rather_than_allowing_any_time() {
    use diesel::prelude::*;
    use tendero::db::schema::customers;
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let victor = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await;
    let id = victor.id.clone();
    app.db
        .write_blocking(move |tx| {
            diesel::update(customers::table.find(&id))
                .set(customers::contact_window.eq("lunes a veces"))
                .execute(&mut **tx)?;
            Ok(())
        })
        .unwrap();
    let rows = app.ledger_rows();
    let answer = marta
        .promises_callback(&app, &victor, "Te llamo a las 3", "2026-03-17 03:00")
        .with(json!({ "lead": [] }))
        .answer()
        .await;
    answer.assert_problem(500);
    assert_eq!(app.ledger_rows(), rows, "nothing was written");
}
