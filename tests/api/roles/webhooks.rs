//! Webhook subscriptions: an admin's alone.

use reqwest::Method;
use serde_json::json;

use super::{check, none, Case};

#[actix_web::test]
async fn every_webhook_endpoint_against_every_role() {
    check(&[
        Case {
            method: Method::POST,
            path: "/api/v1/webhooks",
            body: |_| Some(json!({ "url": "http://127.0.0.1:9/hook" })),
            expect: [201, 403, 403, 403, 403, 401],
        },
        Case { method: Method::GET, path: "/api/v1/webhooks", body: none, expect: [200, 403, 403, 403, 403, 401] },
    ])
    .await;
}
