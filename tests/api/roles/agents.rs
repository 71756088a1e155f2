//! Agents and what hangs off one: the record, the agenda, absences, API tokens and the calendar feed's token.

use reqwest::Method;
use serde_json::json;

use super::{check, none, Case};

#[actix_web::test]
async fn every_agent_endpoint_against_every_role() {
    let doc = check(&[
        Case {
            method: Method::POST,
            path: "/api/v1/agents",
            body: |r| Some(json!({ "name": r, "email": format!("{r}@new.test"), "time_zone": "Europe/Madrid" })),
            expect: [201, 403, 403, 403, 403, 401],
        },
        Case { method: Method::GET, path: "/api/v1/agents", body: none, expect: [200, 200, 200, 200, 200, 401] },
        Case {
            method: Method::GET,
            path: "/api/v1/agents/{marta}",
            body: none,
            expect: [200, 200, 200, 200, 404, 401],
        },
        Case {
            method: Method::PATCH,
            path: "/api/v1/agents/{marta}",
            body: |_| Some(json!({ "locale": "es-ES" })),
            expect: [200, 403, 403, 403, 403, 401],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/agents/{marta}/agenda",
            body: none,
            expect: [200, 200, 200, 403, 404, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/agents/{marta}/absences",
            body: |_| Some(json!({ "starts_at": "2026-04-01T00:00:00Z", "ends_at": "2026-04-02T00:00:00Z" })),
            expect: [201, 201, 201, 403, 404, 401],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/agents/{marta}/absences",
            body: none,
            expect: [200, 200, 200, 200, 404, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/agents/{marta}/tokens",
            body: |_| Some(json!({ "name": "x" })),
            expect: [201, 403, 403, 403, 403, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/agents/{marta}/calendar-token",
            body: |_| Some(json!({})),
            expect: [201, 403, 201, 403, 403, 401],
        },
    ])
    .await;
    assert!(doc["paths"]["/api/v1/agents/{id}/agenda"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "date"));
}
