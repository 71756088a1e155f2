//! Every endpoint against every role: allowed, 403 (role), 404 (other team: ids do not leak), 401 (no token).
//! One file per resource lists its endpoints; this module holds the cast they are tried with and the check.

mod agents;
mod customers;
mod metrics;
mod promises;
mod prompts;
mod teams;
mod webhooks;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{customer, local, spawn_app_at, zaragoza};

/// Who calls, in the order of [`Case::expect`]: the owner is Marta (the customer and the promises are hers), the
/// teammate Jorge, the outsider an agent of another team.
const ROLES: [&str; 6] = ["admin", "manager", "owner", "teammate", "outsider", "anonymous"];

/// One endpoint and the status each role gets. The path and the body may name `{marta}`, `{jorge}`, `{customer}`,
/// `{promise}` (a standing promise of Marta's) and `{fresh}` (a new promise of Marta's for each request, for the
/// endpoints that close or move it).
struct Case {
    method: Method,
    path: &'static str,
    body: fn(&str) -> Option<Value>,
    expect: [u16; 6],
}

fn none(_: &str) -> Option<Value> {
    None
}

/// Sends every case as every role and checks the statuses (a refusal is a problem answer), then that the OpenAPI
/// document describes each route with its method; returns that document.
async fn check(cases: &[Case]) -> Value {
    let app = spawn_app_at(local("Europe/Madrid", "2026-03-16 10:00")).await;
    let z = zaragoza(&app).await;
    let ana = customer(&app, &z.marta, "Ana Royo", "Europe/Madrid").await;
    let new_promise = || async {
        z.marta.promises_callback(&app, &ana, "Te llamo", "2026-03-17 10:00").await["id"].as_str().unwrap().to_string()
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
    let mut failures = Vec::new();
    for case in cases {
        for (i, role) in ROLES.iter().enumerate() {
            let fresh = if case.path.contains("{fresh}") { new_promise().await } else { String::new() };
            let fill = |text: &str| {
                text.replace("{marta}", &z.marta.id)
                    .replace("{jorge}", &z.jorge.id)
                    .replace("{customer}", &ana.id)
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

    let doc = app.send(Method::GET, "/api/v1/openapi.json", None, None).await.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    for case in cases {
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
    doc
}
