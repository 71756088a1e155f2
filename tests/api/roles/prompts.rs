//! An agent's prompts: the agent's own, their manager's and an admin's to read; a teammate is refused, another
//! team does not see that the agent exists.

use reqwest::Method;

use super::{check, none, Case};

#[actix_web::test]
async fn every_prompt_endpoint_against_every_role() {
    check(&[Case {
        method: Method::GET,
        path: "/api/v1/agents/{marta}/prompts",
        body: none,
        expect: [200, 200, 200, 403, 404, 401],
    }])
    .await;
}
