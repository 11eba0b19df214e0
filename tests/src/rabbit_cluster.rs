//! A RabbitMQ cluster of its own for one test: nodes started from Debian's
//! `rabbitmq-server` beside the machine's broker (their own names, ports on
//! 127.0.0.1, data and logs in a temporary folder, no plugins), joined into
//! one cluster, and killed with SIGKILL or started again when the test says.
//! Dropped, every node is killed and its folder removed (kept, with the
//! nodes' logs, when `BV_KEEP_CLUSTER_LOGS` is set).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

/// One node of a [`Cluster`].
pub struct Node {
    pub name: String,
    pub port: u16,
    dist_port: u16,
    dir: PathBuf,
}

impl Node {
    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_PID_FILE", self.dir.join("pid"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"));
        cmd
    }

    fn ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new("rabbitmqctl")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .output()
            .context("run rabbitmqctl")?;
        anyhow::ensure!(
            output.status.success(),
            "rabbitmqctl -n {} {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Starts the node (detached) and waits until it runs.
    fn start(&self) -> anyhow::Result<()> {
        let status = self
            .command("rabbitmq-server")
            .arg("-detached")
            .status()
            .context("run rabbitmq-server")?;
        anyhow::ensure!(
            status.success(),
            "rabbitmq-server -detached failed for {}",
            self.name
        );
        // `await_startup` answers only once the node's distribution is up.
        for _ in 0..120 {
            if self.ctl(&["await_startup", "--timeout", "60"]).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        anyhow::bail!(
            "{} did not start; its logs are in {}",
            self.name,
            self.dir.display()
        )
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// SIGKILL to the node's Erlang VM: it dies as a crashed host would.
    pub fn kill(&self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            for _ in 0..100 {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Nodes joined into one cluster.
pub struct Cluster {
    pub nodes: Vec<Node>,
    dir: PathBuf,
}

impl Cluster {
    /// Starts `n` nodes and joins the others to the first. Takes 15–40 s.
    pub async fn start(n: usize) -> anyhow::Result<Cluster> {
        tokio::task::spawn_blocking(move || Cluster::start_blocking(n)).await?
    }

    fn start_blocking(n: usize) -> anyhow::Result<Cluster> {
        let id = format!("bv{}x{}", std::process::id(), crate::ports::reserve_port());
        let dir = std::env::temp_dir().join(format!("rabbit-cluster-{id}"));
        let mut nodes = Vec::new();
        for i in 0..n {
            let node = Node {
                name: format!("{id}n{i}@localhost"),
                port: crate::ports::reserve_port(),
                dist_port: crate::ports::reserve_port(),
                dir: dir.join(format!("n{i}")),
            };
            std::fs::create_dir_all(&node.dir)?;
            std::fs::write(node.dir.join("enabled_plugins"), "[].\n")?;
            std::fs::write(
                node.dir.join("rabbitmq.conf"),
                format!("listeners.tcp.local = 127.0.0.1:{}\n", node.port),
            )?;
            nodes.push(node);
        }
        // The server drops to the rabbitmq user when started as root.
        let _ = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&dir)
            .status();
        let cluster = Cluster { nodes, dir };
        std::thread::scope(|scope| {
            let started: Vec<_> = cluster
                .nodes
                .iter()
                .map(|node| scope.spawn(move || node.start()))
                .collect();
            started.into_iter().try_for_each(|s| {
                s.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a node's start panicked")))
            })
        })?;
        let first = cluster.nodes[0].name.clone();
        for node in &cluster.nodes[1..] {
            node.ctl(&["stop_app"])?;
            node.ctl(&["join_cluster", &first])?;
            node.ctl(&["start_app"])?;
        }
        Ok(cluster)
    }

    /// Every node's URL, in order, comma-separated (`amqp.url`).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(Node::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts node `i` again after a kill; it rejoins its cluster.
    pub async fn restart(&self, i: usize) -> anyhow::Result<()> {
        let node = Node {
            name: self.nodes[i].name.clone(),
            port: self.nodes[i].port,
            dist_port: self.nodes[i].dist_port,
            dir: self.nodes[i].dir.clone(),
        };
        tokio::task::spawn_blocking(move || node.start()).await?
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            node.kill();
        }
        if std::env::var_os("BV_KEEP_CLUSTER_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
