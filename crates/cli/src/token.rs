//! `bvctl token issue`: HS256 bearer tokens the ingress accepts.

use std::time::Duration;

use bv_runtime::AuthSettings;
use bv_runtime::settings::{ExposeSecret, Validate};
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Print an HS256 JWT for a client, signed with `auth.jwt_secret`.
    Issue {
        #[arg(long)]
        client: String,
        /// Lifetime, e.g. `1h`, `30d`.
        #[arg(long, default_value = "30d", value_parser = super::output::duration)]
        ttl: Duration,
    },
}

pub fn run(cmd: TokenCmd, auth: &AuthSettings, as_json: bool) -> anyhow::Result<String> {
    let TokenCmd::Issue { client, ttl } = cmd;
    auth.validate()?;
    let token = issue_token(auth, &client, ttl)?;
    let value = json!({"client": client, "token": token, "expiresIn": ttl.as_secs()});
    Ok(super::output::one(as_json, &value, || token.clone()))
}

/// Signs a token for `client` that the ingress configured with `auth` accepts.
pub fn issue_token(auth: &AuthSettings, client: &str, ttl: Duration) -> anyhow::Result<String> {
    let secret = auth
        .jwt_secret
        .as_ref()
        .map(|s| s.expose_secret())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow::anyhow!("token issue needs BV__AUTH__JWT_SECRET (HS256)"))?;
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::Map::new();
    claims.insert(auth.client_claim.clone(), json!(client));
    claims.insert("sub".into(), json!(client));
    claims.insert("iat".into(), json!(now));
    claims.insert(
        "exp".into(),
        json!(now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)),
    );
    if let Some(iss) = &auth.issuer {
        claims.insert("iss".into(), json!(iss));
    }
    if let Some(aud) = &auth.audience {
        claims.insert("aud".into(), json!(aud));
    }
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn issued_tokens_carry_the_client_claim_and_expire() {
        let auth = AuthSettings {
            jwt_secret: Some("x".repeat(32).into()),
            jwt_public_key: None,
            client_claim: "client".into(),
            issuer: None,
            audience: None,
        };
        let token = issue_token(&auth, "client_1", Duration::from_secs(60)).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret("x".repeat(32).as_bytes()),
            &validation,
        )
        .unwrap();
        assert_eq!(data.claims["client"], "client_1");
        let exp = data.claims["exp"].as_i64().unwrap();
        assert!(exp > chrono::Utc::now().timestamp() + 50);
    }
}
