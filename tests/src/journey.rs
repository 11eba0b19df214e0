//! The end user's journey over the API: the session a create answer
//! carries, a challenge, captures, and validate, as the hosted page does it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use image::{ImageEncoder, RgbImage};
use serde_json::{Value, json};

use crate::TestApp;

/// A small JPEG (any decodable image satisfies the sandbox engine), base64.
pub fn jpeg() -> String {
    let image = RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 128])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .write_image(image.as_raw(), 64, 48, image::ExtendedColorType::Rgb8)
        .expect("encode a JPEG");
    STANDARD.encode(bytes)
}

/// A PNG of `width`×`height` pixels of `color`, every byte `value`: a few
/// hundred kilobytes at most, that decode to all their pixels (4000×4000 of
/// 16-bit RGBA is 128 MB). Base64.
pub fn uniform_png(width: u32, height: u32, color: image::ExtendedColorType, value: u8) -> String {
    let bytes_per_pixel = usize::from(color.bits_per_pixel() / 8);
    let pixels = vec![value; width as usize * height as usize * bytes_per_pixel];
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        std::io::Cursor::new(&mut out),
        // Fast compression stores a constant non-zero image nearly whole.
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(&pixels, width, height, color)
    .expect("encode a PNG");
    STANDARD.encode(out)
}

/// A PNG whose header declares `width`×`height` pixels but whose data is a
/// few bytes: a decompression bomb, base64.
pub fn bomb_png(width: u32, height: u32) -> String {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    STANDARD.encode(png)
}

/// A created validation's session, from the create answer.
#[derive(Clone, Debug)]
pub struct Started {
    pub id: String,
    pub token: String,
    pub url: String,
}

impl TestApp {
    /// Creates a validation for `client` and returns its session.
    pub async fn start(&self, client: &str, body: &Value) -> Started {
        let response = self.post(&self.token(client), body).await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        let data = &body["data"];
        Started {
            id: data["_id"].as_str().expect("_id").to_owned(),
            token: data["token"].as_str().expect("token").to_owned(),
            url: data["url"].as_str().expect("url").to_owned(),
        }
    }

    /// `GET …/{id}/challenge` with `token`: the status and the body.
    pub async fn challenge(&self, token: &str, id: &str) -> (u16, Value) {
        let response = self
            .get(token, &format!("/v2/biometric-validations/{id}/challenge"))
            .await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    /// `POST /v2/biometric-validations/validate` with `token`.
    pub async fn validate(&self, token: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!(
                "{}/v2/biometric-validations/validate",
                self.base_url
            ))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST validate");
        let response = crate::openapi::checked("POST", response).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    /// Takes a challenge and answers every step with `image`: the
    /// validate answer.
    pub async fn pass_challenge(&self, s: &Started, image: &str) -> (u16, Value) {
        let (status, challenge) = self.challenge(&s.token, &s.id).await;
        assert_eq!(status, 200, "{challenge}");
        let data = &challenge["data"];
        let frames: Vec<Value> = data["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|step| json!({"step": step, "image": image}))
            .collect();
        let body = json!({"os": "web", "challengeId": data["challengeId"], "frames": frames});
        self.validate(&s.token, &body).await
    }
}
