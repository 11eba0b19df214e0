//! Ports for servers a test starts later (or never).

/// A port on 127.0.0.1 with nothing listening (yet): connections are refused.
///
/// Chosen below Linux's ephemeral range (32768–60999), so no other test's
/// `bind(0)` and no outgoing connection can take it meanwhile (an outgoing
/// connection whose source port equals its destination connects to itself).
pub fn reserve_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 500) as u16 * 20;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % 10_000;
        let port = 20_000 + (start - 20_000 + offset) % 10_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
