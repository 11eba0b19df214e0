//! Reading a validate body into its types, with its limits applied as it is
//! read: the frame count stops the array at its ninth element, an image's
//! length is checked before its text is copied, and nothing passes through
//! an intermediate JSON tree. A body therefore costs at most its own size to
//! read, whatever it holds (`{"frames":[0,0,…]}` fails at its first `0`, not
//! after eight million of them were parsed and cloned).
//!
//! The errors name the field at fault (`os`, `frames[2].image`, an unknown
//! key), as the create request's do.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use uuid::Uuid;

use crate::biometrics::{ChallengeStep, Frame, MAX_BURST, MAX_FRAMES, Os, ValidateRequest};
use crate::error::{ApiError, ErrorCode};

/// The longest base64 text an image of `max_image_bytes` may be sent as: its
/// four symbols for every three bytes, line breaks every 64 symbols (MIME
/// wraps at 76), and a data-URL prefix. What is longer cannot decode within
/// the limit, so it is refused before it is copied.
pub fn max_image_text(max_image_bytes: usize) -> usize {
    let symbols = max_image_bytes.div_ceil(3).saturating_mul(4);
    symbols.saturating_add(symbols / 64 * 2).saturating_add(256)
}

impl ValidateRequest {
    /// Parses a validate body whose images may each decode to at most
    /// `max_image_bytes`, or says which field is wrong and why.
    pub fn parse(body: &[u8], max_image_bytes: usize) -> Result<ValidateRequest, ApiError> {
        let state = State {
            field: RefCell::new(None),
            verdict: RefCell::new(None),
            max_image_text: max_image_text(max_image_bytes),
        };
        let mut json = serde_json::Deserializer::from_slice(body);
        let parsed = json
            .deserialize_map(RequestVisitor { state: &state })
            .and_then(|request| json.end().map(|()| request));
        parsed.map_err(|e| state.error(e))
    }
}

/// What the visitors learn while reading: the field being read, and the
/// error to report when they stopped the reading themselves.
struct State {
    field: RefCell<Option<String>>,
    verdict: RefCell<Option<ApiError>>,
    max_image_text: usize,
}

impl State {
    fn reading(&self, field: impl Into<String>) {
        *self.field.borrow_mut() = Some(field.into());
    }

    fn done(&self) {
        *self.field.borrow_mut() = None;
    }

    /// Stops the reading with `error` as the answer.
    fn refuse<E: de::Error>(&self, error: ApiError) -> E {
        let message = error.error.clone();
        *self.verdict.borrow_mut() = Some(error);
        E::custom(message)
    }

    /// The answer for a reading that failed with `e`.
    fn error(&self, e: serde_json::Error) -> ApiError {
        if let Some(verdict) = self.verdict.borrow_mut().take() {
            return verdict;
        }
        match self.field.borrow_mut().take() {
            Some(field) if field == "os" => ApiError::field(
                ErrorCode::InvalidField,
                "os",
                format!("`os` must be {}", Os::expected()),
            ),
            Some(field) if !e.is_syntax() && !e.is_eof() => ApiError::field(
                ErrorCode::InvalidField,
                &field,
                format!("Invalid `{field}`: {e}"),
            ),
            _ => ApiError::new(
                ErrorCode::InvalidJson,
                format!("The request body is not valid JSON: {e}"),
            ),
        }
    }
}

/// A key as sent, shortened for an error message (a key may be megabytes).
fn shown(key: &str) -> String {
    const MOST: usize = 64;
    match key.char_indices().nth(MOST) {
        Some((end, _)) => format!("{}…", &key[..end]),
        None => key.to_owned(),
    }
}

struct RequestVisitor<'s> {
    state: &'s State,
}

impl<'de> Visitor<'de> for RequestVisitor<'_> {
    type Value = ValidateRequest;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValidateRequest, A::Error> {
        let state = self.state;
        let mut os: Option<Option<Os>> = None;
        let mut image: Option<Option<String>> = None;
        let mut challenge_id: Option<Option<Uuid>> = None;
        let mut frames: Option<Option<Vec<Frame>>> = None;
        while let Some(key) = map.next_key::<KeyText<'de>>()? {
            let twice = |name: &str| {
                state.refuse(ApiError::field(
                    ErrorCode::InvalidField,
                    name,
                    format!("`{name}` appears twice in the body"),
                ))
            };
            match key.0.as_ref() {
                "os" => {
                    state.reading("os");
                    if os.replace(map.next_value()?).is_some() {
                        return Err(twice("os"));
                    }
                }
                "image" => {
                    state.reading("image");
                    let seed = Bounded {
                        state,
                        field: "image",
                    };
                    if image
                        .replace(map.next_value_seed(Nullable(seed))?)
                        .is_some()
                    {
                        return Err(twice("image"));
                    }
                }
                "challengeId" => {
                    state.reading("challengeId");
                    if challenge_id.replace(map.next_value()?).is_some() {
                        return Err(twice("challengeId"));
                    }
                }
                "frames" => {
                    state.reading("frames");
                    let seed = Nullable(Frames { state });
                    if frames.replace(map.next_value_seed(seed)?).is_some() {
                        return Err(twice("frames"));
                    }
                }
                unknown => {
                    let unknown = shown(unknown);
                    return Err(state.refuse(ApiError::field(
                        ErrorCode::UnknownField,
                        &unknown,
                        format!(
                            "Unknown field `{unknown}`: the body takes `os`, `image`, `challengeId` and `frames`"
                        ),
                    )));
                }
            }
            state.done();
        }
        let Some(os) = os.flatten() else {
            return Err(state.refuse(ApiError::field(
                ErrorCode::MissingField,
                "os",
                format!("`os` is required: {}", Os::expected()),
            )));
        };
        Ok(ValidateRequest {
            os,
            image: image.flatten(),
            challenge_id: challenge_id.flatten(),
            frames: frames.flatten(),
        })
    }
}

/// A key, borrowed from the body when it has no escapes.
struct KeyText<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Key;
        impl<'de> Visitor<'de> for Key {
            type Value = KeyText<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }

            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
                Ok(KeyText(Cow::Borrowed(key)))
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
                Ok(KeyText(Cow::Owned(key.to_owned())))
            }
        }
        d.deserialize_str(Key)
    }
}

/// `null` or the seed's value.
struct Nullable<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Nullable<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(NullableVisitor(self.0))
    }
}

struct NullableVisitor<S>(S);

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for NullableVisitor<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

/// An image's base64 text, refused by its length before it is copied.
struct Bounded<'s> {
    state: &'s State,
    field: &'s str,
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a base64 JPEG or PNG")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
        let most = self.state.max_image_text;
        if text.len() > most {
            let field = self.field;
            return Err(self.state.refuse(ApiError::field(
                ErrorCode::PayloadTooLarge,
                field,
                format!(
                    "The image in `{field}` is too large: {} characters of base64, at most {most}",
                    text.len()
                ),
            )));
        }
        Ok(text.to_owned())
    }
}

/// `frames`: at most [`MAX_FRAMES`], each read as it comes.
struct Frames<'s> {
    state: &'s State,
}

impl<'de> DeserializeSeed<'de> for Frames<'_> {
    type Value = Vec<Frame>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Frame>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Frames<'_> {
    type Value = Vec<Frame>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array of 1 to {MAX_FRAMES} frames")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Frame>, A::Error> {
        let mut frames = Vec::new();
        loop {
            let index = frames.len();
            let seed = FrameSeed {
                state: self.state,
                field: format!("frames[{index}]"),
            };
            self.state.reading(format!("frames[{index}]"));
            if index == MAX_FRAMES {
                // One more element than allowed: refused before it is read.
                return match seq.next_element::<de::IgnoredAny>() {
                    Ok(None) => Ok(frames),
                    _ => Err(self.state.refuse(too_many_frames())),
                };
            }
            match seq.next_element_seed(seed)? {
                Some(frame) => frames.push(frame),
                None => return Ok(frames),
            }
        }
    }
}

fn too_many_frames() -> ApiError {
    ApiError::field(
        ErrorCode::InvalidField,
        "frames",
        format!("`frames` must hold 1 to {MAX_FRAMES} captures"),
    )
}

struct FrameSeed<'s> {
    state: &'s State,
    field: String,
}

impl<'de> DeserializeSeed<'de> for FrameSeed<'_> {
    type Value = Frame;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Frame, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FrameSeed<'_> {
    type Value = Frame;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a frame: {\"step\": …, \"image\": …}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Frame, A::Error> {
        let state = self.state;
        let mut step: Option<Option<ChallengeStep>> = None;
        let mut image: Option<String> = None;
        let mut burst: Option<Vec<String>> = None;
        while let Some(key) = map.next_key::<KeyText<'de>>()? {
            match key.0.as_ref() {
                "step" => {
                    let field = format!("{}.step", self.field);
                    state.reading(field.clone());
                    if step.replace(map.next_value()?).is_some() {
                        return Err(state.refuse(ApiError::field(
                            ErrorCode::InvalidField,
                            &field,
                            format!("`{field}` appears twice"),
                        )));
                    }
                }
                "image" => {
                    let field = format!("{}.image", self.field);
                    state.reading(field.clone());
                    let seed = Bounded {
                        state,
                        field: &field,
                    };
                    if image.replace(map.next_value_seed(seed)?).is_some() {
                        return Err(state.refuse(ApiError::field(
                            ErrorCode::InvalidField,
                            &field,
                            format!("`{field}` appears twice"),
                        )));
                    }
                }
                "burst" => {
                    let field = format!("{}.burst", self.field);
                    state.reading(field.clone());
                    let seed = Burst {
                        state,
                        field: &field,
                    };
                    if burst.replace(map.next_value_seed(seed)?).is_some() {
                        return Err(state.refuse(ApiError::field(
                            ErrorCode::InvalidField,
                            &field,
                            format!("`{field}` appears twice"),
                        )));
                    }
                }
                unknown => {
                    let field = format!("{}.{}", self.field, shown(unknown));
                    return Err(state.refuse(ApiError::field(
                        ErrorCode::UnknownField,
                        &field,
                        format!(
                            "Unknown field `{field}`: a frame takes `step`, `image` and `burst`"
                        ),
                    )));
                }
            }
        }
        let Some(image) = image else {
            let field = format!("{}.image", self.field);
            return Err(state.refuse(ApiError::field(
                ErrorCode::MissingField,
                &field,
                format!("`{field}` (a base64 JPEG or PNG) is required"),
            )));
        };
        state.reading(self.field.clone());
        Ok(Frame {
            step: step.flatten(),
            image,
            burst: burst.unwrap_or_default(),
        })
    }
}

/// A frame's `burst`: at most [`MAX_BURST`] images, each bounded like
/// `image`; `null` is an empty burst.
struct Burst<'s, 'f> {
    state: &'s State,
    field: &'f str,
}

impl<'de> DeserializeSeed<'de> for Burst<'_, '_> {
    type Value = Vec<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Burst<'_, '_> {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array of at most {MAX_BURST} base64 images")
    }

    fn visit_none<E: de::Error>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut images = Vec::new();
        loop {
            let field = format!("{}[{}]", self.field, images.len());
            self.state.reading(field.clone());
            if images.len() == MAX_BURST {
                return match seq.next_element::<de::IgnoredAny>() {
                    Ok(None) => Ok(images),
                    _ => Err(self.state.refuse(ApiError::field(
                        ErrorCode::InvalidField,
                        self.field,
                        format!("`{}` must hold at most {MAX_BURST} images", self.field),
                    ))),
                };
            }
            let seed = Bounded {
                state: self.state,
                field: &field,
            };
            match seq.next_element_seed(seed)? {
                Some(image) => images.push(image),
                None => return Ok(images),
            }
        }
    }
}

/// A frame's `burst` in a command: at most [`MAX_BURST`] images, refused at
/// the first one over (for `#[serde(deserialize_with)]`).
pub fn at_most_max_burst<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_seq(Capped::new("burst", MAX_BURST, "images", "images"))
}

/// `frames` in a command: at most [`MAX_FRAMES`], refused at the first one
/// over (for `#[serde(deserialize_with)]`).
pub fn at_most_max_frames<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Frame>, D::Error> {
    d.deserialize_seq(Capped::new("frames", MAX_FRAMES, "frames", "captures"))
}

/// An array of at most `most` elements (`elements`, as serde's messages
/// name them), refused at the first one over: "`{field}` holds more than
/// {most} {things}".
struct Capped<T> {
    field: &'static str,
    most: usize,
    elements: &'static str,
    things: &'static str,
    of: std::marker::PhantomData<T>,
}

impl<T> Capped<T> {
    fn new(field: &'static str, most: usize, elements: &'static str, things: &'static str) -> Self {
        Capped {
            field,
            most,
            elements,
            things,
            of: std::marker::PhantomData,
        }
    }
}

impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for Capped<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array of at most {} {}", self.most, self.elements)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<T>()? {
            if items.len() == self.most {
                return Err(de::Error::custom(format!(
                    "`{}` holds more than {} {}",
                    self.field, self.most, self.things
                )));
            }
            items.push(item);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MB: usize = 1024 * 1024;

    fn parse(body: &serde_json::Value) -> Result<ValidateRequest, ApiError> {
        ValidateRequest::parse(body.to_string().as_bytes(), MB)
    }

    #[test]
    fn both_forms_parse() {
        let r = parse(&json!({"image": "aGk=", "os": "ios"})).unwrap();
        assert_eq!((r.os, r.image.as_deref()), (Os::Ios, Some("aGk=")));
        let id = Uuid::now_v7();
        let r = parse(&json!({
            "os": "web", "challengeId": id,
            "frames": [{"step": "front", "image": "aGk="}, {"image": "aGk="}]
        }))
        .unwrap();
        assert_eq!(r.challenge_id, Some(id));
        let frames = r.frames.unwrap();
        assert_eq!(frames[0].step, Some(ChallengeStep::Front));
        assert_eq!(frames[1].step, None);
        // `null` is as good as absent.
        let r = parse(&json!({"os": "web", "image": "aGk=", "frames": null})).unwrap();
        assert!(r.frames.is_none());
    }

    #[test]
    fn a_step_carries_its_burst_within_limits() {
        let id = Uuid::now_v7();
        let r = parse(&json!({
            "os": "web", "challengeId": id,
            "frames": [
                {"step": "front", "image": "aGk="},
                {"step": "left", "image": "aGk=", "burst": ["YQ==", "Yg=="]},
                {"step": "up", "image": "aGk=", "burst": null}
            ]
        }))
        .unwrap();
        let frames = r.frames.unwrap();
        assert_eq!(frames[0].burst, Vec::<String>::new());
        assert_eq!(frames[1].burst, ["YQ==", "Yg=="]);
        assert!(frames[2].burst.is_empty());

        let nine = vec!["YQ=="; MAX_BURST + 1];
        let err = parse(&json!({"os": "web", "challengeId": id,
            "frames": [{"step": "left", "image": "aGk=", "burst": nine}]}))
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("frames[0].burst"), "{err:?}");
        assert!(err.error.contains("at most 8 images"), "{err:?}");

        let huge = "A".repeat(max_image_text(MB) + 1);
        let err = parse(&json!({"os": "web", "challengeId": id,
            "frames": [{"step": "left", "image": "aGk=", "burst": ["YQ==", huge]}]}))
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert_eq!(err.field.as_deref(), Some("frames[0].burst[1]"), "{err:?}");

        let err = parse(&json!({"os": "web", "challengeId": id,
            "frames": [{"step": "left", "image": "aGk=", "burst": [3]}]}))
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("frames[0].burst[0]"), "{err:?}");

        // A command reads the same bursts, and refuses a ninth image.
        let command = json!({"validation": id, "os": "web", "challengeId": id,
            "frames": [{"step": "left", "image": "aGk=", "burst": ["YQ=="]}]});
        let parsed: crate::ValidateCommand = serde_json::from_value(command).unwrap();
        assert_eq!(parsed.frames[0].burst, ["YQ=="]);
        let over = json!({"validation": id, "os": "web", "challengeId": id,
            "frames": [{"step": "left", "image": "aGk=", "burst": vec!["YQ=="; 9]}]});
        assert!(serde_json::from_value::<crate::ValidateCommand>(over).is_err());
    }

    #[test]
    fn each_error_names_its_field() {
        let cases = [
            (json!({"image": "x"}), ErrorCode::MissingField, "os"),
            (
                json!({"os": null, "image": "x"}),
                ErrorCode::MissingField,
                "os",
            ),
            (json!({"os": "windows"}), ErrorCode::InvalidField, "os"),
            (json!({"os": 7}), ErrorCode::InvalidField, "os"),
            (
                json!({"os": "web", "extra": 1}),
                ErrorCode::UnknownField,
                "extra",
            ),
            (
                json!({"os": "web", "image": 5}),
                ErrorCode::InvalidField,
                "image",
            ),
            (
                json!({"os": "web", "challengeId": "x"}),
                ErrorCode::InvalidField,
                "challengeId",
            ),
            (
                json!({"os": "web", "frames": {}}),
                ErrorCode::InvalidField,
                "frames",
            ),
            (
                json!({"os": "web", "frames": [0]}),
                ErrorCode::InvalidField,
                "frames[0]",
            ),
            (
                json!({"os": "web", "frames": [{"image": "x"}, {"step": "back", "image": "x"}]}),
                ErrorCode::InvalidField,
                "frames[1].step",
            ),
            (
                json!({"os": "web", "frames": [{"step": "front"}]}),
                ErrorCode::MissingField,
                "frames[0].image",
            ),
            (
                json!({"os": "web", "frames": [{"image": "x", "size": 1}]}),
                ErrorCode::UnknownField,
                "frames[0].size",
            ),
        ];
        for (body, code, field) in cases {
            let err = parse(&body).unwrap_err();
            assert_eq!(
                (err.code, err.field.as_deref()),
                (code, Some(field)),
                "{body}: {err:?}"
            );
        }
        let err = ValidateRequest::parse(br#"{"os": "web", "os": "ios"}"#, MB).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("os"), "{err:?}");
        for junk in [
            &b"[1]"[..],
            b"{\"os\": \"web\"",
            b"nope",
            b"{\"os\":\"web\"} {}",
        ] {
            let err = ValidateRequest::parse(junk, MB).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidJson, "{err:?}");
        }
    }

    #[test]
    fn a_ninth_frame_stops_the_reading() {
        let frame = json!({"step": "front", "image": "aGk="});
        let body = json!({"os": "web", "frames": vec![frame.clone(); MAX_FRAMES]});
        assert_eq!(parse(&body).unwrap().frames.unwrap().len(), MAX_FRAMES);
        // Anything after the eighth frame is refused, even what is not a frame.
        let mut many = format!(
            r#"{{"os":"web","frames":[{}"#,
            vec![frame.to_string(); 8].join(",")
        );
        many.push_str(&",0".repeat(100_000));
        many.push_str("]}");
        let err = ValidateRequest::parse(many.as_bytes(), MB).unwrap_err();
        assert_eq!(
            (err.code, err.field.as_deref()),
            (ErrorCode::InvalidField, Some("frames"))
        );
        // Zeros where frames go fail at the first one.
        let zeros = format!(r#"{{"os":"web","frames":[0{}]}}"#, ",0".repeat(100_000));
        let err = ValidateRequest::parse(zeros.as_bytes(), MB).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("frames[0]"), "{err:?}");
    }

    #[test]
    fn an_image_too_long_to_fit_is_refused_by_its_length() {
        let fits = "A".repeat(4 * 1024 / 3);
        assert!(
            ValidateRequest::parse(
                json!({"os": "web", "image": fits}).to_string().as_bytes(),
                1024
            )
            .is_ok()
        );
        let long = "A".repeat(max_image_text(1024) + 1);
        let err = ValidateRequest::parse(
            json!({"os": "web", "frames": [{"image": "aGk="}, {"image": long}]})
                .to_string()
                .as_bytes(),
            1024,
        )
        .unwrap_err();
        assert_eq!(
            (err.code, err.field.as_deref()),
            (ErrorCode::PayloadTooLarge, Some("frames[1].image"))
        );
    }

    #[test]
    fn a_command_with_too_many_frames_does_not_decode() {
        #[derive(serde::Deserialize)]
        struct C {
            #[serde(deserialize_with = "at_most_max_frames")]
            frames: Vec<Frame>,
        }
        let frame = json!({"image": "aGk="});
        let ok = json!({"frames": vec![frame.clone(); MAX_FRAMES]});
        assert_eq!(
            serde_json::from_value::<C>(ok).unwrap().frames.len(),
            MAX_FRAMES
        );
        let over = json!({"frames": vec![frame; MAX_FRAMES + 1]});
        assert!(serde_json::from_value::<C>(over).is_err());
    }
}
