//! A client sees and uses only its own projects and validations.

use bv_e2e::{TestApp, seed_request};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn client_b_can_neither_create_in_nor_read_client_a() {
    let app = TestApp::spawn().await;
    app.seed("client_a", "project_123456789", "flow_123456789", "login")
        .await;
    app.seed("client_b", "project_b", "flow_b", "login").await;
    let a = app.token("client_a");
    let b = app.token("client_b");

    let created: Value = app.post(&a, &seed_request()).await.json().await.unwrap();
    let id = created["data"]["_id"].as_str().unwrap();

    // B cannot create against A's project, even naming A's flow.
    let response = app.post(&b, &seed_request()).await;
    assert_eq!(response.status(), 400);
    let err: Value = response.json().await.unwrap();
    assert_eq!(err["code"], "INVALID_PROJECT");

    // B cannot read A's validation: not found, same as an unknown id.
    let read = app
        .get(&b, &format!("/v2/biometric-validations/{id}"))
        .await;
    assert_eq!(read.status(), 404);
    let err: Value = read.json().await.unwrap();
    assert_eq!(err["code"], "BIOMETRIC_VALIDATION_NOT_FOUND");
    let unknown = app
        .get(
            &b,
            &format!("/v2/biometric-validations/{}", uuid::Uuid::now_v7()),
        )
        .await;
    assert_eq!(unknown.status(), 404);

    // B's list is empty; A's has the one validation.
    let list: Value = app
        .get(&b, "/v2/biometric-validations")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
    assert_eq!(list["pagination"]["total"], 0);
    let list: Value = app
        .get(&a, "/v2/biometric-validations")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["pagination"]["total"], 1);
    // And B asking for A's project by filter sees nothing.
    let list: Value = app
        .get(
            &b,
            "/v2/biometric-validations?where_project=project_123456789",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["pagination"]["total"], 0);
}
