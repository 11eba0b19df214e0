//! The worker keeps projects and flows between batches; a change to one is
//! never missed. The documented bound (README, "Performance") is zero: a
//! status change takes effect for every batch whose statement starts after
//! it commits, however it was made (bvctl, or by hand in SQL).

use bv_e2e::{JWT_SECRET, TestApp, seed_request};
use bv_store::creates::Stored;
use bv_worker::persist::{Outcome, persist_cached};
use bv_worker::references::References;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

async fn bvctl(app: &TestApp, args: &[&str]) {
    let output = crate::support::bvctl()
        .args(args)
        .env("BV__DATABASE__URL", &app.test_db.url)
        .env("BV__AUTH__JWT_SECRET", JWT_SECRET)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "bvctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn code(response: reqwest::Response) -> String {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    if status == 201 {
        "201".into()
    } else {
        body["code"].as_str().unwrap_or_default().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_paused_by_bvctl_stops_taking_creates_at_once() {
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let t = app.token("c1");
    // Warm: the worker now holds the project and the flow.
    assert_eq!(code(app.post(&t, &seed_request()).await).await, "201");
    for _ in 0..3 {
        bvctl(&app, &["flow", "set-status", "flow_123456789", "paused"]).await;
        assert_eq!(
            code(app.post(&t, &seed_request()).await).await,
            "INVALID_PROJECT_FLOW",
            "the first create after the pause is refused"
        );
        bvctl(&app, &["flow", "set-status", "flow_123456789", "active"]).await;
        assert_eq!(
            code(app.post(&t, &seed_request()).await).await,
            "201",
            "the first create after the resume is taken"
        );
    }
    bvctl(
        &app,
        &["project", "set-status", "project_123456789", "inactive"],
    )
    .await;
    assert_eq!(
        code(app.post(&t, &seed_request()).await).await,
        "INVALID_PROJECT"
    );
    assert_eq!(app.count().await, 4);
}

fn incoming(identifier: &str) -> bv_worker::persist::Incoming {
    let mut body = seed_request().as_object().unwrap().clone();
    body.insert("client".into(), json!("c1"));
    body.insert("identifier".into(), json!(identifier));
    let command = bv_contract::CreateCommand::decode(
        &serde_json::to_vec(&body).unwrap(),
        bv_contract::request::Expiry::AnyTime,
    )
    .unwrap();
    bv_worker::persist::Incoming {
        id: uuid::Uuid::now_v7(),
        fingerprint: bv_contract::idempotency::fingerprint(&command.client, &command.request),
        command,
        trace: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_made_by_hand_in_sql_is_seen_by_the_next_batch() {
    let app = TestApp::spawn_with(bv_e2e::Options::default().without_worker()).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let cache = References::default();
    let now = chrono::Utc::now();
    let created = |o: &Outcome| matches!(o, Outcome::Created(_));
    let refused = |o: &Outcome, code| matches!(o, Outcome::Rejected(e) if e.code == code);

    let out = persist_cached(&app.db, &cache, &[incoming("a")], now)
        .await
        .unwrap();
    assert!(created(&out[0]), "{out:?}");
    // Cached as active; paused behind the cache's back.
    app.db
        .execute_unprepared("UPDATE project_flows SET status = 'paused'")
        .await
        .unwrap();
    let out = persist_cached(&app.db, &cache, &[incoming("b"), incoming("c")], now)
        .await
        .unwrap();
    assert!(
        out.iter()
            .all(|o| refused(o, bv_contract::ErrorCode::InvalidProjectFlow)),
        "{out:?}"
    );
    // Now cached as paused; resumed behind its back.
    app.db
        .execute_unprepared("UPDATE project_flows SET status = 'active'")
        .await
        .unwrap();
    let out = persist_cached(&app.db, &cache, &[incoming("d")], now)
        .await
        .unwrap();
    assert!(created(&out[0]), "{out:?}");
    // Another client's now: the cached owner is stale.
    app.db
        .execute_unprepared("UPDATE projects SET client = 'c2'")
        .await
        .unwrap();
    let out = persist_cached(&app.db, &cache, &[incoming("e")], now)
        .await
        .unwrap();
    assert!(
        refused(&out[0], bv_contract::ErrorCode::InvalidProject),
        "{out:?}"
    );
    assert_eq!(app.count().await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_one_statement_insert_checks_its_references_and_skips_stored_ids() {
    let app = TestApp::spawn_with(bv_e2e::Options::default().without_worker()).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let project = bv_store::projects::get(&app.db, "project_123456789")
        .await
        .unwrap()
        .unwrap();
    let flows = bv_store::flows::by_ids(&app.db, ["flow_123456789"])
        .await
        .unwrap();
    let flow = flows.values().next().unwrap();
    let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
    let model = |identifier: &str| {
        let mut m = bv_store::entity::biometric_validation::Model {
            id: uuid::Uuid::now_v7(),
            client: "c1".into(),
            project: project.id.clone(),
            project_flow: flow.id.clone(),
            status: bv_contract::ValidationStatus::New,
            identifier: identifier.into(),
            kind: bv_contract::ValidationType::Login,
            expires_at: None,
            redirect_url: None,
            webhook_url: Some("https://example.com/hook".into()),
            requires_2fa: false,
            ip_address: Some("192.0.2.1".into()),
            send_via_email: false,
            email: None,
            language: bv_contract::Language::Es,
            request_hash: "h".into(),
            attempts: 0,
            person_id: None,
            person_enrolled: None,
            decided_attempt: None,
            created_at: now,
            updated_at: now,
        };
        m.expires_at = (identifier == "b").then_some(now + chrono::Duration::hours(1));
        m
    };
    let outbox = |m: &bv_store::entity::biometric_validation::Model| -> Vec<_> {
        bv_store::deliveries::plan(m, &project, || {
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into())
        })
        .into_iter()
        .map(|r| sea_orm::TryIntoModel::try_into_model(r).unwrap())
        .collect()
    };

    let (a, b) = (model("a"), model("b"));
    let rows: Vec<_> = [&a, &b].into_iter().flat_map(outbox).collect();
    let stored = bv_store::creates::insert(
        &app.db,
        &[&project],
        &[flow],
        &[a.clone(), b.clone()],
        &rows,
    )
    .await
    .unwrap();
    assert_eq!(stored, Stored::Inserted([a.id, b.id].into()));
    // Every column as given, NULLs included.
    let back = bv_store::validations::get(&app.db, "c1", b.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, b);
    let back = bv_store::validations::get(&app.db, "c1", a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, a);
    let deliveries = bv_store::deliveries::for_validation(&app.db, "c1", a.id)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].0, rows[0]);

    // a again (a redelivery) with a new one: only the new one and its outbox row.
    let c = model("c");
    let rows: Vec<_> = [&a, &c].into_iter().flat_map(outbox).collect();
    let stored = bv_store::creates::insert(
        &app.db,
        &[&project],
        &[flow],
        &[a.clone(), c.clone()],
        &rows,
    )
    .await
    .unwrap();
    assert_eq!(stored, Stored::Inserted([c.id].into()));
    assert_eq!(bv_e2e::count_rows(&app.db, "deliveries").await, 3);

    // The flow changed since it was read: nothing is written.
    bv_store::flows::set_status(&app.db, &flow.id, bv_contract::FlowStatus::Paused)
        .await
        .unwrap();
    let d = model("d");
    let stored = bv_store::creates::insert(
        &app.db,
        &[&project],
        &[flow],
        std::slice::from_ref(&d),
        &outbox(&d),
    )
    .await
    .unwrap();
    assert_eq!(stored, Stored::Stale);
    assert_eq!(app.count().await, 3);
    assert_eq!(bv_e2e::count_rows(&app.db, "deliveries").await, 3);
}
