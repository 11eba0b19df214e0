//! The built-in face engine over the API, and enrolled templates sealed at
//! rest (README, "Face engine"). The photos are the face_recognition test
//! images `scripts/models.sh --fixtures` fetches.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bv_contract::{EngineKind, LivenessMode};
use bv_e2e::journey::jpeg;
use bv_e2e::{Options, TEMPLATE_KEYS, TestApp, seed_request};
use bv_face_engine::fixtures;
use bv_store::entity::person;
use bv_store::sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CLIENT: &str = "client_123456789";
const PROJECT: &str = "project_123456789";
const ONBOARDING: &str = "flow_onboarding";
const LOGIN: &str = "flow_login";

/// The seed's request of `kind` for `identifier` through `flow`.
fn request(kind: &str, flow: &str, identifier: &str) -> Value {
    let mut body = seed_request();
    body["type"] = json!(kind);
    body["projectFlow"] = json!(flow);
    body["identifier"] = json!(identifier);
    body["sendViaEmail"] = json!(false);
    let map = body.as_object_mut().unwrap();
    map.remove("email");
    map.remove("webhookUrl");
    body
}

/// An app whose project uses `engine`, with an onboarding and a login flow
/// of `liveness`.
async fn app_with(engine: EngineKind, liveness: LivenessMode, options: Options) -> TestApp {
    let app = TestApp::spawn_with(options).await;
    app.seed_project(CLIENT, PROJECT).await;
    bv_store::projects::set_biometrics(&app.db, PROJECT, Some(engine), None)
        .await
        .unwrap()
        .unwrap();
    for (flow, kind) in [(ONBOARDING, "onboarding"), (LOGIN, "login")] {
        app.seed_flow(PROJECT, flow, kind, "active").await;
        bv_store::flows::set_settings(&app.db, flow, Some(liveness), None, None)
            .await
            .unwrap()
            .unwrap();
    }
    app
}

/// One photo as a single-image validate (`{os, image}`): the answer.
async fn validate_with(app: &TestApp, kind: &str, identifier: &str, image: &str) -> Value {
    let flow = if kind == "login" { LOGIN } else { ONBOARDING };
    let s = app.start(CLIENT, &request(kind, flow, identifier)).await;
    let (_, answer) = app
        .validate(&s.token, &json!({"os": "web", "image": image}))
        .await;
    answer
}

fn photo(name: &str) -> String {
    STANDARD.encode(fixtures::bytes(name))
}

async fn persons(app: &TestApp) -> Vec<person::Model> {
    person::Entity::find().all(&app.db).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_face_engine_enrols_a_face_and_matches_only_that_person() {
    let app = app_with(EngineKind::Face, LivenessMode::None, Options::default()).await;

    let enrolled = validate_with(&app, "onboarding", "barack", &photo("obama.jpg")).await;
    assert_eq!(enrolled["data"]["status"], "validated", "{enrolled}");
    assert_eq!(enrolled["data"]["attempt"]["engine"], "face");
    let stored = persons(&app).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].model, "dlib-resnet-v1");

    // Another photo of the same person.
    let same = validate_with(&app, "login", "barack", &photo("obama3.jpg")).await;
    assert_eq!(same["data"]["status"], "validated", "{same}");
    let score = same["data"]["attempt"]["scores"]["match"].as_f64().unwrap();
    assert!(
        score >= f64::from(bv_face_engine::DEFAULT_MATCH_THRESHOLD),
        "{same}"
    );

    // Someone else claiming to be him.
    let other = validate_with(&app, "login", "barack", &photo("biden.jpg")).await;
    assert_eq!(
        other["data"]["attempt"]["reasons"],
        json!(["FACE_MISMATCH"]),
        "{other}"
    );

    // No face at all (the test suite's small synthetic JPEG).
    let none = validate_with(&app, "login", "barack", &jpeg()).await;
    assert_eq!(
        none["data"]["attempt"]["reasons"],
        json!(["NO_FACE"]),
        "{none}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_still_photo_does_not_pass_an_active_challenge() {
    let app = app_with(EngineKind::Face, LivenessMode::Active, Options::default()).await;
    let s = app
        .start(CLIENT, &request("onboarding", ONBOARDING, "barack"))
        .await;
    // The same photo for every step the challenge asks for.
    let (_, answer) = app.pass_challenge(&s, &photo("obama.jpg")).await;
    let attempt = &answer["data"]["attempt"];
    assert_eq!(attempt["reasons"], json!(["LIVENESS_FAILED"]), "{answer}");
    assert_eq!(attempt["scores"]["liveness"], json!(0.0));
    assert!(persons(&app).await.is_empty(), "nobody enrolled");
}

/// The sandbox's template of an identifier (README, "Sandbox engine").
fn sandbox_template(identifier: &str) -> Vec<u8> {
    Sha256::digest(format!("sandbox:{identifier}").as_bytes()).to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_are_sealed_at_rest_and_bound_to_their_row() {
    let app = app_with(EngineKind::Sandbox, LivenessMode::None, Options::default()).await;
    for who in ["ana", "bob"] {
        let answer = validate_with(&app, "onboarding", who, &jpeg()).await;
        assert_eq!(answer["data"]["status"], "validated", "{answer}");
    }
    let rows = persons(&app).await;
    let (ana, bob) = {
        let find = |who: &str| rows.iter().find(|p| p.identifier == who).unwrap().clone();
        (find("ana"), find("bob"))
    };
    for row in [&ana, &bob] {
        let template = sandbox_template(&row.identifier);
        assert_eq!(row.template_key.as_deref(), Some("test-t1"));
        assert_eq!(
            row.template.len(),
            12 + template.len() + 16,
            "nonce, ciphertext, tag"
        );
        assert!(
            !row.template
                .windows(8)
                .any(|w| template.windows(8).any(|t| t == w)),
            "the stored bytes are not the template"
        );
    }
    // The sealed row still matches its person.
    let login = validate_with(&app, "login", "ana", &jpeg()).await;
    assert_eq!(login["data"]["status"], "validated", "{login}");

    // Bob's sealed template copied into Ana's row does not open there: the
    // attempt is refused as the service's fault, not spent, not matched.
    let mut row: person::ActiveModel = ana.clone().into();
    row.template = Set(bob.template.clone());
    row.template_key = Set(bob.template_key.clone());
    row.update(&app.db).await.unwrap();
    let s = app.start(CLIENT, &request("login", LOGIN, "ana")).await;
    let (status, copied) = app
        .validate(&s.token, &json!({"os": "web", "image": jpeg()}))
        .await;
    assert_eq!(status, 500, "{copied}");
    assert_eq!(copied["code"], "INTERNAL_ERROR");
    let view = app
        .get(&s.token, &format!("/v2/biometric-validations/{}", s.id))
        .await;
    let view: Value = view.json().await.unwrap();
    assert_eq!(view["data"]["attemptsLeft"], 3, "the attempt was not spent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_key_seals_new_templates_and_the_old_one_still_opens() {
    // The new key first, the tests' usual one (now old) after it.
    let rotated = format!("new-1:{},{TEMPLATE_KEYS}", STANDARD.encode([0x22u8; 32]));
    let options = Options {
        settings: vec![("biometrics.template_keys", rotated)],
        ..Options::default()
    };
    let app = app_with(EngineKind::Sandbox, LivenessMode::None, options).await;

    // Ana was enrolled before the rotation, sealed with the old key.
    let old = bv_signing::TemplateKeys::parse(TEMPLATE_KEYS).unwrap();
    let id = uuid::Uuid::now_v7();
    let sealed = old.seal(
        &sandbox_template("ana"),
        &bv_signing::Binding {
            person: &id.to_string(),
            project: PROJECT,
            identifier: "ana",
            model: "sandbox-1",
        },
    );
    person::ActiveModel {
        id: Set(id),
        project: Set(PROJECT.into()),
        identifier: Set("ana".into()),
        model: Set("sandbox-1".into()),
        template: Set(sealed.bytes),
        template_key: Set(Some(sealed.kid)),
        enrolled_by: Set(uuid::Uuid::now_v7()),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let login = validate_with(&app, "login", "ana", &jpeg()).await;
    assert_eq!(login["data"]["status"], "validated", "{login}");

    // Bob, enrolled after it, is sealed with the new key.
    let bob = validate_with(&app, "onboarding", "bob", &jpeg()).await;
    assert_eq!(bob["data"]["status"], "validated", "{bob}");
    let rows = persons(&app).await;
    let bob = rows.iter().find(|p| p.identifier == "bob").unwrap();
    assert_eq!(bob.template_key.as_deref(), Some("new-1"));
}
