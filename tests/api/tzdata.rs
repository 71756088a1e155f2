//! A change of the IANA rules moves the instant of a future promise, never its wall-clock time.

use diesel::prelude::*;
use serde_json::json;

use crate::helpers::{at, customer, spawn_app_at, zaragoza};
use tendero::db::schema::promises;
use tendero::repo::service_state;

#[actix_web::test]
async fn start_up_rederives_future_promises_after_a_tzdata_change_and_records_it() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let c = customer(&app, &z.marta.token, "Ana Royo", "Europe/Madrid").await.id;
    let p = app
        .created(
            "/api/v1/promises",
            &z.marta.token,
            json!({ "customer_id": c, "kind": "callback", "title": "Te llamo", "due_local": "2026-04-07T11:00" }),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["due_at"], "2026-04-07T09:00:00Z");

    // As if the instant had been derived under older rules that put Madrid on +01:00 in April.
    let stale = at("2026-04-07T10:00:00Z").timestamp_millis();
    let promise_id = id.clone();
    app.db
        .write_blocking(move |conn| {
            diesel::update(promises::table.find(&promise_id))
                .set((promises::due_at.eq(stale), promises::due_offset_seconds.eq(3600)))
                .execute(&mut **conn)?;
            Ok(service_state::set(conn, "tzdata_version", "2000a", 0)?)
        })
        .unwrap();

    let report =
        tendero::tzdata::recompute_if_changed(&app.db, &app.tolerances(), &app.views(), app.clock.now()).unwrap();
    assert_eq!(report.previous.as_deref(), Some("2000a"));
    assert_eq!(report.recomputed, 1);
    let after = app.get(&format!("/api/v1/promises/{id}"), &z.marta.token).await.body;
    assert_eq!(after["due_at"], "2026-04-07T09:00:00Z");
    assert_eq!(after["due_local"], "2026-04-07T11:00:00");
    assert_eq!(after["due_local_offset"], "+02:00");
    let last = after["ledger"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "recomputed");
    assert_eq!(last["data"]["from"]["due_at"], "2026-04-07T10:00:00Z");

    // Once recorded, the next start does not scan again.
    let again =
        tendero::tzdata::recompute_if_changed(&app.db, &app.tolerances(), &app.views(), app.clock.now()).unwrap();
    assert_eq!((again.checked, again.recomputed), (0, 0));
}

/// A test that sets the clock to a wall time the clocks jump over (02:30 on Madrid's spring-forward night) has a
/// mistake in its story: it stops there instead of running at some other instant.
#[test]
#[should_panic(expected = "2026-03-29 02:30 does not exist in Europe/Madrid")]
fn a_wall_time_that_does_not_happen_stops_the_test() {
    crate::helpers::local("Europe/Madrid", "2026-03-29 02:30");
}

/// 02:30 on the autumn night happens twice in Madrid: the test must name the instant.
#[test]
#[should_panic(expected = "2026-10-25 02:30 happens twice in Europe/Madrid")]
fn a_wall_time_that_happens_twice_stops_the_test() {
    crate::helpers::local("Europe/Madrid", "2026-10-25 02:30");
}

/// An ordinary wall time is that instant in UTC.
#[test]
fn a_wall_time_is_read_in_its_zone() {
    assert_eq!(crate::helpers::local("Atlantic/Canary", "2026-03-17 10:50").to_rfc3339(), "2026-03-17T10:50:00+00:00");
    assert_eq!(crate::helpers::local("Europe/Madrid", "2026-03-17 10:50").to_rfc3339(), "2026-03-17T09:50:00+00:00");
}
