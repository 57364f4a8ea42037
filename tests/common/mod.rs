//! Black-box harness: starts real `crm` processes on free ports with their own
//! data folders, and speaks HTTP to them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod engines;

pub const APP_SECRET: &str = "test_app_secret_123";
pub const VERIFY_TOKEN: &str = "crm-verify-7Qx2";

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_crm"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "crm-test-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether an external service is required (CI) or may be skipped (laptop).
pub fn services_required() -> bool {
    std::env::var("CRM_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Skips (returns false) when `addr` is not listening, unless services are required.
pub fn service_up(name: &str, addr: &str) -> bool {
    let ok = std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))
        .is_ok();
    if !ok {
        assert!(
            !services_required(),
            "{name} at {addr} is required (CRM_REQUIRE_SERVICES=1) but not reachable"
        );
        eprintln!("SKIP: {name} not reachable at {addr}");
    }
    ok
}

pub struct Crm {
    pub child: Option<Child>,
    pub base: String,
    pub env: HashMap<String, String>,
    pub role: String,
}

impl Crm {
    /// Starts `crm <role>` with `env` and waits until /healthz answers (api roles).
    pub fn start(role: &str, env: &HashMap<String, String>) -> Crm {
        let port = free_port();
        let mut env = env.clone();
        env.insert("CRM_BIND".into(), format!("127.0.0.1:{port}"));
        let mut cmd = Command::new(bin());
        cmd.arg(role)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "CRM_LOG",
                std::env::var("CRM_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var("CRM_TEST_VERBOSE").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        let child = cmd.spawn().expect("spawn crm");
        let crm = Crm {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            env,
            role: role.into(),
        };
        if role == "serve" || role == "api" {
            crm.wait_healthy(Duration::from_secs(60));
        }
        crm
    }

    pub fn wait_healthy(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(r) = plain_http::get_status(&format!("{}/healthz", self.base))
                && r == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("crm {} at {} did not become healthy", self.role, self.base);
    }

    /// Runs a one-shot CLI command with the same environment.
    pub fn cli(
        env: &HashMap<String, String>,
        args: &[&str],
        stdin: Option<&str>,
    ) -> (i32, String, String) {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CRM_LOG", "warn")
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn crm cli");
        {
            use std::io::Write;
            let mut sin = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                sin.write_all(s.as_bytes()).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    pub fn token(env: &HashMap<String, String>) -> String {
        let (code, out, err) = Crm::cli(env, &["token", "create", "tests"], None);
        assert_eq!(code, 0, "token create failed: {err}");
        out.trim().to_string()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(45);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }
}

impl Drop for Crm {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn embedded_env(dir: &std::path::Path) -> HashMap<String, String> {
    let mut env = HashMap::new();
    env.insert("CRM_DATA_DIR".into(), dir.to_string_lossy().to_string());
    env.insert("CRM_META_APP_SECRET".into(), APP_SECRET.into());
    env.insert("CRM_META_VERIFY_TOKEN".into(), VERIFY_TOKEN.into());
    env.insert("CRM_SWEEP_GRACE_MS".into(), "2000".into());
    env
}

/// Signs like Meta: the connectors' own signer (its output is pinned to
/// meta.md's test vectors in connectors/tests/signature.rs).
pub fn sign(body: &[u8]) -> String {
    crm_connectors::signature::sign_meta_body(APP_SECRET.as_bytes(), body)
}

pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Api {
        Api {
            base: base.into(),
            token: token.into(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn webhook(&self, body: &[u8]) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/webhooks/meta", self.base))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign(body))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    /// Polls `path` until `pred` holds on the JSON body (or panics after `secs`).
    pub async fn wait_for(&self, path: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (code, body) = self.get(path).await;
            if code == 200 && pred(&body) {
                return body;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting on {path}: last {code} {body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Status code of a plain GET, with std only (health polling outside a runtime).
pub mod plain_http {
    pub fn get_status(url: &str) -> std::io::Result<u16> {
        use std::io::{Read, Write};
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest
            .split_once('/')
            .map(|(h, p)| (h, format!("/{p}")))
            .unwrap_or((rest, "/".into()));
        let mut s = std::net::TcpStream::connect(host)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        let code = buf
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok(code)
    }
}

/// A WhatsApp text webhook for a distinct person `i` of run `run`.
pub fn wa_body(run: u64, i: u64) -> Vec<u8> {
    let phone = format!("90535{:07}", (run * 7919 + i) % 10_000_000);
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "730194857362910", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "908501112233", "phone_number_id": "418273645501234"},
        "contacts": [{"profile": {"name": format!("Flood {i}")}, "wa_id": phone}],
        "messages": [{"from": phone, "id": format!("wamid.FLOOD{run}x{i}"), "timestamp": "1767225600", "type": "text", "text": {"body": "hi"}}]}}]}]})
    .to_string()
    .into_bytes()
}

/// Posts every body with `concurrency` in flight; returns the indexes answered 2xx.
pub async fn flood(base: &str, bodies: Vec<Vec<u8>>, concurrency: usize) -> Vec<usize> {
    use futures::StreamExt;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let url = format!("{base}/webhooks/meta");
    let results = futures::stream::iter(bodies.into_iter().enumerate())
        .map(|(i, body)| {
            let http = http.clone();
            let url = url.clone();
            async move {
                let sig = sign(&body);
                let r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sig)
                    .body(body)
                    .send()
                    .await;
                (i, r.map(|r| r.status().is_success()).unwrap_or(false))
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    results
        .into_iter()
        .filter(|(_, ok)| *ok)
        .map(|(i, _)| i)
        .collect()
}

/// Counts rows of the effect tables straight from the database.
pub async fn db_counts(url: &str) -> HashMap<String, i64> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    // One statement, one snapshot: counted one by one, a commit landing
    // between two counts showed e.g. 256 customers beside 300 cards.
    let tables = [
        "customers",
        "messages",
        "inbound_events",
        "timeline",
        "cards",
        "leads",
    ];
    let mut sql: Vec<String> = tables
        .iter()
        .map(|t| format!("(SELECT COUNT(*) FROM {t}) AS {t}"))
        .collect();
    sql.push("(SELECT COUNT(*) FROM inbound_events WHERE status = 'pending') AS pending".into());
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {}", sql.join(", "))))
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut out = HashMap::new();
    for name in tables.iter().copied().chain(["pending"]) {
        out.insert(name.to_string(), row.try_get::<i64, _>(name).unwrap());
    }
    pool.close().await;
    out
}

/// Waits until `pred` holds on the database counts.
pub async fn wait_counts(
    url: &str,
    secs: u64,
    pred: impl Fn(&HashMap<String, i64>) -> bool,
) -> HashMap<String, i64> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let c = db_counts(url).await;
        if pred(&c) {
            return c;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting on counts: {c:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
