//! Customers and what hangs off one: the record, the brief, the timeline and the contacts logged with them.

use reqwest::Method;
use serde_json::json;

use super::{check, none, Case};

#[actix_web::test]
async fn every_customer_endpoint_against_every_role() {
    check(&[
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
    ])
    .await;
}
