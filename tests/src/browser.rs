//! A real browser for the hosted page: Debian's headless Chromium driven over
//! WebDriver by its chromedriver (fantoccini, plain HTTP on loopback), a fake
//! camera made with ffmpeg from a still image, and screenshots of what a
//! person would see under `target/screenshots/`.
//!
//! `scripts/test.sh` installs `chromium`, `chromium-driver` and `ffmpeg`.
//! Each [`Browser`] is its own chromedriver on its own port; dropping it
//! kills chromedriver and every Chromium process it started, even when the
//! test panicked.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use uuid::Uuid;

pub use fantoccini::elements::Element;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A running chromedriver; sessions are Chromium windows sized like a phone.
pub struct Browser {
    driver: Child,
    port: u16,
}

impl Browser {
    /// Starts chromedriver on a free port and waits until it is ready.
    pub async fn start() -> Browser {
        for _ in 0..5 {
            // chromedriver has no `--port=0`: take a port the kernel says is
            // free; if another process takes it first, chromedriver exits
            // and the next round picks another.
            let port = free_port();
            let driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group, so Drop can end it and its children.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run {CHROMEDRIVER} ({e}): run scripts/test.sh to install it")
                });
            let mut browser = Browser { driver, port };
            if browser.wait_ready().await {
                return browser;
            }
        }
        panic!("chromedriver did not start on any of 5 ports");
    }

    async fn wait_ready(&mut self) -> bool {
        let status = format!("http://127.0.0.1:{}/status", self.port);
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if !matches!(self.driver.try_wait(), Ok(None)) {
                return false;
            }
            if let Ok(response) = http.get(&status).send().await
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// A new Chromium session (fresh profile) in a 412×915 window, a phone.
    /// With `camera`, a `.y4m` (see [`fake_camera`]) is the camera and
    /// access is granted; without, access is denied, so `getUserMedia`
    /// rejects with `NotAllowedError` and the page's file inputs are used.
    pub async fn session(&self, camera: Option<&Path>) -> Client {
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--window-size=412,915",
            "--force-device-scale-factor=1",
            "--use-fake-device-for-media-stream",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--lang=en-US",
        ]
        .map(str::to_owned)
        .into();
        match camera {
            Some(y4m) => {
                args.push("--use-fake-ui-for-media-stream".into());
                args.push(format!(
                    "--use-file-for-fake-video-capture={}",
                    y4m.display()
                ));
            }
            None => {
                // The fake permission prompt answers "block".
                args.push("--use-fake-ui-for-media-stream=deny".into());
                args.push("--deny-permission-prompts".into());
            }
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": args,
                "prefs": { "intl.accept_languages": "en-US,en" },
                // A desktop window is at least 500 px wide: the phone's
                // viewport (and touch, and `<meta viewport>`) is emulated.
                "mobileEmulation": {
                    "deviceMetrics": { "width": 412, "height": 915, "pixelRatio": 1.0, "mobile": true, "touch": true },
                },
            }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a WebDriver session in Chromium")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium's processes are chromedriver's descendants; collect them
        // before chromedriver dies and they are handed to init.
        let mut pids = descendants(self.driver.id());
        pids.push(self.driver.id());
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.driver.wait();
    }
}

/// Every live descendant of `root`, from `/proc`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid …": comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.remove(0);
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Files a browser test uses (a JPEG, a camera video), in a folder of its
/// own that is removed on drop.
pub struct TestMedia {
    pub dir: PathBuf,
    /// A 640×480 JPEG (ffmpeg's test pattern): any decodable image will do
    /// for the sandbox engine.
    pub jpeg: PathBuf,
    /// That JPEG as a 2 s, 15 fps camera video for Chromium.
    pub camera: PathBuf,
}

impl TestMedia {
    pub fn make() -> TestMedia {
        let dir = std::env::temp_dir().join(format!("bv-browser-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("media folder");
        let jpeg = dir.join("photo.jpg");
        let camera = dir.join("camera.y4m");
        test_jpeg(&jpeg);
        fake_camera(&jpeg, &camera);
        TestMedia { dir, jpeg, camera }
    }
}

impl Drop for TestMedia {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A 640×480 JPEG of ffmpeg's `testsrc2` pattern.
pub fn test_jpeg(out: &Path) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x480:rate=1",
        "-frames:v",
        "1",
        "-q:v",
        "3",
        &out.display().to_string(),
    ]);
}

/// A `.y4m` video of `image` (2 s at 15 fps, 640×480, yuv420p), which
/// Chromium plays as its camera (`--use-file-for-fake-video-capture`).
/// The picture keeps its proportions (letterboxed in black), so a face
/// looks to the engine as it does in the photo.
pub fn fake_camera(image: &Path, out: &Path) {
    fake_camera_of(image, None, out);
}

/// [`fake_camera`] of the part of `image` an ffmpeg `crop` filter
/// (`w:h:x:y`) keeps: a portrait cut to the head and shoulders a webcam
/// would see.
pub fn fake_camera_of(image: &Path, crop: Option<&str>, out: &Path) {
    let crop = crop.map(|c| format!("crop={c},")).unwrap_or_default();
    ffmpeg(&[
        "-loop",
        "1",
        "-t",
        "2",
        "-i",
        &image.display().to_string(),
        "-vf",
        &format!(
            "{crop}scale=640:480:force_original_aspect_ratio=decrease,\
             pad=640:480:(ow-iw)/2:(oh-ih)/2,format=yuv420p"
        ),
        "-r",
        "15",
        &out.display().to_string(),
    ]);
}

fn ffmpeg(args: &[&str]) {
    let output = Command::new("ffmpeg")
        .args(["-y", "-hide_banner", "-loglevel", "error"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg ({e}): run scripts/test.sh to install it"));
    assert!(
        output.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Saves what the browser shows as `target/screenshots/<name>.png`.
pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    let path = dir.join(format!("{name}.png"));
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(&path, png).expect("write screenshot");
    path
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}

/// Waits up to `limit` for an element matching `css` to be displayed.
pub async fn visible(client: &Client, css: &str, limit: Duration) -> Element {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && element.is_displayed().await.unwrap_or(false)
        {
            return element;
        }
        if tokio::time::Instant::now() >= deadline {
            let heading = shown_heading(client).await;
            panic!("`{css}` not displayed within {limit:?}; the page shows: {heading:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits up to `limit` for an element matching `css` to be displayed, and
/// clicks it.
pub async fn click(client: &Client, css: &str, limit: Duration) {
    visible(client, css, limit)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("`{css}` could not be clicked: {e}"));
}

/// Waits up to `limit` for the visible heading (`h1`) to contain `text`.
pub async fn heading_contains(client: &Client, text: &str, limit: Duration) -> String {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let shown = shown_heading(client).await;
        if shown.contains(text) {
            return shown;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("the heading did not say {text:?} within {limit:?}; it says {shown:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the displayed `h1`, or "".
pub async fn shown_heading(client: &Client) -> String {
    for h1 in client
        .find_all(Locator::Css("h1"))
        .await
        .unwrap_or_default()
    {
        if h1.is_displayed().await.unwrap_or(false) {
            return h1.text().await.unwrap_or_default();
        }
    }
    String::new()
}
