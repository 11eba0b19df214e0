//! Enrolled templates in and out of the `persons` table: sealed with the
//! first of `biometrics.template_keys` (AES-256-GCM, [`bv_signing::sealing`])
//! and bound to the row (person id, project, identifier, model), the key's
//! id stored beside them.
//!
//! Rows written before templates were sealed have no key id. Only the
//! sandbox's templates (hashes of identifiers, not faces) are read from such
//! a row; a face template without a key is refused like a tampered one, so
//! writing a bare template into someone's row matches no one.

use bv_engine::Template;
use bv_signing::{Binding, OpenError, Sealed, TemplateKeys};
use bv_store::entity::person;
use uuid::Uuid;

/// A template sealed for a new person's row.
pub struct SealedTemplate {
    pub key: String,
    pub bytes: Vec<u8>,
}

/// Why an enrolled template could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("the `{model}` template has no key id: it was stored unsealed")]
    Unsealed { model: String },
}

/// Seals `template` for the person `id` of `project` under `identifier`.
pub fn seal(
    keys: &TemplateKeys,
    id: Uuid,
    project: &str,
    identifier: &str,
    template: &Template,
) -> SealedTemplate {
    let person = id.to_string();
    let sealed = keys.seal(
        &template.bytes,
        &Binding {
            person: &person,
            project,
            identifier,
            model: &template.model,
        },
    );
    SealedTemplate {
        key: sealed.kid,
        bytes: sealed.bytes,
    }
}

/// The template stored in a person's row.
pub fn open(keys: &TemplateKeys, row: &person::Model) -> Result<Template, ReadError> {
    let Some(kid) = &row.template_key else {
        if row.model == bv_engine::sandbox::MODEL {
            return Ok(Template {
                model: row.model.clone(),
                bytes: row.template.clone(),
            });
        }
        return Err(ReadError::Unsealed {
            model: row.model.clone(),
        });
    };
    let person = row.id.to_string();
    let bytes = keys.open(
        &Sealed {
            kid: kid.clone(),
            bytes: row.template.clone(),
        },
        &Binding {
            person: &person,
            project: &row.project,
            identifier: &row.identifier,
            model: &row.model,
        },
    )?;
    Ok(Template {
        model: row.model.clone(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = "k1:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

    fn row(id: Uuid, identifier: &str, sealed: &SealedTemplate, model: &str) -> person::Model {
        person::Model {
            id,
            project: "project_1".into(),
            identifier: identifier.into(),
            model: model.into(),
            template: sealed.bytes.clone(),
            template_key: Some(sealed.key.clone()),
            enrolled_by: Uuid::nil(),
            created_at: chrono::Utc::now(),
        }
    }

    fn face() -> Template {
        Template {
            model: "dlib-resnet-v1".into(),
            bytes: (0..=255u8).cycle().take(512).collect(),
        }
    }

    #[test]
    fn a_row_holds_the_sealed_template_and_gives_it_back() {
        let keys = TemplateKeys::parse(KEYS).unwrap();
        let id = Uuid::now_v7();
        let sealed = seal(&keys, id, "project_1", "alice", &face());
        assert_eq!(sealed.key, "k1");
        assert_ne!(sealed.bytes, face().bytes);
        assert_eq!(
            open(&keys, &row(id, "alice", &sealed, "dlib-resnet-v1")).unwrap(),
            face()
        );
    }

    #[test]
    fn a_template_copied_into_another_persons_row_does_not_open() {
        let keys = TemplateKeys::parse(KEYS).unwrap();
        let mallory = seal(&keys, Uuid::now_v7(), "project_1", "mallory", &face());
        let alice = Uuid::now_v7();
        let err = open(&keys, &row(alice, "alice", &mallory, "dlib-resnet-v1")).unwrap_err();
        assert!(
            matches!(err, ReadError::Open(OpenError::Tampered { .. })),
            "{err}"
        );
    }

    #[test]
    fn unsealed_rows_are_read_for_the_sandbox_only() {
        let keys = TemplateKeys::parse(KEYS).unwrap();
        let bare = SealedTemplate {
            key: String::new(),
            bytes: face().bytes,
        };
        let mut legacy = row(Uuid::now_v7(), "alice", &bare, "sandbox-1");
        legacy.template_key = None;
        assert_eq!(open(&keys, &legacy).unwrap().bytes, face().bytes);

        legacy.model = "dlib-resnet-v1".into();
        assert!(matches!(
            open(&keys, &legacy),
            Err(ReadError::Unsealed { .. })
        ));
    }
}
