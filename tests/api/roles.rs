//! Every endpoint against every role: allowed, 403 (role), 404 (other team: ids do not leak), 401 (no token).

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{at, customer, spawn_app_at, zaragoza};

const ROLES: [&str; 6] = ["admin", "manager", "owner", "teammate", "outsider", "anonymous"];

struct Case {
    method: Method,
    path: &'static str,
    body: fn(&str) -> Option<Value>,
    expect: [u16; 6],
}

fn none(_: &str) -> Option<Value> {
    None
}

#[actix_web::test]
async fn every_endpoint_against_every_role() {
    let app = spawn_app_at(at("2026-03-16T09:00:00Z")).await;
    let z = zaragoza(&app).await;
    let c = customer(&app, &z.marta.token, "Ana Royo", "Europe/Madrid").await.id;
    let new_promise = || async {
        app.created(
            "/api/v1/promises",
            &z.marta.token,
            json!({ "customer_id": c, "kind": "callback", "title": "Te llamo", "due_local": "2026-03-17T10:00" }),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let standing = new_promise().await;
    let tokens = [
        Some(app.admin.as_str()),
        Some(z.manager.token.as_str()),
        Some(z.marta.token.as_str()),
        Some(z.jorge.token.as_str()),
        Some(z.outsider.token.as_str()),
        None,
    ];
    let cases = [
        Case {
            method: Method::POST,
            path: "/api/v1/teams",
            body: |r| Some(json!({ "name": format!("Team {r}") })),
            expect: [201, 403, 403, 403, 403, 401],
        },
        Case { method: Method::GET, path: "/api/v1/teams", body: none, expect: [200, 200, 200, 200, 200, 401] },
        Case {
            method: Method::GET,
            path: "/api/v1/metrics/promises",
            body: none,
            expect: [200, 200, 200, 200, 200, 401],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/metrics/promises?agent={marta}",
            body: none,
            expect: [200, 200, 200, 403, 403, 401],
        },
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
            path: "/api/v1/customers",
            body: |r| Some(json!({ "name": format!("Customer of {r}"), "time_zone": "Europe/Madrid" })),
            expect: [201, 201, 201, 201, 201, 401],
        },
        Case { method: Method::GET, path: "/api/v1/customers", body: none, expect: [200, 200, 200, 200, 200, 401] },
        Case {
            method: Method::GET,
            path: "/api/v1/customers/{customer}",
            body: none,
            expect: [200, 200, 200, 200, 404, 401],
        },
        Case {
            method: Method::PATCH,
            path: "/api/v1/customers/{customer}",
            body: |_| Some(json!({ "notes": "n" })),
            expect: [200, 200, 200, 200, 404, 401],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/customers/{customer}/brief",
            body: none,
            expect: [200, 200, 200, 200, 404, 401],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/customers/{customer}/timeline",
            body: none,
            expect: [200, 200, 200, 200, 404, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/customers/{customer}/interactions",
            body: |_| Some(json!({ "channel": "phone", "direction": "inbound", "outcome": "reached", "summary": "s" })),
            expect: [201, 201, 201, 201, 404, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/promises",
            body: |_| {
                Some(
                    json!({ "customer_id": "{customer}", "kind": "callback", "title": "t", "due_local": "2026-03-17T11:00" }),
                )
            },
            expect: [201, 201, 201, 201, 404, 401],
        },
        Case { method: Method::GET, path: "/api/v1/promises", body: none, expect: [200, 200, 200, 200, 200, 401] },
        Case {
            method: Method::GET,
            path: "/api/v1/agents/{marta}/prompts",
            body: none,
            expect: [200, 200, 200, 403, 404, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/webhooks",
            body: |_| Some(json!({ "url": "http://127.0.0.1:9/hook" })),
            expect: [201, 403, 403, 403, 403, 401],
        },
        Case { method: Method::GET, path: "/api/v1/webhooks", body: none, expect: [200, 403, 403, 403, 403, 401] },
        Case {
            method: Method::POST,
            path: "/api/v1/agents/{marta}/calendar-token",
            body: |_| Some(json!({})),
            expect: [201, 403, 201, 403, 403, 401],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/promises/{promise}",
            body: none,
            expect: [200, 200, 200, 200, 404, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/promises/{fresh}/reschedule",
            body: |_| Some(json!({ "due_local": "2026-03-17T12:00", "reason": "r", "initiated_by": "customer" })),
            expect: [200, 200, 200, 403, 404, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/promises/{fresh}/keep",
            body: |_| Some(json!({ "note": "done" })),
            expect: [200, 200, 200, 403, 404, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/promises/{fresh}/cancel",
            body: |_| Some(json!({ "reason": "r", "initiated_by": "customer" })),
            expect: [200, 200, 200, 403, 404, 401],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/promises/{fresh}/handover",
            body: |_| Some(json!({ "to_agent_id": "{jorge}", "note": "n" })),
            expect: [200, 200, 200, 403, 404, 401],
        },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        for (i, role) in ROLES.iter().enumerate() {
            let fresh = if case.path.contains("{fresh}") { new_promise().await } else { String::new() };
            let fill = |text: &str| {
                text.replace("{marta}", &z.marta.id)
                    .replace("{jorge}", &z.jorge.id)
                    .replace("{customer}", &c)
                    .replace("{promise}", &standing)
                    .replace("{fresh}", &fresh)
            };
            let path = fill(case.path);
            let body = (case.body)(role).map(|b| serde_json::from_str::<Value>(&fill(&b.to_string())).unwrap());
            let answer = app.send(case.method.clone(), &path, tokens[i], body.as_ref()).await;
            if answer.status.as_u16() != case.expect[i] {
                failures.push(format!(
                    "{} {} as {role}: {} (expected {}) {}",
                    case.method, case.path, answer.status, case.expect[i], answer.body
                ));
            } else if answer.status.as_u16() >= 400 {
                answer.assert_problem(case.expect[i]);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The OpenAPI document describes every route exercised above, with its method.
    let doc = app.send(Method::GET, "/api/v1/openapi.json", None, None).await.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    for case in &cases {
        let path = case
            .path
            .split('?')
            .next()
            .unwrap_or_default()
            .replace("{marta}", "{id}")
            .replace("{customer}", "{id}")
            .replace("{promise}", "{id}")
            .replace("{fresh}", "{id}");
        let method = case.method.as_str().to_lowercase();
        assert!(doc["paths"][&path][&method].is_object(), "{method} {path} is missing from the OpenAPI document");
    }
    assert!(doc["paths"]["/api/v1/agents/{id}/agenda"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "date"));
}
