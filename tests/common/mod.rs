//! Black-box harness: real `crm` processes (started through crm-tools'
//! process module, as the bench starts them) on free ports with their own
//! data folders, spoken to over HTTP. Every suite uses part of it; what some
//! suites do not use carries a narrow `allow(dead_code)` saying who does.
//! Engines of a test's own (`engines.rs`) and PostgreSQL databases
//! (`pg.rs`) are included by the suites that start them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crm_tools::process::{Launcher, Log, Process};
use serde_json::Value;

pub mod scratch;

pub const APP_SECRET: &str = "test_app_secret_123";
pub const VERIFY_TOKEN: &str = "crm-verify-7Qx2";

/// The `crm` under test with `env` and nothing else of ours (PATH only), so
/// a developer's own `CRM_*` settings cannot leak in.
fn launcher(log_level: String, env: &HashMap<String, String>) -> Launcher {
    Launcher::new(env!("CARGO_BIN_EXE_crm"))
        .clean_env()
        .env("CRM_LOG", log_level)
        .envs(env.clone())
}

pub use scratch::{TempDir, temp_dir};

/// A running `crm <role>`; killed when dropped, then its folder (if it owns
/// one) removed.
pub struct Crm {
    process: Process,
    pub base: String,
    // Declared after `process`: fields drop in order, the process goes first.
    _dir: Option<TempDir>,
}

impl Crm {
    /// Starts `crm <role>` with `env` and waits until /healthz answers (api roles).
    #[allow(dead_code, reason = "dashboard.rs starts its crm with a log file")]
    pub fn start(role: &str, env: &HashMap<String, String>) -> Crm {
        let log = if std::env::var("CRM_TEST_VERBOSE").is_ok() {
            Log::Inherit
        } else {
            Log::Discard
        };
        let level = std::env::var("CRM_TEST_LOG").unwrap_or_else(|_| "warn".into());
        let mut process = launcher(level, env)
            .log(log)
            .spawn(&[role])
            .expect("spawn crm");
        if (role == "serve" || role == "api")
            && let Err(e) = process.wait_healthy(Duration::from_secs(60))
        {
            panic!("crm {role}: {e}");
        }
        Crm {
            base: process.base().to_string(),
            process,
            _dir: None,
        }
    }
}

#[allow(dead_code, reason = "each suite drives its processes its own way")]
impl Crm {
    /// [`Crm::start`] with its standard error written to a file in `dir`
    /// (what it prints at start: the dashboard URL, the setup code).
    pub fn start_logged(
        role: &str,
        env: &HashMap<String, String>,
        dir: &Path,
    ) -> (Crm, std::path::PathBuf) {
        let mut process = launcher("warn".into(), env)
            .log(Log::Dir(dir.to_path_buf()))
            .spawn(&[role])
            .expect("spawn crm");
        if let Err(e) = process.wait_healthy(Duration::from_secs(60)) {
            panic!("crm {role}: {e}");
        }
        let port = process
            .base()
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_string();
        let base = process.base().to_string();
        let crm = Crm {
            base,
            process,
            _dir: None,
        };
        (crm, dir.join(format!("{role}-{port}.log")))
    }

    /// How the process ended, if it has; None while it runs.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.process.exited()
    }

    /// Keeps `dir` until this process is gone.
    pub fn owning(mut self, dir: TempDir) -> Crm {
        self._dir = Some(dir);
        self
    }

    /// Runs a one-shot CLI command with the same environment.
    pub fn cli(
        env: &HashMap<String, String>,
        args: &[&str],
        stdin: Option<&str>,
    ) -> (i32, String, String) {
        let out = launcher("warn".into(), env)
            .run(args, stdin)
            .expect("spawn crm cli");
        (out.code.unwrap_or(-1), out.stdout, out.stderr)
    }

    pub fn token(env: &HashMap<String, String>) -> String {
        launcher("warn".into(), env)
            .create_token("tests")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn kill9(&mut self) {
        self.process.kill();
    }

    /// SIGTERM and wait for a clean exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.process.terminate_within(Duration::from_secs(45))
    }
}

pub fn embedded_env(dir: &Path) -> HashMap<String, String> {
    let mut env = HashMap::new();
    env.insert("CRM_DATA_DIR".into(), dir.to_string_lossy().to_string());
    env.insert("CRM_META_APP_SECRET".into(), APP_SECRET.into());
    env.insert("CRM_META_VERIFY_TOKEN".into(), VERIFY_TOKEN.into());
    env.insert("CRM_SWEEP_GRACE_MS".into(), "2000".into());
    env
}

/// Signs like Meta: the connectors' own signer (its output is pinned to
/// meta.md's test vectors in connectors/tests/signature.rs).
#[allow(dead_code, reason = "simulate.rs lets the simulator sign")]
pub fn sign(body: &[u8]) -> String {
    crm_connectors::signature::sign_meta_body(APP_SECRET.as_bytes(), body)
}

#[allow(dead_code, reason = "crash.rs speaks HTTP only through flood")]
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

#[allow(dead_code, reason = "crash.rs speaks HTTP only through flood")]
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

/// A WhatsApp text webhook for a distinct person `i` of run `run`.
#[allow(dead_code, reason = "crash.rs, restart.rs and scaleout.rs only")]
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
#[allow(dead_code, reason = "crash.rs and scaleout.rs only")]
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
#[allow(dead_code, reason = "crash.rs, restart.rs and scaleout.rs only")]
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
#[allow(dead_code, reason = "crash.rs and scaleout.rs only")]
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
