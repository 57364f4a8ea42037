//! The whole HTTP surface in-process, on a port the OS picks (no free-port
//! race), over a real SQLite file in a temp dir: what `http.rs` and
//! `access.rs` share.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crm_api::{AppState, IntakeWriter, ServerLimits, Services};
use crm_domain::auth::TokenScope;
use crm_domain::ids::{RoleId, UserId};
use crm_runtime::Config;
use crm_runtime::bus::EventBus;
use crm_runtime::metrics::Metrics;
use crm_runtime::queue::JobQueue;
use crm_store::Store;
use serde_json::Value;

pub const HEADER_TIMEOUT: Duration = Duration::from_millis(600);

pub struct App {
    pub addr: SocketAddr,
    pub base: String,
    pub store: Store,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub dir: std::path::PathBuf,
    pub http: reqwest::Client,
}

impl App {
    pub async fn start() -> App {
        App::start_with(&[]).await
    }

    /// [`App::start`] with more configuration (`CRM_…` keys).
    pub async fn start_with(extra: &[(&str, &str)]) -> App {
        let dir = std::env::temp_dir().join(format!("crm-http-{}", crm_domain::util::new_id()));
        let mut vars: HashMap<&str, String> = HashMap::from([
            ("CRM_DATA_DIR", dir.display().to_string()),
            ("CRM_META_APP_SECRET", "secret".to_string()),
        ]);
        for (k, v) in extra {
            vars.insert(k, v.to_string());
        }
        let config = Arc::new(Config::from_lookup(|k| vars.get(k).cloned()).unwrap());
        let store = Store::connect(&config.database_url).await.unwrap();
        store.migrate().await.unwrap();
        let queue = JobQueue::connect(&config.queue).await.unwrap();
        let metrics = Arc::new(Metrics::default());
        let (writer, _task) = IntakeWriter::spawn(
            store.clone(),
            queue.clone(),
            config.sweep_grace_ms,
            metrics.clone(),
        );
        let state = AppState::new(Services {
            store: store.clone(),
            queue,
            bus: EventBus::in_process(),
            config,
            metrics,
            writer,
            holders: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let limits = ServerLimits {
            header_read: HEADER_TIMEOUT,
            drain: Duration::from_secs(5),
        };
        let app = crm_api::router(state.clone(), Duration::from_secs(10));
        let server = tokio::spawn(crm_api::serve(listener, app, limits, async {
            let _ = stopped.await;
        }));
        App {
            addr,
            base: format!("http://{addr}"),
            store,
            state,
            stop: Some(stop),
            server: Some(server),
            dir,
            http: reqwest::Client::new(),
        }
    }

    /// A user of `role` with `password_hash` (no real password unless the
    /// caller hashed one).
    pub async fn user_with(&self, role: &str, name: &str, password_hash: &str) -> (UserId, String) {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase(),
            crm_domain::util::new_id().to_lowercase()
        );
        let role = RoleId::new(role);
        let new = crm_store::NewUser {
            email: &email,
            name: Some(name),
            password_hash,
            role: &role,
            must_change_password: false,
        };
        (self.store.create_user(new).await.unwrap(), email)
    }

    pub async fn token(&self, scope: TokenScope, role: Option<&str>) -> String {
        let user = match role {
            Some(r) => Some(self.user_with(r, "user", "x").await.0),
            None => None,
        };
        self.store
            .create_token("t", user.as_ref(), scope)
            .await
            .unwrap()
            .1
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn lead(&self, token: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/intake/leads", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Asserts the shape every error answer has, and returns its code.
pub async fn error_code(r: reqwest::Response, status: u16) -> String {
    assert_eq!(r.status().as_u16(), status);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "error answers are JSON"
    );
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["code"].as_str().unwrap().to_string()
}
