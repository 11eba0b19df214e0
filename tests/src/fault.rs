//! A TCP proxy the harness controls, between a service and RabbitMQ or
//! PostgreSQL, to inject the faults a network has: cut every connection,
//! black-hole them (connections stay open but nothing passes either way, the
//! half-open case only heartbeats and timeouts detect), and heal.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the network does now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// Bytes pass.
    Up,
    /// Connections are accepted and kept, but nothing passes until healed.
    BlackHole,
}

pub struct FaultProxy {
    pub port: u16,
    network: watch::Sender<Network>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (network, watcher) = watch::channel(Network::Up);
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let tracked = connections.clone();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let watcher = watcher.clone();
                let relay = tokio::spawn(async move {
                    wait_up(&mut watcher.clone()).await;
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pipe(cr, sw, watcher.clone()), pipe(sr, cw, watcher));
                });
                if let Ok(mut all) = tracked.lock() {
                    all.retain(|c| !c.is_finished());
                    all.push(relay);
                }
            }
        });
        FaultProxy {
            port,
            network,
            connections,
            accepted,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `url` (of the target) with its host and port replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        let mut parsed = url::Url::parse(url).expect("a URL");
        parsed.set_host(Some("127.0.0.1")).expect("host");
        parsed.set_port(Some(self.port)).expect("port");
        parsed.to_string()
    }

    /// Closes every open connection at once; new ones pass.
    pub fn cut(&self) {
        if let Ok(mut all) = self.connections.lock() {
            for c in all.drain(..) {
                c.abort();
            }
        }
    }

    /// Stops all traffic, keeping the connections open.
    pub fn black_hole(&self) {
        let _ = self.network.send(Network::BlackHole);
    }

    /// Lets traffic pass again.
    pub fn heal(&self) {
        let _ = self.network.send(Network::Up);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

async fn wait_up(watcher: &mut watch::Receiver<Network>) {
    let _ = watcher.wait_for(|n| *n == Network::Up).await;
}

/// Copies one direction, pausing (reading nothing, so TCP backs up) while
/// the network is black-holed.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut watcher: watch::Receiver<Network>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        wait_up(&mut watcher).await;
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            // Black-holed while waiting to read: stop, then read again.
            _ = watcher.wait_for(|n| *n == Network::BlackHole) => continue,
        };
        wait_up(&mut watcher).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
