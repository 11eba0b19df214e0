//! Someone else's library must verify what we sign: a relying party checks a
//! signed result with whatever JOSE library it has, against our JWKS. Here
//! that is joserfc (Python), through `tests/jose/verify_jws.py`, which picks
//! the key by `kid`, allows EdDSA only and prints the payload it verified.
//!
//! joserfc comes from `tests/requirements.txt`; `make test` installs it. A
//! missing joserfc fails these tests rather than skipping them.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bv_contract::biometrics::{ResultClaims, SESSION_AUDIENCE, SessionClaims};
use bv_contract::{Scores, ValidationStatus, ValidationType};
use bv_signing::KeySet;
use serde_json::{Value, json};

const NEW_KEY: &str = "2025-06:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
const OLD_KEY: &str = "2025-01:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/jose/verify_jws.py")
}

/// The project's Python (`var/venv`, made by `make test` with
/// tests/requirements.txt), else the `python3` on the PATH.
fn python() -> std::path::PathBuf {
    let venv = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../var/venv/bin/python3"
    ));
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// Fails, saying how to fix it, when python3 or joserfc is missing.
fn require_joserfc() {
    let found = Command::new(python())
        .args(["-c", "import joserfc"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "python3 with joserfc is needed to check our JWS with another library: \
         run `make test` (it installs tests/requirements.txt into var/venv)"
    );
}

/// What joserfc printed as the verified payload, or its refusal.
fn joserfc_verifies(jwks: &Value, jws: &str) -> Result<String, String> {
    require_joserfc();
    let mut child = Command::new(python())
        .arg(script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    let request = json!({ "jwks": jwks, "jws": jws }).to_string();
    let mut stdin = child.stdin.take().expect("python3's stdin is piped");
    stdin
        .write_all(request.as_bytes())
        .expect("write the request to verify_jws.py");
    drop(stdin);
    let output = child.wait_with_output().expect("wait for verify_jws.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.code() {
        Some(0) => Ok(stdout.trim_end().to_owned()),
        Some(1) => Err(stderr),
        other => panic!("verify_jws.py crashed ({other:?}): {stderr}"),
    }
}

fn result() -> ResultClaims {
    ResultClaims {
        id: "0197a9c2-5d1e-7c3a-9f00-4b8e2a1c0d11".into(),
        client: "client-1".into(),
        project: "project-1".into(),
        identifier: "josé@example.com".into(),
        kind: ValidationType::Login,
        status: ValidationStatus::Validated,
        scores: Scores {
            liveness: Some(0.97),
            face_match: Some(0.91),
        },
        date_time: "2025-06-15T10:30:00Z".into(),
    }
}

fn now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970");
    i64::try_from(since.as_secs()).expect("seconds fit an i64")
}

#[test]
fn joserfc_verifies_a_signed_result_against_our_jwks() {
    let keys = KeySet::parse(NEW_KEY).unwrap();
    let claims = result();
    let payload = joserfc_verifies(&keys.jwks(), &keys.sign_result(&claims)).unwrap();
    // The very bytes we signed, and the same claims read back.
    assert_eq!(payload, serde_json::to_string(&claims).unwrap());
    assert_eq!(
        serde_json::from_str::<ResultClaims>(&payload).unwrap(),
        claims
    );
}

#[test]
fn joserfc_verifies_a_session_token() {
    let keys = KeySet::parse(NEW_KEY).unwrap();
    let (iat, exp) = (now(), now() + 600);
    let token = keys.issue_session("0197a9c2-5d1e-7c3a-9f00-4b8e2a1c0d11", iat, exp);
    let payload = joserfc_verifies(&keys.jwks(), &token).unwrap();
    let expected = SessionClaims {
        sub: "0197a9c2-5d1e-7c3a-9f00-4b8e2a1c0d11".into(),
        aud: SESSION_AUDIENCE.into(),
        iat,
        exp,
    };
    assert_eq!(
        serde_json::from_str::<SessionClaims>(&payload).unwrap(),
        expected
    );
}

#[test]
fn joserfc_picks_the_old_key_by_kid_after_a_rotation() {
    let old = KeySet::parse(OLD_KEY).unwrap();
    let rotated = KeySet::parse(&format!("{NEW_KEY},{OLD_KEY}")).unwrap();
    let jws = old.sign_result(&result());
    let payload = joserfc_verifies(&rotated.jwks(), &jws).unwrap();
    assert_eq!(
        serde_json::from_str::<ResultClaims>(&payload).unwrap(),
        result()
    );
    // Once the old key is no longer published, its results no longer verify.
    let refusal = joserfc_verifies(&KeySet::parse(NEW_KEY).unwrap().jwks(), &jws).unwrap_err();
    assert!(refusal.contains("2025-01"), "{refusal}");
}

#[test]
fn joserfc_refuses_a_tampered_result() {
    let keys = KeySet::parse(NEW_KEY).unwrap();
    let jws = keys.sign_result(&result());
    let parts: Vec<&str> = jws.split('.').collect();
    let forged = ResultClaims {
        status: ValidationStatus::Failed,
        ..result()
    };
    let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    let refusal = joserfc_verifies(&keys.jwks(), &tampered).unwrap_err();
    assert!(refusal.contains("BadSignature"), "{refusal}");
    // And our own verifier agrees.
    assert!(keys.verify_result(&tampered).is_err());
}

#[test]
fn joserfc_refuses_a_result_signed_by_a_key_outside_the_set() {
    let keys = KeySet::parse(NEW_KEY).unwrap();
    // Same kid, another seed: the signature decides.
    let impostor = KeySet::parse("2025-06:CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk").unwrap();
    let refusal = joserfc_verifies(&keys.jwks(), &impostor.sign_result(&result())).unwrap_err();
    assert!(refusal.contains("BadSignature"), "{refusal}");
}
