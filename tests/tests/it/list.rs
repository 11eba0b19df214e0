//! The list endpoint: filters, pagination, sorting, bad parameters.

use bv_e2e::{TestApp, seed_request};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn filters_and_pagination_follow_verifik_conventions() {
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    app.seed_flow("project_123456789", "flow_onb", "onboarding", "active")
        .await;
    let t = app.token("c1");

    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = seed_request();
        body["identifier"] = json!(format!("user-{i}"));
        if i % 2 == 1 {
            body["type"] = json!("onboarding");
            body["projectFlow"] = json!("flow_onb");
        }
        let created: Value = app.post(&t, &body).await.json().await.unwrap();
        ids.push(created["data"]["_id"].as_str().unwrap().to_owned());
    }

    let page: Value = app
        .get(
            &t,
            "/v2/biometric-validations?perPage=2&page=2&sort=createdAt",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["pagination"],
        json!({"page": 2, "perPage": 2, "total": 5, "pages": 3})
    );
    let got: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        vec![ids[2].as_str(), ids[3].as_str()],
        "oldest first with sort=createdAt"
    );

    let newest: Value = app
        .get(&t, "/v2/biometric-validations?perPage=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        newest["data"][0]["_id"],
        ids[4].as_str(),
        "newest first by default"
    );

    let onboarding: Value = app
        .get(&t, "/v2/biometric-validations?where_type=onboarding")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(onboarding["pagination"]["total"], 2);
    let flow: Value = app
        .get(&t, "/v2/biometric-validations?where_projectFlow=flow_onb")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(flow["pagination"]["total"], 2);
    let one: Value = app
        .get(&t, "/v2/biometric-validations?where_identifier=user-3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["data"][0]["_id"], ids[3].as_str());
    let statuses: Value = app
        .get(
            &t,
            "/v2/biometric-validations?in_status[]=new&in_status[]=expired",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses["pagination"]["total"], 5);
    let none: Value = app
        .get(&t, "/v2/biometric-validations?where_status=validated")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["pagination"]["total"], 0);
    let future: Value = app
        .get(
            &t,
            "/v2/biometric-validations?where%3E_createdAt=2099-01-01T00:00:00Z",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(future["pagination"]["total"], 0);
    let past: Value = app
        .get(
            &t,
            "/v2/biometric-validations?where%3C_createdAt=2099-01-01T00:00:00Z",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(past["pagination"]["total"], 5);

    let bad = app
        .get(&t, "/v2/biometric-validations?where_stauts=new")
        .await;
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["code"], "INVALID_PARAMETERS");
    assert_eq!(bad["field"], "where_stauts");
}
