//! Promises: anyone on the team may make one for the team's customer and read it; only the owner, the manager and
//! an admin may move, keep, cancel or hand it over.

use reqwest::Method;
use serde_json::json;

use super::{check, none, Case};

#[actix_web::test]
async fn every_promise_endpoint_against_every_role() {
    check(&[
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
    ])
    .await;
}
