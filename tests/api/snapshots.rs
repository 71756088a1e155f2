//! Snapshots of what people read: the card of a prompt from a seed story, a promise's ledger, and problem answers.
//! A change to any of them shows up as a diff to review (`cargo insta review`), not as a silent drift.
//!
//! Every id is replaced by its kind and the order it first appears in (`prm#1`, `int#2`), inside texts too: ids are
//! random, but which ids are equal is part of the story (the card's promise is the prompt's). Instants come from
//! the manual clock, so they are the story's, on either backend.

use insta::assert_json_snapshot;
use serde_json::{json, Value};

use crate::helpers::{customer, local, spawn_app_at, zaragoza};

/// Whether a word is one of our ids: a short lowercase kind, `_`, and a lowercase ULID (`prm_01jq...`).
fn is_id(word: &str) -> bool {
    word.split_once('_').is_some_and(|(kind, ulid)| {
        (2..=5).contains(&kind.len())
            && kind.bytes().all(|b| b.is_ascii_lowercase())
            && ulid.len() == 26
            && ulid.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// `value` with each id, alone or inside a text (a problem's `detail`), replaced by its kind and number, the same
/// id always by the same name.
fn with_ids_named(value: &Value) -> Value {
    fn name(text: &str, seen: &mut Vec<String>) -> String {
        let mut out = text.to_string();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| is_id(w)) {
            let n = match seen.iter().position(|s| s == word) {
                Some(i) => i + 1,
                None => {
                    seen.push(word.to_string());
                    seen.len()
                }
            };
            let kind = word.split('_').next().unwrap_or_default();
            out = out.replace(word, &format!("{kind}#{n}"));
        }
        out
    }
    fn walk(value: &Value, seen: &mut Vec<String>) -> Value {
        match value {
            Value::String(text) => Value::String(name(text, seen)),
            Value::Array(items) => Value::Array(items.iter().map(|item| walk(item, seen)).collect()),
            Value::Object(fields) => {
                Value::Object(fields.iter().map(|(key, item)| (key.clone(), walk(item, seen))).collect())
            }
            _ => value.clone(),
        }
    }
    walk(value, &mut Vec::new())
}

/// Seed 003: Marta agreed with Víctor to call him tomorrow at 11:00. At 10:50 his card reaches her: who he is,
/// his clock, what was said last time, what else is open.
#[actix_web::test]
async fn snapshot_of_the_card_ten_minutes_before_the_callback() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let victor = customer(&app, marta, "Víctor Lanuza", "Europe/Madrid").await;
    let patched = app
        .patch(&format!("/api/v1/customers/{}", victor.id), &marta.token, json!({ "facts": ["Does not want TV"] }))
        .await;
    assert_eq!(patched.status.as_u16(), 200, "{}", patched.body);
    let call = marta.logs_call(&app, &victor, "reached", "Asked about fibre; wants a call tomorrow at 11").await;
    marta
        .promises_callback(&app, &victor, "Te llamo mañana a las 11:00", "2026-03-17 11:00")
        .with(json!({ "made_in_interaction_id": call["interaction"]["id"] }))
        .await;
    marta.promises_deadline(&app, &victor, "El técnico pasará esta semana", "P5D").await;

    assert_eq!(app.at_local(&victor.zone, "2026-03-17 10:50").await, 1, "the lead reminder, and only it");
    let inbox = marta.get(&app, "/api/v1/agents/me/prompts").await;
    let prompts = inbox.as_array().expect("a list of prompts");
    assert_eq!(prompts.len(), 1, "{inbox}");
    assert_json_snapshot!("card_ten_minutes_before_the_callback", with_ids_named(&prompts[0]));
}

/// Seed 004: "corrected within 15 days", moved by the customer, kept on day 14: the ledger as a reader sees it.
#[actix_web::test]
async fn snapshot_of_the_ledger_of_a_deadline_moved_by_the_customer_and_kept() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let pilar = customer(&app, marta, "Pilar Ortega", "Europe/Madrid").await;
    let promise = marta.promises_deadline(&app, &pilar, "Tu factura estará corregida en 15 días", "P15D").await;
    app.set_local(&pilar.zone, "2026-03-21 11:00");
    marta.reschedules(&app, &promise, "2026-04-03 21:00", "customer", "Pilar is away until April").await;
    app.set_local(&pilar.zone, "2026-03-30 12:00");
    marta.keeps(&app, &promise, "Corrected invoice issued; registry entry removed").await;

    let full = marta.reads_promise(&app, &promise).await;
    // Event ids count every event in the database: their order is the ledger's, their values are not the story's.
    assert_json_snapshot!(
        "ledger_of_a_deadline_moved_by_the_customer_and_kept",
        with_ids_named(&full["ledger"]),
        { "[].id" => "[event id]" }
    );
}

/// The problem answers a client has to handle: several bad fields at once (422), an id that is not there (404),
/// a stale version (409).
#[actix_web::test]
async fn snapshot_of_problem_answers() {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let marta = &z.marta;
    let unprocessable = marta
        .post(
            &app,
            "/api/v1/customers",
            json!({ "name": " ", "time_zone": "Europe/Zaragoza", "locale": "spanish!", "contact_window": "mon-fri 25:00-26:00" }),
        )
        .answer()
        .await;
    unprocessable.assert_problem(422);
    assert_json_snapshot!("problem_422_several_fields", with_ids_named(&unprocessable.body));

    let missing = marta.get(&app, "/api/v1/promises/prm_01jq0000000000000000000000").answer().await;
    missing.assert_problem(404);
    assert_json_snapshot!("problem_404_unknown_promise", with_ids_named(&missing.body));

    let ana = customer(&app, marta, "Ana Royo", "Europe/Madrid").await;
    let p = marta.promises_callback(&app, &ana, "Te llamo", "2026-03-17 10:00").await;
    marta.reschedules(&app, &p, "2026-03-17 12:00", "customer", "Later").with(json!({ "version": 1 })).await;
    let stale = marta
        .reschedules(&app, &p, "2026-03-17 13:00", "customer", "Later still")
        .with(json!({ "version": 1 }))
        .answer()
        .await;
    stale.assert_problem(409);
    assert_json_snapshot!("problem_409_stale_version", with_ids_named(&stale.body));
}
