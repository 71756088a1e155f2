//! Promise metrics: the team's figures for everyone signed in; one agent's only for that agent and above.

use reqwest::Method;

use super::{check, none, Case};

#[actix_web::test]
async fn every_metrics_endpoint_against_every_role() {
    check(&[
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
    ])
    .await;
}
