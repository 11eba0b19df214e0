//! A validate request whose body arrives only in part, as a slow (or
//! malicious) uploader sends it: it holds what the ingress gives a request
//! in flight until the rest is written or its time runs out.

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A validate request sent but for the second half of its body.
pub struct SlowValidate {
    /// The connection: write `rest` to finish the request, or read the
    /// answer the ingress gives when it stops waiting.
    pub stream: TcpStream,
    pub rest: Vec<u8>,
}

impl SlowValidate {
    /// Sends the head and half the body of `POST …/validate` with `token`
    /// (one capture) to the ingress at `base_url` (`http://host:port`).
    pub async fn start(base_url: &str, token: &str) -> SlowValidate {
        let body = serde_json::to_vec(&json!({"os": "web", "image": crate::journey::jpeg()}))
            .expect("a body");
        let (first, rest) = body.split_at(body.len() / 2);
        let addr = base_url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr)
            .await
            .expect("connect to the ingress");
        let head = format!(
            "POST /v2/biometric-validations/validate HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .await
            .expect("write the head");
        stream.write_all(first).await.expect("write half the body");
        stream.flush().await.expect("flush");
        SlowValidate {
            stream,
            rest: rest.to_vec(),
        }
    }
}
