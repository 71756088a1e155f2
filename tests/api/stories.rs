//! The seed stories as scenarios, end to end over HTTP.

use serde_json::json;

use crate::helpers::{at, customer, spawn_app_at, zaragoza};

fn ledger_kinds(promise: &serde_json::Value) -> Vec<String> {
    promise["ledger"].as_array().expect("ledger").iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

/// Seed 004: the bill will be corrected within 15 days; the customer moves the date; it is kept on day 14.
#[actix_web::test]
async fn invoice_corrected_within_15_days_is_rescheduled_by_the_customer_and_kept_on_day_14() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let pilar = customer(&app, marta, "Pilar Ortega", "Europe/Madrid").await.id;
    app.created(
        &format!("/api/v1/customers/{pilar}/interactions"),
        marta,
        json!({ "channel": "social", "direction": "inbound", "outcome": "other", "summary": "Third wrong bill of 250 EUR" }),
    )
    .await;

    let promise = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": pilar, "kind": "deadline", "title": "Tu factura estará corregida en 15 días", "within": "P15D" }),
        )
        .await;
    // Day 15 is Tuesday 31 March; the contact window closes at 21:00, which is CEST by then.
    assert_eq!(promise["due_local"], "2026-03-31T21:00:00");
    assert_eq!(promise["due_local_offset"], "+02:00");
    assert_eq!(promise["due_at"], "2026-03-31T19:00:00Z");
    assert_eq!(promise["owner_agent_id"], json!(z.marta.id));
    let id = promise["id"].as_str().unwrap();

    app.clock.set(at("2026-03-21T10:00:00Z"));
    let moved = app
        .created(
            &format!("/api/v1/promises/{id}/reschedule"),
            marta,
            json!({ "due_local": "2026-04-03T21:00", "reason": "Pilar is away until April and wants the letter then", "initiated_by": "customer", "version": 1 }),
        )
        .await;
    assert_eq!(moved["due_at"], "2026-04-03T19:00:00Z");
    assert_eq!(moved["reschedule_count"], 1);
    assert_eq!(moved["version"], 2);

    app.clock.set(at("2026-03-30T10:00:00Z"));
    let kept = app
        .created(
            &format!("/api/v1/promises/{id}/keep"),
            marta,
            json!({ "note": "Corrected invoice issued; registry entry removed" }),
        )
        .await;
    assert_eq!(kept["status"], "kept");
    assert_eq!(kept["kept_on_time"], true);

    let full = app.get(&format!("/api/v1/promises/{id}"), marta).await.body;
    assert_eq!(ledger_kinds(&full), ["created", "rescheduled", "kept"]);
    let rescheduled = &full["ledger"][1]["data"];
    assert_eq!(rescheduled["initiated_by"], "customer");
    assert_eq!(rescheduled["counts_as_late"], false);
    assert_eq!(rescheduled["from"]["due_local"], "2026-03-31T21:00:00");
    assert_eq!(rescheduled["to"]["due_local"], "2026-04-03T21:00:00");
    assert_eq!(full["ledger"][2]["data"]["timeliness"], "on_time");
}

/// Seed 004 seen from the brief: each open promise carries who made it and its own reschedules, in order, and a
/// promise never moved carries none (the brief reads them for all its promises at once).
#[actix_web::test]
async fn the_brief_shows_each_open_promise_with_its_maker_and_its_own_reschedules() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let (marta, jorge) = (&z.marta.token, &z.jorge.token);
    let pilar = customer(&app, marta, "Pilar Ortega", "Europe/Madrid").await.id;
    let bill = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": pilar, "kind": "deadline", "title": "Factura corregida", "within": "P15D" }),
        )
        .await;
    let call = app
        .created(
            "/api/v1/promises",
            jorge,
            json!({ "customer_id": pilar, "kind": "callback", "title": "Te llamo el jueves", "due_local": "2026-03-19T10:00" }),
        )
        .await;
    let bill_id = bill["id"].as_str().unwrap();
    for (day, to, by, version) in [
        ("2026-03-18T10:00:00Z", "2026-04-03T21:00", "customer", 1),
        ("2026-03-20T10:00:00Z", "2026-04-06T21:00", "agent", 2),
    ] {
        app.clock.set(at(day));
        let moved = app
            .created(
                &format!("/api/v1/promises/{bill_id}/reschedule"),
                marta,
                json!({ "due_local": to, "reason": format!("moved at the {by}'s request"), "initiated_by": by, "version": version }),
            )
            .await;
        assert_eq!(moved["reschedule_count"], version);
    }

    let brief = app.get(&format!("/api/v1/customers/{pilar}/brief"), jorge).await.body;
    let open = brief["open_promises"].as_array().unwrap();
    let find = |id: &serde_json::Value| open.iter().find(|p| p["id"] == *id).expect("listed in the brief");
    let (bill, call) = (find(&bill["id"]), find(&call["id"]));
    assert_eq!(open.len(), 2);
    assert_eq!(bill["made_by_name"], "Marta Gil");
    assert_eq!(call["made_by_name"], "Jorge Sanz");
    assert_eq!(call["reschedules"], json!([]));
    let moves = bill["reschedules"].as_array().unwrap();
    assert_eq!(moves.len(), 2);
    assert_eq!(
        (moves[0]["initiated_by"].as_str(), moves[0]["at"].as_str()),
        (Some("customer"), Some("2026-03-18T10:00:00Z"))
    );
    assert_eq!(moves[0]["to"]["due_local"], "2026-04-03T21:00:00");
    assert_eq!(
        (moves[1]["initiated_by"].as_str(), moves[1]["at"].as_str()),
        (Some("agent"), Some("2026-03-20T10:00:00Z"))
    );
    assert_eq!(moves[1]["from"]["due_local"], "2026-04-03T21:00:00");
}

/// Seed 003: "when shall I call you back?"; the call at exactly that time finds the customer out, which still
/// keeps the promise; a new time is agreed and lands in the brief.
#[actix_web::test]
async fn callback_at_eleven_is_kept_by_a_no_answer_attempt_and_a_new_time_is_agreed() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let jorge = &z.jorge.token;
    let victor = customer(&app, jorge, "Víctor Lanuza", "Europe/Madrid").await.id;
    let patched =
        app.patch(&format!("/api/v1/customers/{victor}"), jorge, json!({ "facts": ["Does not want TV"] })).await;
    assert_eq!(patched.status.as_u16(), 200, "{}", patched.body);

    let promise = app
        .created(
            "/api/v1/promises",
            jorge,
            json!({ "customer_id": victor, "kind": "callback", "title": "Te llamo mañana a las 11:00", "due_local": "2026-03-17T11:00" }),
        )
        .await;
    assert_eq!(promise["due_at"], "2026-03-17T10:00:00Z");
    assert_eq!(promise["time_zone"], "Europe/Madrid");
    assert_eq!(promise["grace"], "PT15M");
    assert_eq!(promise["lead"], json!(["PT10M"]));
    assert_eq!(promise["warnings"], json!([]));
    let id = promise["id"].as_str().unwrap();

    app.clock.set(at("2026-03-17T10:00:40Z"));
    let logged = app
        .created(
            &format!("/api/v1/customers/{victor}/interactions"),
            jorge,
            json!({ "channel": "phone", "direction": "outbound", "outcome": "no_answer", "summary": "Called at 11:00 as agreed; he was out", "promise_id": id }),
        )
        .await;
    assert_eq!(logged["promise"]["status"], "kept");
    assert_eq!(logged["promise"]["kept_on_time"], true);
    assert_eq!(logged["warnings"], json!([]));

    let again = app
        .created(
            "/api/v1/promises",
            jorge,
            json!({ "customer_id": victor, "kind": "callback", "title": "Te vuelvo a llamar a las 13:00", "due_local": "2026-03-17T13:00",
                    "made_in_interaction_id": logged["interaction"]["id"] }),
        )
        .await;
    assert_eq!(again["due_at"], "2026-03-17T12:00:00Z");

    let brief = app.get(&format!("/api/v1/customers/{victor}/brief"), jorge).await.body;
    assert_eq!(brief["local_now"], "11:00 in Europe/Madrid (UTC+01:00)");
    assert_eq!(brief["owner"]["id"], json!(z.jorge.id));
    assert_eq!(brief["customer"]["facts"], json!(["Does not want TV"]));
    let open = brief["open_promises"].as_array().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["title"], "Te vuelvo a llamar a las 13:00");
    assert_eq!(open[0]["made_by_name"], "Jorge Sanz");
    assert_eq!(brief["recent_interactions"][0]["outcome"], "no_answer");
    assert_eq!(brief["promise_history"]["kept"], 1);
    assert_eq!(brief["suggested_opening"], "Hola Víctor, soy Jorge. Te llamo como quedamos.");

    let first = app.get(&format!("/api/v1/promises/{id}"), jorge).await.body;
    assert_eq!(ledger_kinds(&first), ["created", "kept"]);
    assert_eq!(first["ledger"][1]["data"]["evidence_interaction_id"], logged["interaction"]["id"]);
}

/// Seed 001: "I'll call you back in 20 minutes" at 18:28 is due at 18:48; the story on every channel is one
/// timeline.
#[actix_web::test]
async fn twenty_minute_callback_made_at_18_28_is_due_at_18_48_and_the_timeline_holds_every_channel() {
    let app = spawn_app_at(at("2026-03-16T17:28:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let talleres = customer(&app, marta, "Talleres Cuarte", "Europe/Madrid").await.id;
    let base = format!("/api/v1/customers/{talleres}/interactions");
    app.post(&base, marta, json!({ "channel": "social", "direction": "inbound", "outcome": "other", "summary": "Work number dead after porting", "occurred_at": "2026-03-16T17:00:00Z" })).await;
    let call = app
        .created(&base, marta, json!({ "channel": "phone", "direction": "outbound", "outcome": "reached", "summary": "Checking with provisioning" }))
        .await;
    let promise = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": talleres, "kind": "callback", "title": "Te llamo en 20 minutos", "due_local": "2026-03-16T18:48",
                    "made_in_interaction_id": call["interaction"]["id"] }),
        )
        .await;
    assert_eq!(promise["due_at"], "2026-03-16T17:48:00Z");
    let id = promise["id"].as_str().unwrap().to_string();

    app.clock.set(at("2026-03-16T17:48:00Z"));
    let back = app
        .created(&base, marta, json!({ "channel": "phone", "direction": "outbound", "outcome": "reached", "summary": "24 h more for the porting", "promise_id": id }))
        .await;
    assert_eq!(back["promise"]["status"], "kept");
    app.clock.set(at("2026-03-16T18:30:00Z"));
    app.post(&base, marta, json!({ "channel": "email", "direction": "inbound", "outcome": "other", "summary": "Another reply said it was done" })).await;

    let timeline = app.get(&format!("/api/v1/customers/{talleres}/timeline?limit=4"), marta).await.body;
    let items = timeline["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["interaction"]["channel"], "email");
    // The keep event and the call that kept it happened at the same instant; both are there.
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"promise_event") && kinds.contains(&"interaction"), "{kinds:?}");
    let cursor = timeline["next_cursor"].as_str().expect("a second page");
    let rest = app.get(&format!("/api/v1/customers/{talleres}/timeline?cursor={cursor}"), marta).await.body;
    let older: Vec<String> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["interaction"]["channel"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| i["event"]["kind"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(older, ["created", "social"]);
    assert!(rest["next_cursor"].is_null());
}

/// A spring-forward night: 02:30 does not exist in Madrid on 29 March 2026.
#[actix_web::test]
async fn half_past_two_on_the_spring_forward_night_is_moved_with_a_warning_or_refused_on_request() {
    let app = spawn_app_at(at("2026-03-20T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Noctambulo", "Europe/Madrid").await.id;
    let body = json!({ "customer_id": c, "kind": "callback", "title": "Te llamo de madrugada", "due_local": "2026-03-29T02:30", "customer_requested": true });
    let moved = app.created("/api/v1/promises", marta, body.clone()).await;
    assert_eq!(moved["due_local"], "2026-03-29T03:30:00");
    assert_eq!(moved["due_at"], "2026-03-29T01:30:00Z");
    assert_eq!(moved["due_local_offset"], "+02:00");
    let codes: Vec<&str> = moved["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"dst_gap_shifted"), "{codes:?}");
    assert!(codes.contains(&"outside_contact_window_requested"), "{codes:?}");

    let mut strict = body.clone();
    strict["disambiguation"] = json!("reject");
    let refused = app.post("/api/v1/promises", marta, strict).await;
    refused.assert_problem(422);
    assert_eq!(refused.error_fields(), [("due_local".to_string(), "nonexistent_local_time".to_string())]);

    let mut earlier = body;
    earlier["disambiguation"] = json!("earlier");
    let back = app.created("/api/v1/promises", marta, earlier).await;
    assert_eq!(back["due_local"], "2026-03-29T01:30:00");
    assert_eq!(back["due_at"], "2026-03-29T00:30:00Z");
}

/// Outside the customer's contact window the promise is refused with the nearest allowed slots, unless the
/// customer asked for that time; the owner's absence is a warning naming the stand-in.
#[actix_web::test]
async fn contact_window_refusal_names_the_nearest_slots_and_absence_names_the_stand_in() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let ayoze = &z.ayoze.token;
    let carmen = customer(&app, ayoze, "Carmen Déniz", "Atlantic/Canary").await.id;
    let sunday = json!({ "customer_id": carmen, "kind": "callback", "title": "Te llamo el domingo", "due_local": "2026-03-22T11:00" });
    let refused = app.post("/api/v1/promises", ayoze, sunday.clone()).await;
    refused.assert_problem(422);
    assert_eq!(refused.error_fields()[0].1, "outside_contact_window");
    assert_eq!(refused.body["nearest_slots"]["after"]["at"], "2026-03-23T09:00:00Z");
    assert_eq!(refused.body["nearest_slots"]["after"]["local"], "2026-03-23 09:00 Atlantic/Canary");
    assert_eq!(refused.body["nearest_slots"]["before"]["local"], "2026-03-21 20:59 Atlantic/Canary");

    app.created(
        &format!("/api/v1/agents/{}/absences", z.ayoze.id),
        ayoze,
        json!({ "starts_at": "2026-03-18T00:00:00Z", "ends_at": "2026-03-20T00:00:00Z", "stand_in_agent_id": z.marta.id, "note": "Training" }),
    )
    .await;
    let during = app
        .created(
            "/api/v1/promises",
            ayoze,
            json!({ "customer_id": carmen, "kind": "callback", "title": "Te llamo el jueves", "due_local": "2026-03-19T10:00" }),
        )
        .await;
    let warning = &during["warnings"][0];
    assert_eq!(warning["code"], "owner_absent");
    assert!(warning["message"].as_str().unwrap().contains("Marta Gil"), "{warning}");
}

/// The agenda: overdue first, then the day, each with the customer's clock beside it; hand-overs move items.
#[actix_web::test]
async fn agenda_shows_overdue_first_with_customer_local_time_and_follows_hand_overs() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let dana = customer(&app, marta, "Dana Whitfield", "America/New_York").await.id;
    let madrid = customer(&app, marta, "Ana Royo", "Europe/Madrid").await.id;
    let overdue = app
        .created("/api/v1/promises", marta, json!({ "customer_id": madrid, "kind": "callback", "title": "Te llamo a las 11", "due_local": "2026-03-16T11:00" }))
        .await;
    let later = app
        .created("/api/v1/promises", marta, json!({ "customer_id": dana, "kind": "callback", "title": "I'll call you at 10 your time", "due_local": "2026-03-17T10:00" }))
        .await;
    assert_eq!(later["due_at"], "2026-03-17T14:00:00Z", "New York is on EDT since 8 March");

    app.clock.set(at("2026-03-17T09:00:00Z"));
    let agenda = app.get("/api/v1/agents/me/agenda", marta).await.body;
    assert_eq!(agenda["date"], "2026-03-17");
    let items = agenda["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["promise"]["id"], overdue["id"]);
    assert_eq!(items[0]["overdue"], true);
    assert_eq!(items[1]["overdue"], false);
    assert_eq!(items[1]["customer_local_now"], "2026-03-17 05:00 America/New_York");
    assert_eq!(items[1]["due_agent_local"], "2026-03-17 15:00 Europe/Madrid");

    app.created(
        &format!("/api/v1/promises/{}/handover", later["id"].as_str().unwrap()),
        marta,
        json!({ "to_agent_id": z.jorge.id, "note": "Dana prefers English; roaming question" }),
    )
    .await;
    let mine = app.get("/api/v1/agents/me/agenda", marta).await.body;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let jorge = app.get(&format!("/api/v1/agents/{}/agenda?date=2026-03-17", z.jorge.id), &z.jorge.token).await.body;
    assert_eq!(jorge["items"][0]["promise"]["title"], "I'll call you at 10 your time");
    let ledger = app.get(&format!("/api/v1/promises/{}", later["id"].as_str().unwrap()), &z.jorge.token).await.body;
    assert_eq!(ledger["ledger"][1]["kind"], "handed_over");
    assert_eq!(ledger["ledger"][1]["data"]["note"], "Dana prefers English; roaming question");
}

/// An agent who moves a promise after its due time is late; one who cancels without the customer breaks it.
#[actix_web::test]
async fn agent_reschedule_after_due_counts_as_late_and_agent_cancel_breaks_the_promise() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Elena Gracia", "Europe/Madrid").await.id;
    let p = app
        .created("/api/v1/promises", marta, json!({ "customer_id": c, "kind": "callback", "title": "Te llamo a las 12", "due_local": "2026-03-16T12:00" }))
        .await;
    let id = p["id"].as_str().unwrap();
    app.clock.set(at("2026-03-16T11:30:00Z"));
    let moved = app
        .created(
            &format!("/api/v1/promises/{id}/reschedule"),
            marta,
            json!({ "due_local": "2026-03-16T17:00", "reason": "Queue was full", "initiated_by": "agent" }),
        )
        .await;
    assert_eq!(moved["status"], "open");
    let ledger = app.get(&format!("/api/v1/promises/{id}"), marta).await.body;
    assert_eq!(ledger["ledger"][1]["data"]["counts_as_late"], true);
    assert_eq!(ledger["ledger"][1]["data"]["after_due"], true);

    let cancelled = app
        .created(
            &format!("/api/v1/promises/{id}/cancel"),
            marta,
            json!({ "reason": "Could not get the answer", "initiated_by": "agent" }),
        )
        .await;
    assert_eq!(cancelled["status"], "broken");
    let ledger = app.get(&format!("/api/v1/promises/{id}"), marta).await.body;
    assert_eq!(ledger_kinds(&ledger), ["created", "rescheduled", "cancelled", "broken"]);

    let again = app.post(&format!("/api/v1/promises/{id}/keep"), marta, json!({ "note": "too late" })).await;
    again.assert_problem(409);
    assert_eq!(again.body["current_status"], "broken");
}

/// An update promise ("I'll update you every morning") keeps each occurrence and moves to the next.
#[actix_web::test]
async fn daily_update_promise_moves_to_the_next_morning_when_an_occurrence_is_kept() {
    let app = spawn_app_at(at("2026-03-16T08:00:00Z")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta.token;
    let c = customer(&app, marta, "Talleres Cuarte", "Europe/Madrid").await.id;
    let p = app
        .created(
            "/api/v1/promises",
            marta,
            json!({ "customer_id": c, "kind": "update", "title": "Te informo cada mañana a las 10:00", "recurrence": { "cron": "0 10 * * mon-sat" } }),
        )
        .await;
    assert_eq!(p["due_local"], "2026-03-16T10:00:00");
    let id = p["id"].as_str().unwrap();
    app.clock.set(at("2026-03-16T09:02:00Z"));
    let logged = app
        .created(
            &format!("/api/v1/customers/{c}/interactions"),
            marta,
            json!({ "channel": "phone", "direction": "outbound", "outcome": "reached", "summary": "Porting still pending", "promise_id": id }),
        )
        .await;
    assert_eq!(logged["promise"]["status"], "open");
    assert_eq!(logged["promise"]["due_local"], "2026-03-17T10:00:00");
    let ledger = app.get(&format!("/api/v1/promises/{id}"), marta).await.body;
    assert_eq!(ledger["ledger"][1]["data"]["final"], false);
    assert_eq!(ledger["ledger"][1]["data"]["occurrence"], "2026-03-16T09:00:00Z");
}
