//! The integrator's webhook endpoint: a real axum server scripted per test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::poll;

/// How the test receiver answers one request.
#[derive(Clone, Debug)]
pub enum Behavior {
    Status(u16),
    /// A status with a `Retry-After` header (seconds).
    RetryAfter(u16, u64),
    /// Answers 200 only after this long (past the worker's timeout).
    Hang(Duration),
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: std::time::Instant,
    pub headers: std::collections::HashMap<String, String>,
    pub body: String,
    /// The answer it was given (a hung request counts as its status, though
    /// the worker had given up on it).
    pub behavior: Behavior,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn succeeded(&self) -> bool {
        matches!(self.behavior, Behavior::Status(s) if (200..300).contains(&s))
    }
}

#[derive(Default)]
struct ReceiverState {
    script: std::collections::VecDeque<Behavior>,
    default: Option<Behavior>,
    received: Vec<Received>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: usize,
    max_in_flight: usize,
}

/// Counts a request as in flight until dropped (answered, or given up on
/// by the client).
struct InFlight(Arc<Mutex<ReceiverState>>);

impl InFlight {
    fn enter(state: &Arc<Mutex<ReceiverState>>) -> InFlight {
        let mut s = state.lock().unwrap();
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.lock() {
            s.in_flight -= 1;
        }
    }
}

/// The integrator's webhook endpoint: a real axum server on 127.0.0.1 that
/// records every request and answers from a script (then with a default).
pub struct Receiver {
    pub port: u16,
    state: Arc<Mutex<ReceiverState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Listens on `port` (0 for any).
    pub async fn start_on(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind receiver");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let shared = state.clone();
        let app =
            axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
                let state = shared.clone();
                async move {
                    let _in_flight = InFlight::enter(&state);
                    let behavior = {
                        let mut s = state.lock().unwrap();
                        let behavior = s
                            .script
                            .pop_front()
                            .or_else(|| s.default.clone())
                            .unwrap_or(Behavior::Status(200));
                        s.received.push(Received {
                            at: std::time::Instant::now(),
                            headers: headers
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                                .collect(),
                            body,
                            behavior: behavior.clone(),
                        });
                        behavior
                    };
                    use axum::response::IntoResponse;
                    let code = |s: u16| axum::http::StatusCode::from_u16(s).unwrap();
                    match behavior {
                        Behavior::Status(s) => (code(s), "recorded").into_response(),
                        Behavior::RetryAfter(s, secs) => {
                            (code(s), [("retry-after", secs.to_string())], "later").into_response()
                        }
                        Behavior::Hang(d) => {
                            tokio::time::sleep(d).await;
                            (code(200), "too late").into_response()
                        }
                    }
                }
            });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { port, state, task }
    }

    /// The most requests it was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers the next requests with these, in order.
    pub fn script(&self, behaviors: impl IntoIterator<Item = Behavior>) {
        self.state.lock().unwrap().script.extend(behaviors);
    }

    /// Answers with this once the script is used up.
    pub fn set_default(&self, behavior: Behavior) {
        self.state.lock().unwrap().default = Some(behavior);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until `n` requests have arrived; returns them.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        poll(limit, || async { self.received() }, |got| got.len() >= n).await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
