//! bvctl, as an operator runs it.

use std::time::Duration;

use bv_e2e::{JWT_SECRET, Options, TestApp, eventually, seed_request};
use serde_json::{Value, json};

/// Runs bvctl against the app's database, with the tests' JWT secret.
async fn run_bvctl(app: &TestApp, args: &[&str]) -> std::process::Output {
    crate::support::bvctl()
        .args(args)
        .env("BV__DATABASE__URL", &app.test_db.url)
        .env("BV__AUTH__JWT_SECRET", JWT_SECRET)
        .output()
        .await
        .unwrap()
}

/// Runs bvctl, expecting success; its output as JSON (or as a string).
async fn bvctl(app: &TestApp, args: &[&str]) -> Value {
    let output = run_bvctl(app, args).await;
    assert!(
        output.status.success(),
        "bvctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        Value::String(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_sets_up_a_client_whose_token_the_ingress_accepts() {
    let app = TestApp::spawn().await;
    let migrated = bvctl(&app, &["--json", "migrate"]).await;
    assert_eq!(migrated["applied"], 6);

    let project = bvctl(
        &app,
        &[
            "--json",
            "project",
            "create",
            "--client",
            "acme",
            "--name",
            "Acme",
            "--id",
            "project_123456789",
        ],
    )
    .await;
    assert_eq!(project["id"], "project_123456789");
    assert!(
        project["webhookSecret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    let flow = bvctl(
        &app,
        &[
            "--json",
            "flow",
            "create",
            "--project",
            "project_123456789",
            "--type",
            "login",
            "--id",
            "flow_123456789",
        ],
    )
    .await;
    assert_eq!(flow["status"], "active");
    let listed = bvctl(&app, &["--json", "project", "list", "--client", "acme"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        listed[0].get("webhookSecret").is_none(),
        "the secret is shown only at creation"
    );

    let token = bvctl(&app, &["token", "issue", "--client", "acme", "--ttl", "1h"]).await;
    let token = token.as_str().unwrap();
    let response = app.post(token, &seed_request()).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["client"], "acme");

    // Deactivating the project takes effect at once…
    bvctl(
        &app,
        &["project", "set-status", "project_123456789", "inactive"],
    )
    .await;
    let response = app.post(token, &seed_request()).await;
    let err: Value = response.json().await.unwrap();
    assert_eq!(err["code"], "INVALID_PROJECT");
    bvctl(
        &app,
        &["project", "set-status", "project_123456789", "active"],
    )
    .await;

    // …and so does pausing the flow.
    bvctl(&app, &["flow", "set-status", "flow_123456789", "paused"]).await;
    let response = app.post(token, &seed_request()).await;
    assert_eq!(response.status(), 400);
    let err: Value = response.json().await.unwrap();
    assert_eq!(err["code"], "INVALID_PROJECT_FLOW");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_usage_is_reported_without_a_panic() {
    let app = TestApp::spawn_with(Options::default().without_worker()).await;
    // A failure: exit code 1, one line saying why.
    let output = run_bvctl(
        &app,
        &["flow", "create", "--project", "nope", "--type", "login"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("bvctl: no project `nope`") && !stderr.contains("panicked"),
        "{stderr}"
    );
    // Bad usage: exit code 2, the value and the flag named, with what is allowed.
    for (args, named) in [
        (
            &["flow", "create", "--project", "p", "--type", "selfie"][..],
            "--type",
        ),
        (&["flow", "set-status", "f", "archived"][..], "<STATUS>"),
        (&["deliveries", "redeliver", "not-a-uuid"][..], "<ID>"),
        (
            &["token", "issue", "--client", "c", "--ttl", "forever"][..],
            "--ttl",
        ),
    ] {
        let output = run_bvctl(&app, args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("invalid value")
                && stderr.contains(named)
                && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
    let output = run_bvctl(&app, &["flow", "set-status", "f", "archived"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("draft, active, paused"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_redelivers_a_failed_delivery_with_bvctl() {
    // No allow-list: the loopback webhook is refused, so the delivery fails at
    // once. The dispatcher would look again only in 30 s: bvctl, another
    // process, must wake it.
    let options = Options::dispatching()
        .with("webhooks.allowed_cidrs", "")
        .with("delivery.poll_interval", "30s");
    let app = TestApp::spawn_with(options).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let mut body = seed_request();
    body["webhookUrl"] = serde_json::json!("http://127.0.0.1:9/hook");
    body["sendViaEmail"] = serde_json::json!(false);
    let created: Value = app
        .post(&app.token("c1"), &body)
        .await
        .json()
        .await
        .unwrap();
    let id = created["data"]["_id"].as_str().unwrap();
    let d = app
        .settled_deliveries("c1", id, Duration::from_secs(5))
        .await;
    assert_eq!(d[0]["status"], "failed");

    let failed = bvctl(
        &app,
        &["--json", "deliveries", "list", "--status", "failed"],
    )
    .await;
    let delivery = failed[0]["_id"].as_str().unwrap().to_owned();
    assert_eq!(delivery, d[0]["_id"].as_str().unwrap());
    let redelivered = bvctl(&app, &["--json", "deliveries", "redeliver", &delivery]).await;
    assert_eq!(redelivered["status"], "pending");
    // The dispatcher is woken and takes it up again at once (and, still
    // refused, fails it again).
    assert!(
        eventually(Duration::from_secs(10), || async {
            let d = app.deliveries("c1", id).await;
            d[0]["attempts"] == 2 && d[0]["status"] == "failed"
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_sets_how_a_flow_decides_and_makes_signing_keys() {
    let app = TestApp::spawn().await;
    let project = bvctl(
        &app,
        &[
            "--json",
            "project",
            "create",
            "--client",
            "acme",
            "--name",
            "Acme",
            "--id",
            "p1",
            "--keep-images-days",
            "7",
        ],
    )
    .await;
    assert_eq!(
        (
            project["engine"].as_str(),
            project["keepImagesDays"].as_i64()
        ),
        (Some("face"), Some(7)),
        "the face engine is a new project's default"
    );
    // The sandbox stays available per project.
    let updated = bvctl(
        &app,
        &["--json", "project", "update", "p1", "--engine", "sandbox"],
    )
    .await;
    assert_eq!(updated["engine"], "sandbox");
    assert_eq!(
        updated["embedOrigins"],
        serde_json::json!([]),
        "no framing by default"
    );
    // Who may embed the capture page: origins as browsers write them, checked.
    let embeddable = bvctl(
        &app,
        &[
            "--json",
            "project",
            "update",
            "p1",
            "--embed-origin",
            "https://App.Example.com/",
            "--embed-origin",
            "http://localhost:3000",
        ],
    )
    .await;
    assert_eq!(
        embeddable["embedOrigins"],
        serde_json::json!(["http://localhost:3000", "https://app.example.com"])
    );
    let refused = run_bvctl(
        &app,
        &[
            "project",
            "update",
            "p1",
            "--embed-origin",
            "http://app.example.com",
        ],
    )
    .await;
    assert_eq!(refused.status.code(), Some(2), "a usage error");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("only localhost and 127.0.0.1 may embed over http"),
        "{said}"
    );
    let closed = bvctl(&app, &["project", "update", "p1", "--no-embed"]).await;
    assert!(
        closed
            .as_str()
            .unwrap()
            .contains("no site may embed its capture page"),
        "{closed}"
    );
    let flow = bvctl(
        &app,
        &[
            "--json",
            "flow",
            "create",
            "--project",
            "p1",
            "--type",
            "login",
            "--id",
            "f1",
            "--liveness",
            "passive",
            "--match-threshold",
            "0.85",
            "--max-attempts",
            "5",
        ],
    )
    .await;
    assert_eq!(flow["liveness"], "passive");
    assert_eq!(flow["maxAttempts"], 5);
    assert!((flow["matchThreshold"].as_f64().unwrap() - 0.85).abs() < 1e-6);
    bvctl(
        &app,
        &[
            "flow",
            "update",
            "f1",
            "--match-threshold",
            "default",
            "--max-attempts",
            "2",
        ],
    )
    .await;
    let listed = bvctl(&app, &["--json", "flow", "list", "--project", "p1"]).await;
    assert_eq!(listed[0]["maxAttempts"], 2);
    assert!(
        listed[0].get("matchThreshold").is_none(),
        "back to the engine's default"
    );
    // A flow's settings are what the worker applies: two failures end it.
    let token = bvctl(&app, &["token", "issue", "--client", "acme", "--ttl", "1h"]).await;
    let mut body = seed_request();
    body["project"] = "p1".into();
    body["projectFlow"] = "f1".into();
    body["identifier"] = "sandbox-spoof@example.com".into();
    let response = app.post(token.as_str().unwrap(), &body).await;
    let created: Value = response.json().await.unwrap();
    let session = created["data"]["token"].as_str().unwrap();
    let image = bv_e2e::journey::jpeg();
    let (_, first) = app
        .validate(session, &serde_json::json!({"os": "web", "image": image}))
        .await;
    assert_eq!(first["data"]["status"], "pending", "{first}");
    let (_, last) = app
        .validate(session, &serde_json::json!({"os": "web", "image": image}))
        .await;
    assert_eq!(last["data"]["status"], "failed", "{last}");

    // Out-of-range settings are usage errors.
    let output = run_bvctl(&app, &["flow", "update", "f1", "--match-threshold", "1.5"]).await;
    assert_eq!(output.status.code(), Some(2));
    // A signing key the services accept.
    let entry = bvctl(&app, &["keys", "generate", "--kid", "prod-2"]).await;
    let entry = entry.as_str().unwrap();
    assert!(entry.starts_with("prod-2:"), "{entry}");
    assert!(bv_signing::KeySet::parse(entry).is_ok());
}

/// A folder of people made from the test photos: three of Obama, Biden
/// and his mirror image, and a grey picture with no face in Biden's folder.
fn people() -> std::path::PathBuf {
    use bv_face_engine::fixtures;
    let root = std::env::temp_dir().join(format!("bv-people-{}", uuid::Uuid::now_v7()));
    let (obama, biden) = (root.join("obama"), root.join("biden"));
    std::fs::create_dir_all(&obama).unwrap();
    std::fs::create_dir_all(&biden).unwrap();
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg"] {
        std::fs::write(obama.join(name), fixtures::bytes(name)).unwrap();
    }
    std::fs::write(biden.join("biden.jpg"), fixtures::bytes("biden.jpg")).unwrap();
    let mirrored = fixtures::mirrored(&fixtures::photo("biden.jpg").rgb);
    std::fs::write(biden.join("mirrored.jpg"), fixtures::jpeg(&mirrored, 90)).unwrap();
    let grey = image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
    std::fs::write(biden.join("grey.jpg"), fixtures::jpeg(&grey, 90)).unwrap();
    std::fs::write(biden.join("notes.txt"), "not a photo").unwrap();
    root
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_evaluate_measures_a_folder_of_people() {
    let root = people();
    let models = bv_face_engine::fixtures::models_dir();
    let evaluate = |json: bool| {
        let mut cmd = crate::support::bvctl();
        if json {
            cmd.arg("--json");
        }
        cmd.args(["engine", "evaluate"])
            .arg(&root)
            .arg("--models")
            .arg(&models)
            .output()
    };
    let output = evaluate(true).await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (&report["persons"], &report["photos"], &report["measured"]),
        (&json!(2), &json!(6), &json!(5)),
        "{report}"
    );
    assert_eq!(report["refused"], json!({"NO_FACE": ["biden/grey.jpg"]}));
    // Pairs: three of Obama's and one of Biden's genuine, six impostor.
    assert_eq!(report["genuine"]["pairs"], 4);
    assert_eq!(report["impostor"]["pairs"], 6);
    assert_eq!(report["fmr"]["errors"], 0, "{report}");
    assert_eq!(report["fnmr"]["errors"], 0, "{report}");
    assert_eq!(report["equal"]["rate"], 0.0, "{report}");
    let threshold = report["threshold"].as_f64().unwrap();
    assert!(
        report["genuine"]["min"].as_f64().unwrap() > threshold,
        "{report}"
    );
    assert!(
        report["impostor"]["max"].as_f64().unwrap() < threshold,
        "{report}"
    );

    let output = evaluate(false).await.unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("2 persons, 6 photos: 5 measured, 1 refused"),
        "{text}"
    );
    assert!(text.contains("FMR 0/6 = 0.00% (95% CI 0.00-"), "{text}");
    assert!(
        text.contains("refused by NO_FACE: biden/grey.jpg"),
        "{text}"
    );

    // A folder without people is said so.
    let empty = std::env::temp_dir().join(format!("bv-nobody-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&empty).unwrap();
    let output = crate::support::bvctl()
        .args(["engine", "evaluate"])
        .arg(&empty)
        .arg("--models")
        .arg(&models)
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("holds no photos"));
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&empty);
}
