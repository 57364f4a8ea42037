//! Typed configuration: environment variables (`CRM_*`) over an optional
//! `crm.toml`, over defaults that start the embedded mode with nothing installed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("config file {path}: unknown key {key}")]
    UnknownKey { path: String, key: String },
    #[error("invalid value for {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// A secret that never prints: `Debug` and `Display` show a redacted form.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Where jobs live: in the same SQLite file as the data (embedded) or in Redis (scale-out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueKind {
    Sqlite(String),
    Redis(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub queue: QueueKind,
    pub bus_url: Option<String>,
    pub meta_app_secret: Option<Secret>,
    pub meta_verify_token: Option<Secret>,
    pub meta_access_token: Option<Secret>,
    pub graph_base_url: String,
    pub graph_version: String,
    pub default_region: String,
    pub log_format: LogFormat,
    /// Attempts before an inbound event is parked as `dead`.
    pub max_attempts: i64,
    /// How long a pending event may wait before the sweeper pushes it again.
    pub sweep_grace_ms: i64,
    pub worker_concurrency: usize,
    /// Lead Ads form ids read by the backfill job.
    pub lead_forms: Vec<String>,
    /// Cron expression (6 fields, seconds first) for the lead backfill.
    pub backfill_cron: String,
    /// Time a client has to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    pub http_header_timeout_ms: u64,
    /// Deadline of one HTTP request (the WebSocket stream once upgraded is
    /// not a request any more).
    pub http_request_timeout_ms: u64,
    /// The address people open (`https://crm.example.com`); cookies are
    /// `Secure` when it is https, and a form's `Origin` must match it.
    /// Without it the dashboard's URL is taken from `bind`.
    pub public_url: Option<String>,
    /// Sign-in sessions: idle timeout and absolute lifetime.
    pub session_idle_minutes: i64,
    pub session_max_hours: i64,
    /// Failed sign-ins allowed per account and per address in 15 minutes.
    pub login_limit_per_account: usize,
    pub login_limit_per_ip: usize,
}

const KEYS: &[&str] = &[
    "CRM_BIND",
    "CRM_DATA_DIR",
    "CRM_DATABASE_URL",
    "CRM_QUEUE_URL",
    "CRM_BUS_URL",
    "CRM_META_APP_SECRET",
    "CRM_META_VERIFY_TOKEN",
    "CRM_META_ACCESS_TOKEN",
    "CRM_GRAPH_BASE_URL",
    "CRM_GRAPH_VERSION",
    "CRM_DEFAULT_REGION",
    "CRM_LOG_FORMAT",
    "CRM_MAX_ATTEMPTS",
    "CRM_SWEEP_GRACE_MS",
    "CRM_WORKER_CONCURRENCY",
    "CRM_META_LEAD_FORMS",
    "CRM_BACKFILL_CRON",
    "CRM_HTTP_HEADER_TIMEOUT_MS",
    "CRM_HTTP_REQUEST_TIMEOUT_MS",
    "CRM_PUBLIC_URL",
    "CRM_SESSION_IDLE_MINUTES",
    "CRM_SESSION_MAX_HOURS",
    "CRM_LOGIN_LIMIT_PER_ACCOUNT",
    "CRM_LOGIN_LIMIT_PER_IP",
];

impl Config {
    /// Reads the process environment and `crm.toml` (or the file named by `CRM_CONFIG`).
    pub fn from_env() -> Result<Self, ConfigError> {
        let file = std::env::var("CRM_CONFIG").ok();
        let file_values = match file.as_deref() {
            Some(p) => read_toml(Path::new(p))?,
            None if Path::new("crm.toml").exists() => read_toml(Path::new("crm.toml"))?,
            None => BTreeMap::new(),
        };
        Self::from_lookup(|k| {
            std::env::var(k)
                .ok()
                .or_else(|| file_values.get(k).cloned())
        })
    }

    /// Builds the configuration from any key lookup; tests pass a map.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let data_dir = PathBuf::from(get("CRM_DATA_DIR").unwrap_or_else(|| "data".into()));
        let database_url = get("CRM_DATABASE_URL").unwrap_or_else(|| {
            format!(
                "sqlite://{}/crm.db",
                data_dir.to_string_lossy().trim_end_matches('/')
            )
        });
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                key: "CRM_DATABASE_URL",
                reason: format!(
                    "{} is neither sqlite:… nor postgres://…",
                    crm_domain::util::mask_url(&database_url)
                ),
            });
        }
        let queue = match get("CRM_QUEUE_URL") {
            Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => {
                QueueKind::Redis(u)
            }
            Some(u) if u.starts_with("sqlite:") => QueueKind::Sqlite(u),
            Some(u) => {
                return Err(ConfigError::Invalid {
                    key: "CRM_QUEUE_URL",
                    reason: format!(
                        "{} is neither redis://… nor sqlite:…",
                        crm_domain::util::mask_url(&u)
                    ),
                });
            }
            None if database_url.starts_with("sqlite:") => {
                QueueKind::Sqlite(jobs_url_beside(&database_url))
            }
            None => {
                return Err(ConfigError::Invalid {
                    key: "CRM_QUEUE_URL",
                    reason: "a PostgreSQL database needs CRM_QUEUE_URL=redis://… for its job queue"
                        .into(),
                });
            }
        };
        let bus_url = get("CRM_BUS_URL");
        if let Some(u) = &bus_url
            && !(u.starts_with("amqp://") || u.starts_with("amqps://"))
        {
            return Err(ConfigError::Invalid {
                key: "CRM_BUS_URL",
                reason: format!("{} is not amqp://…", crm_domain::util::mask_url(u)),
            });
        }
        let log_format = match get("CRM_LOG_FORMAT").as_deref() {
            None | Some("human") | Some("text") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "CRM_LOG_FORMAT",
                    reason: format!("{other} (expected human or json)"),
                });
            }
        };
        Ok(Self {
            bind: get("CRM_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            data_dir,
            database_url,
            queue,
            bus_url,
            meta_app_secret: get("CRM_META_APP_SECRET").map(Secret::new),
            meta_verify_token: get("CRM_META_VERIFY_TOKEN").map(Secret::new),
            meta_access_token: get("CRM_META_ACCESS_TOKEN").map(Secret::new),
            graph_base_url: get("CRM_GRAPH_BASE_URL")
                .unwrap_or_else(|| "https://graph.facebook.com".into())
                .trim_end_matches('/')
                .to_string(),
            graph_version: get("CRM_GRAPH_VERSION").unwrap_or_else(|| "v25.0".into()),
            default_region: get("CRM_DEFAULT_REGION").unwrap_or_else(|| "TR".into()),
            log_format,
            max_attempts: parse_num(get("CRM_MAX_ATTEMPTS"), "CRM_MAX_ATTEMPTS", 8)?,
            sweep_grace_ms: parse_num(get("CRM_SWEEP_GRACE_MS"), "CRM_SWEEP_GRACE_MS", 30_000)?,
            worker_concurrency: parse_num(
                get("CRM_WORKER_CONCURRENCY"),
                "CRM_WORKER_CONCURRENCY",
                16,
            )?,
            lead_forms: get("CRM_META_LEAD_FORMS")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            backfill_cron: get("CRM_BACKFILL_CRON").unwrap_or_else(|| "0 7 * * * *".into()),
            http_header_timeout_ms: parse_num(
                get("CRM_HTTP_HEADER_TIMEOUT_MS"),
                "CRM_HTTP_HEADER_TIMEOUT_MS",
                10_000,
            )?,
            http_request_timeout_ms: parse_num(
                get("CRM_HTTP_REQUEST_TIMEOUT_MS"),
                "CRM_HTTP_REQUEST_TIMEOUT_MS",
                30_000,
            )?,
            public_url: match get("CRM_PUBLIC_URL") {
                None => None,
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                    Some(u.trim_end_matches('/').to_string())
                }
                Some(u) => {
                    return Err(ConfigError::Invalid {
                        key: "CRM_PUBLIC_URL",
                        reason: format!("{u} is not http(s)://…"),
                    });
                }
            },
            session_idle_minutes: positive(
                parse_num(
                    get("CRM_SESSION_IDLE_MINUTES"),
                    "CRM_SESSION_IDLE_MINUTES",
                    8 * 60,
                )?,
                "CRM_SESSION_IDLE_MINUTES",
            )?,
            session_max_hours: positive(
                parse_num(
                    get("CRM_SESSION_MAX_HOURS"),
                    "CRM_SESSION_MAX_HOURS",
                    7 * 24,
                )?,
                "CRM_SESSION_MAX_HOURS",
            )?,
            login_limit_per_account: parse_num(
                get("CRM_LOGIN_LIMIT_PER_ACCOUNT"),
                "CRM_LOGIN_LIMIT_PER_ACCOUNT",
                5,
            )?,
            login_limit_per_ip: parse_num(
                get("CRM_LOGIN_LIMIT_PER_IP"),
                "CRM_LOGIN_LIMIT_PER_IP",
                30,
            )?,
        })
    }

    /// The dashboard's address as printed at start and used for Origin checks.
    pub fn dashboard_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.clone(),
            None => {
                let host = self.bind.replace("0.0.0.0", "127.0.0.1");
                format!("http://{host}")
            }
        }
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    pub fn session_policy(&self) -> crm_domain::session::SessionPolicy {
        crm_domain::session::SessionPolicy {
            idle_ms: self.session_idle_minutes * 60_000,
            absolute_ms: self.session_max_hours * 3_600_000,
        }
    }

    pub fn throttle_policy(&self) -> crm_domain::session::ThrottlePolicy {
        crm_domain::session::ThrottlePolicy {
            per_account: self.login_limit_per_account,
            per_ip: self.login_limit_per_ip,
            ..Default::default()
        }
    }

    pub fn is_embedded(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

/// The embedded job queue's file: beside the database, not inside it. Two
/// writers on one SQLite file share one write lock and wait on each other
/// through SQLite's sleeping busy handler; on two files they never meet. The
/// queue only carries wake-ups (`inbound_events` is the outbox the sweeper
/// re-pushes from), so losing this file loses no event.
fn jobs_url_beside(database_url: &str) -> String {
    let (path, query) = match database_url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (database_url, None),
    };
    let stem = path.strip_suffix(".db").unwrap_or(path);
    match query {
        Some(q) => format!("{stem}-jobs.db?{q}"),
        None => format!("{stem}-jobs.db"),
    }
}

fn positive(v: i64, key: &'static str) -> Result<i64, ConfigError> {
    if v > 0 {
        Ok(v)
    } else {
        Err(ConfigError::Invalid {
            key,
            reason: format!("{v} must be above zero"),
        })
    }
}

fn parse_num<T: std::str::FromStr>(
    v: Option<String>,
    key: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| ConfigError::Invalid {
            key,
            reason: format!("{s:?} is not a number"),
        }),
    }
}

/// `crm.toml` uses the same names as the environment, lower-case without the
/// `CRM_` prefix (`database_url = "postgres://…"`).
fn read_toml(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let table: toml::Table =
        text.parse()
            .map_err(|source: toml::de::Error| ConfigError::Parse {
                path: path.display().to_string(),
                source,
            })?;
    let mut out = BTreeMap::new();
    for (k, v) in table {
        let env_key = format!("CRM_{}", k.to_ascii_uppercase());
        if !KEYS.contains(&env_key.as_str()) {
            return Err(ConfigError::UnknownKey {
                path: path.display().to_string(),
                key: k,
            });
        }
        let s = match v {
            toml::Value::String(s) => s,
            toml::Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        out.insert(env_key, s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_embedded() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://data/crm.db");
        assert_eq!(
            c.queue,
            QueueKind::Sqlite("sqlite://data/crm-jobs.db".into())
        );
        let c = cfg(&[("CRM_DATABASE_URL", "sqlite:///tmp/x/store?mode=rwc")]).unwrap();
        assert_eq!(
            c.queue,
            QueueKind::Sqlite("sqlite:///tmp/x/store-jobs.db?mode=rwc".into())
        );
        assert!(c.bus_url.is_none());
        assert_eq!(c.default_region, "TR");
        assert!(c.is_embedded());
    }

    #[test]
    fn postgres_needs_a_queue_and_bad_urls_are_named_masked() {
        let e = cfg(&[("CRM_DATABASE_URL", "postgres://u:pw@h/db")]).unwrap_err();
        assert!(e.to_string().contains("CRM_QUEUE_URL"));
        let e = cfg(&[("CRM_DATABASE_URL", "mysql://u:topsecret@h/db")]).unwrap_err();
        assert!(e.to_string().contains("CRM_DATABASE_URL"));
        assert!(!e.to_string().contains("topsecret"));
        let e = cfg(&[("CRM_BUS_URL", "http://x")]).unwrap_err();
        assert!(e.to_string().contains("CRM_BUS_URL"));
    }

    #[test]
    fn secrets_do_not_print() {
        let c = cfg(&[("CRM_META_APP_SECRET", "abc123")]).unwrap();
        assert!(!format!("{c:?}").contains("abc123"));
    }

    #[test]
    fn toml_keys_map_to_env_names() {
        let dir = std::env::temp_dir().join(format!("crm-cfg-{}", crm_domain::util::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("crm.toml");
        std::fs::write(
            &p,
            "bind = \"0.0.0.0:9000\"\nmeta_lead_forms = [\"1\", \"2\"]\n",
        )
        .unwrap();
        let m = read_toml(&p).unwrap();
        assert_eq!(m.get("CRM_BIND").unwrap(), "0.0.0.0:9000");
        assert_eq!(m.get("CRM_META_LEAD_FORMS").unwrap(), "1,2");
        std::fs::write(&p, "nonsense = 1\n").unwrap();
        assert!(read_toml(&p).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
