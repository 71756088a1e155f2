//! The seed stories as scenarios, end to end over HTTP, told in the customers' wall time.

use serde_json::json;

use crate::helpers::{customer, local, spawn_app_at, zaragoza};

fn ledger_kinds(promise: &serde_json::Value) -> Vec<String> {
    promise["ledger"].as_array().expect("ledger").iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

/// Seed 004: the bill will be corrected within 15 days; the customer moves the date; it is kept on day 14.
#[actix_web::test]
async fn invoice_corrected_within_15_days_is_rescheduled_by_the_customer_and_kept_on_day_14() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let pilar = customer(&app, marta, "Pilar Ortega", "Europe/Madrid").await;
    marta.hears_from(&app, &pilar, "social", "Third wrong bill of 250 EUR").await;

    let promise = marta.promises_deadline(&app, &pilar, "Tu factura estará corregida en 15 días", "P15D").await;
    // Day 15 is Tuesday 31 March; the contact window closes at 21:00, which is CEST by then.
    assert_eq!(promise["due_local"], "2026-03-31T21:00:00");
    assert_eq!(promise["due_local_offset"], "+02:00");
    assert_eq!(promise["due_at"], "2026-03-31T19:00:00Z");
    assert_eq!(promise["owner_agent_id"], json!(marta.id));

    app.set_local(&pilar.zone, "2026-03-21 11:00");
    let moved = marta
        .reschedules(
            &app,
            &promise,
            "2026-04-03 21:00",
            "customer",
            "Pilar is away until April and wants the letter then",
        )
        .with(json!({ "version": 1 }))
        .await;
    assert_eq!(moved["due_at"], "2026-04-03T19:00:00Z");
    assert_eq!(moved["reschedule_count"], 1);
    assert_eq!(moved["version"], 2);

    app.set_local(&pilar.zone, "2026-03-30 12:00");
    let kept = marta.keeps(&app, &promise, "Corrected invoice issued; registry entry removed").await;
    assert_eq!(kept["status"], "kept");
    assert_eq!(kept["kept_on_time"], true);

    let full = marta.reads_promise(&app, &promise).await;
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
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let (marta, jorge) = (&z.marta, &z.jorge);
    let pilar = customer(&app, marta, "Pilar Ortega", "Europe/Madrid").await;
    let bill = marta.promises_deadline(&app, &pilar, "Factura corregida", "P15D").await;
    let call = jorge.promises_callback(&app, &pilar, "Te llamo el jueves", "2026-03-19 10:00").await;
    for (day, to, by, version) in
        [("2026-03-18 11:00", "2026-04-03 21:00", "customer", 1), ("2026-03-20 11:00", "2026-04-06 21:00", "agent", 2)]
    {
        app.set_local(&pilar.zone, day);
        let moved = marta
            .reschedules(&app, &bill, to, by, &format!("moved at the {by}'s request"))
            .with(json!({ "version": version }))
            .await;
        assert_eq!(moved["reschedule_count"], version);
    }

    let brief = jorge.brief(&app, &pilar).await;
    let open = brief["open_promises"].as_array().unwrap();
    let find = |id: &serde_json::Value| open.iter().find(|p| p["id"] == *id).expect("listed in the brief");
    let (bill, call) = (find(&bill["id"]), find(&call["id"]));
    assert_eq!(open.len(), 2);
    assert_eq!(bill["made_by_name"], marta.name);
    assert_eq!(call["made_by_name"], jorge.name);
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
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let jorge = &z.jorge;
    let victor = customer(&app, jorge, "Víctor Lanuza", "Europe/Madrid").await;
    let patched = app
        .patch(&format!("/api/v1/customers/{}", victor.id), &jorge.token, json!({ "facts": ["Does not want TV"] }))
        .await;
    assert_eq!(patched.status.as_u16(), 200, "{}", patched.body);

    let promise = jorge.promises_callback(&app, &victor, "Te llamo mañana a las 11:00", "2026-03-17 11:00").await;
    assert_eq!(promise["due_at"], "2026-03-17T10:00:00Z");
    assert_eq!(promise["time_zone"], "Europe/Madrid");
    assert_eq!(promise["grace"], "PT15M");
    assert_eq!(promise["lead"], json!(["PT10M"]));
    assert_eq!(promise["warnings"], json!([]));

    app.set_local(&victor.zone, "2026-03-17 11:00:40");
    let logged = jorge
        .logs_call(&app, &victor, "no_answer", "Called at 11:00 as agreed; he was out")
        .with(json!({ "promise_id": promise["id"] }))
        .await;
    assert_eq!(logged["promise"]["status"], "kept");
    assert_eq!(logged["promise"]["kept_on_time"], true);
    assert_eq!(logged["warnings"], json!([]));

    let again = jorge
        .promises_callback(&app, &victor, "Te vuelvo a llamar a las 13:00", "2026-03-17 13:00")
        .with(json!({ "made_in_interaction_id": logged["interaction"]["id"] }))
        .await;
    assert_eq!(again["due_at"], "2026-03-17T12:00:00Z");

    let brief = jorge.brief(&app, &victor).await;
    assert_eq!(brief["local_now"], "11:00 in Europe/Madrid (UTC+01:00)");
    assert_eq!(brief["owner"]["id"], json!(jorge.id));
    assert_eq!(brief["customer"]["name"], victor.name);
    assert_eq!(brief["customer"]["facts"], json!(["Does not want TV"]));
    let open = brief["open_promises"].as_array().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["title"], "Te vuelvo a llamar a las 13:00");
    assert_eq!(open[0]["made_by_name"], jorge.name);
    assert_eq!(brief["recent_interactions"][0]["outcome"], "no_answer");
    assert_eq!(brief["promise_history"]["kept"], 1);
    assert_eq!(brief["suggested_opening"], "Hola Víctor, soy Jorge. Te llamo como quedamos.");

    let first = jorge.reads_promise(&app, &promise).await;
    assert_eq!(ledger_kinds(&first), ["created", "kept"]);
    assert_eq!(first["ledger"][1]["data"]["evidence_interaction_id"], logged["interaction"]["id"]);
}

/// Seed 001: "I'll call you back in 20 minutes" at 18:28 is due at 18:48; the story on every channel is one
/// timeline.
#[actix_web::test]
async fn twenty_minute_callback_made_at_18_28_is_due_at_18_48_and_the_timeline_holds_every_channel() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 18:28")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let talleres = customer(&app, marta, "Talleres Cuarte", "Europe/Madrid").await;
    marta
        .hears_from(&app, &talleres, "social", "Work number dead after porting")
        .with(json!({ "occurred_at": local(&talleres.zone, "2026-03-16 18:00") }))
        .await;
    let call = marta.logs_call(&app, &talleres, "reached", "Checking with provisioning").await;
    let promise = marta
        .promises_callback(&app, &talleres, "Te llamo en 20 minutos", "2026-03-16 18:48")
        .with(json!({ "made_in_interaction_id": call["interaction"]["id"] }))
        .await;
    assert_eq!(promise["due_at"], "2026-03-16T17:48:00Z");

    app.set_local(&talleres.zone, "2026-03-16 18:48");
    let back = marta
        .logs_call(&app, &talleres, "reached", "24 h more for the porting")
        .with(json!({ "promise_id": promise["id"] }))
        .await;
    assert_eq!(back["promise"]["status"], "kept");
    app.set_local(&talleres.zone, "2026-03-16 19:30");
    marta.hears_from(&app, &talleres, "email", "Another reply said it was done").await;

    let timeline = marta.get(&app, &format!("/api/v1/customers/{}/timeline?limit=4", talleres.id)).await;
    let items = timeline["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["interaction"]["channel"], "email");
    // The keep event and the call that kept it happened at the same instant; both are there.
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"promise_event") && kinds.contains(&"interaction"), "{kinds:?}");
    let cursor = timeline["next_cursor"].as_str().expect("a second page");
    let rest = marta.get(&app, &format!("/api/v1/customers/{}/timeline?cursor={cursor}", talleres.id)).await;
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
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-20 10:00")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let c = customer(&app, marta, "Noctambulo", "Europe/Madrid").await;
    let ask = |disambiguation: Option<&str>| {
        let request = marta
            .promises_callback(&app, &c, "Te llamo de madrugada", "2026-03-29 02:30")
            .with(json!({ "customer_requested": true }));
        match disambiguation {
            Some(how) => request.with(json!({ "disambiguation": how })),
            None => request,
        }
    };
    let moved = ask(None).await;
    assert_eq!(moved["due_local"], "2026-03-29T03:30:00");
    assert_eq!(moved["due_at"], "2026-03-29T01:30:00Z");
    assert_eq!(moved["due_local_offset"], "+02:00");
    let codes: Vec<&str> = moved["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"dst_gap_shifted"), "{codes:?}");
    assert!(codes.contains(&"outside_contact_window_requested"), "{codes:?}");

    let refused = ask(Some("reject")).answer().await;
    refused.assert_problem(422);
    assert_eq!(refused.error_fields(), [("due_local".to_string(), "nonexistent_local_time".to_string())]);

    let back = ask(Some("earlier")).await;
    assert_eq!(back["due_local"], "2026-03-29T01:30:00");
    assert_eq!(back["due_at"], "2026-03-29T00:30:00Z");
}

/// Outside the customer's contact window the promise is refused with the nearest allowed slots, unless the
/// customer asked for that time; the owner's absence is a warning naming the stand-in.
#[actix_web::test]
async fn contact_window_refusal_names_the_nearest_slots_and_absence_names_the_stand_in() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let ayoze = &z.ayoze;
    let carmen = customer(&app, ayoze, "Carmen Déniz", "Atlantic/Canary").await;
    let refused = ayoze.promises_callback(&app, &carmen, "Te llamo el domingo", "2026-03-22 11:00").answer().await;
    refused.assert_problem(422);
    assert_eq!(refused.error_fields()[0].1, "outside_contact_window");
    assert_eq!(refused.body["nearest_slots"]["after"]["at"], "2026-03-23T09:00:00Z");
    assert_eq!(refused.body["nearest_slots"]["after"]["local"], "2026-03-23 09:00 Atlantic/Canary");
    assert_eq!(refused.body["nearest_slots"]["before"]["local"], "2026-03-21 20:59 Atlantic/Canary");

    ayoze
        .post(
            &app,
            &format!("/api/v1/agents/{}/absences", ayoze.id),
            json!({ "starts_at": "2026-03-18T00:00:00Z", "ends_at": "2026-03-20T00:00:00Z", "stand_in_agent_id": z.marta.id, "note": "Training" }),
        )
        .await;
    let during = ayoze.promises_callback(&app, &carmen, "Te llamo el jueves", "2026-03-19 10:00").await;
    let warning = &during["warnings"][0];
    assert_eq!(warning["code"], "owner_absent");
    assert!(warning["message"].as_str().unwrap().contains(&z.marta.name), "{warning}");
}

/// The agenda: overdue first, then the day, each with the customer's clock beside it; hand-overs move items.
#[actix_web::test]
async fn agenda_shows_overdue_first_with_customer_local_time_and_follows_hand_overs() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let (marta, jorge) = (&z.marta, &z.jorge);
    let dana = customer(&app, marta, "Dana Whitfield", "America/New_York").await;
    let ana = customer(&app, marta, "Ana Royo", "Europe/Madrid").await;
    let overdue = marta.promises_callback(&app, &ana, "Te llamo a las 11", "2026-03-16 11:00").await;
    let later = marta.promises_callback(&app, &dana, "I'll call you at 10 your time", "2026-03-17 10:00").await;
    assert_eq!(later["due_at"], "2026-03-17T14:00:00Z", "New York is on EDT since 8 March");

    app.set_local(&ana.zone, "2026-03-17 10:00");
    let agenda = marta.agenda(&app).await;
    assert_eq!(agenda["date"], "2026-03-17");
    let items = agenda["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["promise"]["id"], overdue["id"]);
    assert_eq!(items[0]["overdue"], true);
    assert_eq!(items[1]["overdue"], false);
    assert_eq!(items[1]["customer_local_now"], "2026-03-17 05:00 America/New_York");
    assert_eq!(items[1]["due_agent_local"], "2026-03-17 15:00 Europe/Madrid");

    marta.hands_over(&app, &later, jorge, "Dana prefers English; roaming question").await;
    let mine = marta.agenda(&app).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let his = jorge.get(&app, &format!("/api/v1/agents/{}/agenda?date=2026-03-17", jorge.id)).await;
    assert_eq!(his["items"][0]["promise"]["title"], "I'll call you at 10 your time");
    let ledger = jorge.reads_promise(&app, &later).await;
    assert_eq!(ledger["ledger"][1]["kind"], "handed_over");
    assert_eq!(ledger["ledger"][1]["data"]["note"], "Dana prefers English; roaming question");
}

/// An agent who moves a promise after its due time is late; one who cancels without the customer breaks it.
#[actix_web::test]
async fn agent_reschedule_after_due_counts_as_late_and_agent_cancel_breaks_the_promise() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let elena = customer(&app, marta, "Elena Gracia", "Europe/Madrid").await;
    let p = marta.promises_callback(&app, &elena, "Te llamo a las 12", "2026-03-16 12:00").await;
    app.set_local(&elena.zone, "2026-03-16 12:30");
    let moved = marta.reschedules(&app, &p, "2026-03-16 17:00", "agent", "Queue was full").await;
    assert_eq!(moved["status"], "open");
    let ledger = marta.reads_promise(&app, &p).await;
    assert_eq!(ledger["ledger"][1]["data"]["counts_as_late"], true);
    assert_eq!(ledger["ledger"][1]["data"]["after_due"], true);

    let cancelled = marta.cancels(&app, &p, "agent", "Could not get the answer").await;
    assert_eq!(cancelled["status"], "broken");
    let ledger = marta.reads_promise(&app, &p).await;
    assert_eq!(ledger_kinds(&ledger), ["created", "rescheduled", "cancelled", "broken"]);

    let again = marta.keeps(&app, &p, "too late").answer().await;
    again.assert_problem(409);
    assert_eq!(again.body["current_status"], "broken");
}

/// An update promise ("I'll update you every morning") keeps each occurrence and moves to the next.
#[actix_web::test]
async fn daily_update_promise_moves_to_the_next_morning_when_an_occurrence_is_kept() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 09:00")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let talleres = customer(&app, marta, "Talleres Cuarte", "Europe/Madrid").await;
    let p = marta.promises_updates(&app, &talleres, "Te informo cada mañana a las 10:00", "0 10 * * mon-sat").await;
    assert_eq!(p["due_local"], "2026-03-16T10:00:00");
    app.set_local(&talleres.zone, "2026-03-16 10:02");
    let logged = marta
        .logs_call(&app, &talleres, "reached", "Porting still pending")
        .with(json!({ "promise_id": p["id"] }))
        .await;
    assert_eq!(logged["promise"]["status"], "open");
    assert_eq!(logged["promise"]["due_local"], "2026-03-17T10:00:00");
    let ledger = marta.reads_promise(&app, &p).await;
    assert_eq!(ledger["ledger"][1]["data"]["final"], false);
    assert_eq!(ledger["ledger"][1]["data"]["occurrence"], "2026-03-16T09:00:00Z");
}
