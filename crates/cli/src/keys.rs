//! `bvctl keys generate`: a new Ed25519 signing key for
//! `biometrics.signing_keys` (session tokens and signed results).

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Print a new `kid:seed` entry. To rotate, put it first in
    /// BV__BIOMETRICS__SIGNING_KEYS and keep the old entry after it until
    /// what the old key signed has expired.
    Generate {
        /// The key id published in the JWKS and each signature's header.
        #[arg(long, default_value_t = default_kid())]
        kid: String,
    },
}

fn default_kid() -> String {
    format!("key-{}", chrono::Utc::now().format("%Y%m%d"))
}

pub fn run(cmd: KeysCmd, as_json: bool) -> anyhow::Result<String> {
    match cmd {
        KeysCmd::Generate { kid } => {
            let entry = bv_signing::KeySet::generate_entry(&kid)?;
            Ok(if as_json {
                serde_json::json!({ "kid": kid, "entry": entry }).to_string()
            } else {
                entry
            })
        }
    }
}
