//! `bvctl keys generate`: a new Ed25519 signing key for
//! `biometrics.signing_keys` (session tokens and signed results), or with
//! `--template` a new AES-256 key for `biometrics.template_keys` (face
//! templates sealed at rest).

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Print a new `kid:seed` entry (or `kid:key` with `--template`). To
    /// rotate, put it first in BV__BIOMETRICS__SIGNING_KEYS (or
    /// BV__BIOMETRICS__TEMPLATE_KEYS) and keep the old entry after it: until
    /// what the old key signed has expired, or for as long as templates it
    /// sealed are stored.
    Generate {
        /// The key id: published in the JWKS and each signature's header,
        /// or stored beside each template it seals.
        #[arg(long, default_value_t = default_kid())]
        kid: String,
        /// A template-sealing key (AES-256-GCM) instead of a signing key.
        #[arg(long)]
        template: bool,
    },
}

fn default_kid() -> String {
    format!("key-{}", chrono::Utc::now().format("%Y%m%d"))
}

pub fn run(cmd: KeysCmd, as_json: bool) -> anyhow::Result<String> {
    match cmd {
        KeysCmd::Generate { kid, template } => {
            let entry = if template {
                bv_signing::TemplateKeys::generate_entry(&kid)?
            } else {
                bv_signing::KeySet::generate_entry(&kid)?
            };
            Ok(if as_json {
                serde_json::json!({ "kid": kid, "entry": entry }).to_string()
            } else {
                entry
            })
        }
    }
}
