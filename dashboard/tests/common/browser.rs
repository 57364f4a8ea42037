//! Browser harness: Debian's chromedriver + headless chromium driven by
//! fantoccini. Reusable by any test of the project (copy or `#[path]` it).
//!
//! - [`Driver::start`] runs `chromedriver --port=0` and reads the port it
//!   prints ("started successfully on port N"); it is killed (by its PID) when the `Driver` drops.
//! - [`Driver::browser`] opens an independent browser with a fresh profile.
//! - [`Browser::close`] ends the session, which makes chromium exit; use
//!   [`run`] so a failing test still closes its browser.
//!
//! When chromedriver is missing [`Driver::start`] returns `None` (the test
//! prints why and passes), unless `CRM_REQUIRE_SERVICES=1`, when it panics.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

pub const LAPTOP: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (390, 844);

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

fn find(env: &str, default: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        return p.exists().then_some(p);
    }
    if Path::new(default).exists() {
        return Some(PathBuf::from(default));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.exists())
    })
}

fn required() -> bool {
    std::env::var("CRM_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A running chromedriver.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts chromedriver, or `None` (after saying why) when it or chromium
    /// is not installed and services are not required.
    pub fn start() -> Option<Driver> {
        let (Some(driver), Some(_)) = (
            find("CHROMEDRIVER", CHROMEDRIVER, "chromedriver"),
            find("CHROMIUM", CHROMIUM, "chromium"),
        ) else {
            let why = "chromedriver or chromium not installed \
                       (apt-get install chromium chromium-driver)";
            assert!(!required(), "CRM_REQUIRE_SERVICES=1 but {why}");
            eprintln!("skipping browser test: {why}");
            return None;
        };
        // SEVERE, not OFF: with OFF it does not print the port line we wait for.
        let mut child = Command::new(&driver)
            .args(["--port=0", "--log-level=SEVERE"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver.display()));
        let stdout = child.stdout.take().expect("chromedriver stdout");
        let mut lines = BufReader::new(stdout).lines();
        // With --port=0 the first line says "on port 0"; the real port comes
        // in "ChromeDriver was started successfully on port 40123."
        let mut port = None;
        let mut seen = Vec::new();
        for line in lines.by_ref().take(20) {
            let Ok(line) = line else { break };
            if line.contains("started successfully") {
                port = line
                    .trim_end_matches('.')
                    .rsplit(' ')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok());
                break;
            }
            seen.push(line);
        }
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromedriver printed no port: {seen:?}");
        };
        // Keep draining its output: a closed pipe would kill it on its next write.
        std::thread::spawn(move || for _ in lines {});
        Some(Driver { child, port })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new browser (its own profile: cookies are not shared) of `size`.
    pub async fn browser(&self, size: (u32, u32)) -> Browser {
        let profile = TempDir::new("crm-chromium");
        let chromium = find("CHROMIUM", CHROMIUM, "chromium").expect("chromium");
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-color-profile=srgb".to_owned(),
            format!("--window-size={},{}", size.0, size.1),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": chromium, "args": args }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url())
            .await
            .expect("open a chromium session");
        let browser = Browser {
            client,
            _profile: profile,
        };
        browser.resize(size).await;
        browser
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One headless chromium session.
pub struct Browser {
    pub client: Client,
    _profile: TempDir,
}

impl Browser {
    /// Makes the viewport exactly `size` (headless has no window chrome, but
    /// the outer size is what WebDriver sets, so correct by the difference).
    pub async fn resize(&self, (w, h): (u32, u32)) {
        self.client.set_window_size(w, h).await.expect("resize");
        let inner = self.js("return [innerWidth, innerHeight]").await;
        let iw = inner[0].as_i64().unwrap_or(i64::from(w));
        let ih = inner[1].as_i64().unwrap_or(i64::from(h));
        let (dw, dh) = (i64::from(w) - iw, i64::from(h) - ih);
        if dw != 0 || dh != 0 {
            let ow = u32::try_from(i64::from(w) + dw).unwrap_or(w);
            let oh = u32::try_from(i64::from(h) + dh).unwrap_or(h);
            self.client.set_window_size(ow, oh).await.expect("resize");
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Runs `script` (a function body: `return …`) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Writes a PNG of the whole page (the window grows to the page's height
    /// for the shot, then returns to `size`).
    pub async fn screenshot(&self, path: &Path, size: (u32, u32)) {
        let height = self
            .js("return Math.ceil(document.documentElement.scrollHeight)")
            .await
            .as_u64()
            .unwrap_or(size.1 as u64) as u32;
        self.resize((size.0, height.max(size.1))).await;
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("write screenshot");
        self.resize(size).await;
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// Runs `body` with a fresh browser and always closes it afterwards, then
/// re-raises a panic of the body (so chromium never outlives a failed test).
pub async fn run<F, Fut>(driver: &Driver, size: (u32, u32), body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let browser = driver.browser(size).await;
    let outcome = tokio::spawn(body(browser.client.clone())).await;
    browser.close().await;
    if let Err(e) = outcome {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("browser test task failed: {e}");
    }
}

/// A folder removed on drop (no tempfile crate needed for one folder).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // chromium may still be writing for a moment after the session ends
        for _ in 0..10 {
            if std::fs::remove_dir_all(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Serves `app` on 127.0.0.1 on a free port in this process; returns the base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}
