//! Teams: only an admin makes them; every signed-in agent may list them.

use reqwest::Method;
use serde_json::json;

use super::{check, none, Case};

#[actix_web::test]
async fn every_team_endpoint_against_every_role() {
    check(&[
        Case {
            method: Method::POST,
            path: "/api/v1/teams",
            body: |r| Some(json!({ "name": format!("Team {r}") })),
            expect: [201, 403, 403, 403, 403, 401],
        },
        Case { method: Method::GET, path: "/api/v1/teams", body: none, expect: [200, 200, 200, 200, 200, 401] },
    ])
    .await;
}
