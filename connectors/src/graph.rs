//! Graph API client for Lead Ads retrieval.
//!
//! The base URL is configuration so tests and `crm simulate` can point it at a
//! local server speaking Graph's wire format. Retries live here rather than in
//! the job queue because Meta's throttling codes need short, jittered backoff
//! that a queue-level retry (seconds to minutes, whole job) handles badly;
//! what is still failing after `max_attempts` is returned to the caller, with
//! [`GraphError::is_transient`] telling it whether a later retry makes sense.
//!
//! The access token travels only in the `Authorization` header (marked
//! sensitive by reqwest) and is never formatted into errors or logs; URLs in
//! reqwest errors are stripped because `paging.next` links may embed it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::json;
use crate::signature::appsecret_proof;

/// Fields requested for every lead (Meta returns only `id` and `created_time`
/// unless asked).
pub const LEAD_FIELDS: &str = "created_time,id,ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,form_id,field_data,custom_disclaimer_responses,is_organic,platform";

/// Meta error codes worth retrying: throttling (4, 17, 32, 613, 80007,
/// 130429, 131056) and temporary/unknown service failures (1, 2, 131000,
/// 131016, 135000).
const TRANSIENT_CODES: [i64; 12] = [
    1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131056, 135000,
];

const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Guards against a server that keeps returning `paging.next`.
const MAX_PAGES: usize = 1000;
const PAGE_LIMIT: &str = "100";

#[derive(Clone)]
pub struct GraphConfig {
    /// Scheme and host (optionally a path prefix), e.g. `https://graph.facebook.com`.
    pub base_url: String,
    /// Graph version path segment, e.g. `v25.0`.
    pub version: String,
    pub access_token: String,
    /// When set, every request carries `appsecret_proof`.
    pub app_secret: Option<String>,
    /// Total tries per request, including the first; 0 is treated as 1.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    /// Per-request timeout (connect + response).
    pub timeout: Duration,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            base_url: "https://graph.facebook.com".to_owned(),
            version: "v25.0".to_owned(),
            access_token: String::new(),
            app_secret: None,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(10),
        }
    }
}

// Hand-written so secrets never reach logs via `{:?}`.
impl std::fmt::Debug for GraphConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphConfig")
            .field("base_url", &self.base_url)
            .field("version", &self.version)
            .field("access_token", &"<redacted>")
            .field(
                "app_secret",
                &self.app_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GraphError {
    /// Still failing after all attempts, but worth retrying later (429, 5xx,
    /// throttling codes).
    #[error("graph API transient error (HTTP {status}, code {code:?}): {message}")]
    Transient {
        status: u16,
        code: Option<i64>,
        message: String,
    },
    /// Meta rejected the request; retrying unchanged will not help.
    #[error("graph API error (HTTP {status}, code {code:?}): {message}")]
    Permanent {
        status: u16,
        code: Option<i64>,
        message: String,
    },
    #[error("graph API network error: {0}")]
    Network(String),
    #[error("graph API response could not be decoded: {0}")]
    Decode(String),
    #[error("graph API client misconfigured: {0}")]
    Config(String),
}

impl GraphError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::Network(_))
    }
}

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    cfg: Arc<GraphConfig>,
    /// Parsed once so request building cannot fail on the base part.
    base: Url,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl GraphClient {
    pub fn new(cfg: GraphConfig) -> Result<Self, GraphError> {
        let base = Url::parse(&cfg.base_url)
            .map_err(|e| GraphError::Config(format!("invalid base_url: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(GraphError::Config(
                "base_url must be an http(s) URL".to_owned(),
            ));
        }
        if cfg.version.trim().is_empty() || cfg.version.contains(['/', '?', '#']) {
            return Err(GraphError::Config(
                "version must be a single path segment such as v25.0".to_owned(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .build()
            .map_err(|e| GraphError::Config(format!("http client: {}", e.without_url())))?;
        Ok(Self {
            http,
            cfg: Arc::new(cfg),
            base,
        })
    }

    /// Fetches one lead (`GET /{version}/{leadgen_id}`) with its answers.
    pub async fn fetch_lead(&self, leadgen_id: &str) -> Result<Lead, GraphError> {
        let mut url = self.endpoint(&[leadgen_id])?;
        url.query_pairs_mut().append_pair("fields", LEAD_FIELDS);
        self.add_proof(&mut url);
        let body = self.get_json(url).await?;
        Lead::from_value(body).ok_or_else(|| GraphError::Decode("lead without id".to_owned()))
    }

    /// Lists a form's leads created after `created_after_unix` (seconds),
    /// following `paging.next` until the last page.
    ///
    /// Graph marks the last page by omitting `next` (`cursors.after` is
    /// present even there), so `cursors.after` is only used when `next`
    /// points away from the configured base URL: following a foreign link
    /// would hand it our Bearer token.
    pub async fn list_form_leads(
        &self,
        form_id: &str,
        created_after_unix: i64,
    ) -> Result<Vec<Lead>, GraphError> {
        let mut first = self.endpoint(&[form_id, "leads"])?;
        let filtering = serde_json::json!([{
            "field": "time_created",
            "operator": "GREATER_THAN",
            "value": created_after_unix,
        }])
        .to_string();
        first
            .query_pairs_mut()
            .append_pair("fields", LEAD_FIELDS)
            .append_pair("filtering", &filtering)
            .append_pair("limit", PAGE_LIMIT);
        self.add_proof(&mut first);

        let mut leads = Vec::new();
        let mut next = Some(first.clone());
        let mut pages = 0usize;
        while let Some(url) = next.take() {
            if pages >= MAX_PAGES {
                tracing::warn!(form_id, pages, "lead listing stopped at the page cap");
                break;
            }
            pages += 1;
            let page = self.get_json(url).await?;
            let data = page
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| GraphError::Decode("leads page without data[]".to_owned()))?;
            let mut skipped = 0usize;
            for item in data {
                match Lead::from_value(item.clone()) {
                    Some(lead) => leads.push(lead),
                    None => skipped += 1,
                }
            }
            if skipped > 0 {
                tracing::warn!(form_id, skipped, "skipped leads without id");
            }
            if data.is_empty() {
                break;
            }
            next = self.next_page(&page, &first);
        }
        Ok(leads)
    }

    fn next_page(&self, page: &Value, first: &Url) -> Option<Url> {
        let next = json::string(json::path(page, &["paging", "next"]))?;
        if let Ok(mut url) = Url::parse(&next)
            && url.origin() == self.base.origin()
        {
            if self.cfg.app_secret.is_some()
                && !url.query_pairs().any(|(k, _)| k == "appsecret_proof")
            {
                self.add_proof(&mut url);
            }
            return Some(url);
        }
        let after = json::string(json::path(page, &["paging", "cursors", "after"]))?;
        tracing::warn!("paging.next points to another origin; using cursors.after");
        let mut url = first.clone();
        url.query_pairs_mut().append_pair("after", &after);
        Some(url)
    }

    /// `{base}/{version}/{segments...}`, each segment percent-encoded so an id
    /// can never alter the path or query.
    fn endpoint(&self, segments: &[&str]) -> Result<Url, GraphError> {
        if segments.iter().any(|s| s.trim().is_empty()) {
            return Err(GraphError::Config("empty Graph object id".to_owned()));
        }
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| GraphError::Config("base_url cannot have a path".to_owned()))?;
            path.pop_if_empty().push(&self.cfg.version);
            for s in segments {
                path.push(s);
            }
        }
        Ok(url)
    }

    fn add_proof(&self, url: &mut Url) {
        if let Some(secret) = self.cfg.app_secret.as_deref().filter(|s| !s.is_empty()) {
            let proof = appsecret_proof(secret.as_bytes(), &self.cfg.access_token);
            url.query_pairs_mut().append_pair("appsecret_proof", &proof);
        }
    }

    async fn get_json(&self, url: Url) -> Result<Value, GraphError> {
        let attempts = self.cfg.max_attempts.max(1);
        let mut attempt = 1u32;
        loop {
            let (err, retry_after) = match self.get_once(url.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !err.is_transient() || attempt >= attempts {
                return Err(err);
            }
            let delay = retry_after
                .map(|d| d.min(MAX_BACKOFF))
                .unwrap_or_else(|| backoff(self.cfg.initial_backoff, attempt));
            // Path only: query strings may carry tokens on `paging.next` links.
            tracing::debug!(
                path = url.path(),
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %err,
                "retrying graph request"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One request. The error side also returns the server's `Retry-After`,
    /// if any, so backoff can honour it.
    async fn get_once(&self, url: Url) -> Result<Value, (GraphError, Option<Duration>)> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(&self.cfg.access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| (GraphError::Network(e.without_url().to_string()), None))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| (GraphError::Network(e.without_url().to_string()), None))?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();

        if status.is_success() {
            let body = body.ok_or_else(|| {
                (
                    GraphError::Decode("response body is not JSON".to_owned()),
                    None,
                )
            })?;
            // Graph occasionally reports failures inside a 200.
            if body.get("error").is_some_and(Value::is_object) {
                return Err((classify(status.as_u16(), body.get("error")), retry_after));
            }
            return Ok(body);
        }
        let error = body.as_ref().and_then(|b| b.get("error"));
        Err((classify(status.as_u16(), error), retry_after))
    }
}

/// Maps an HTTP status and Graph error envelope to a retry class.
fn classify(status: u16, error: Option<&Value>) -> GraphError {
    let code = json::int(error.and_then(|e| e.get("code")));
    let mut message = json::string(error.and_then(|e| e.get("message")))
        .unwrap_or_else(|| format!("HTTP {status}"));
    if let Some(sub) = json::int(error.and_then(|e| e.get("error_subcode"))) {
        message.push_str(&format!(" (subcode {sub})"));
    }
    // Meta asks integrators to quote fbtrace_id in bug reports.
    if let Some(trace) = json::string(error.and_then(|e| e.get("fbtrace_id"))) {
        message.push_str(&format!(" [fbtrace_id {trace}]"));
    }
    let transient = status == 429
        || (500..600).contains(&status)
        || code.is_some_and(|c| TRANSIENT_CODES.contains(&c))
        || json::flag(error.and_then(|e| e.get("is_transient"))) == Some(true);
    if transient {
        GraphError::Transient {
            status,
            code,
            message,
        }
    } else {
        GraphError::Permanent {
            status,
            code,
            message,
        }
    }
}

/// Exponential backoff with "equal jitter": half the step is fixed so retries
/// never collapse to zero, half is random so concurrent workers spread out.
fn backoff(initial: Duration, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let step = initial.saturating_mul(1u32 << exp).min(MAX_BACKOFF);
    let half = step / 2;
    let half_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let jitter = if half_ms == 0 {
        Duration::ZERO
    } else {
        Duration::from_millis(random_u64() % (half_ms + 1))
    };
    (step - half) + jitter
}

/// Jitter needs unpredictability, not cryptographic quality: std's
/// randomly-keyed hasher avoids a dependency on `rand`.
fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

/// A Lead Ads lead as returned by `GET /{leadgen_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub id: String,
    /// Unix milliseconds.
    pub created_time: Option<i64>,
    pub ad_id: Option<String>,
    pub ad_name: Option<String>,
    pub adset_id: Option<String>,
    pub adset_name: Option<String>,
    pub campaign_id: Option<String>,
    pub campaign_name: Option<String>,
    pub form_id: Option<String>,
    pub is_organic: Option<bool>,
    /// `fb` or `ig` as sent by Meta.
    pub platform: Option<String>,
    pub field_data: Vec<LeadField>,
    /// `custom_disclaimer_responses`: (checkbox_key, checked).
    pub consents: Vec<(String, bool)>,
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadField {
    pub name: String,
    pub values: Vec<String>,
}

impl Lead {
    /// Builds a lead from a Graph lead node, leniently: ids may be numbers,
    /// unknown keys are ignored. `None` only when there is no id.
    pub fn from_value(raw: Value) -> Option<Self> {
        let id = json::id(raw.get("id"))?;
        let id_of = |k: &str| json::id(raw.get(k));
        let str_of = |k: &str| json::string(raw.get(k));
        let field_data = json::array(raw.get("field_data"))
            .iter()
            .filter_map(|f| {
                let name = json::string(f.get("name"))?;
                let values = match f.get("values") {
                    Some(Value::Array(vs)) => vs.iter().filter_map(scalar_text).collect(),
                    Some(v) => scalar_text(v).into_iter().collect(),
                    None => Vec::new(),
                };
                Some(LeadField { name, values })
            })
            .collect();
        let consents = json::array(raw.get("custom_disclaimer_responses"))
            .iter()
            .filter_map(|c| {
                let key = json::string(c.get("checkbox_key"))?;
                Some((key, json::flag(c.get("is_checked")).unwrap_or(false)))
            })
            .collect();
        Some(Self {
            created_time: raw.get("created_time").and_then(parse_created_time),
            ad_id: id_of("ad_id"),
            ad_name: str_of("ad_name"),
            adset_id: id_of("adset_id"),
            adset_name: str_of("adset_name"),
            campaign_id: id_of("campaign_id"),
            campaign_name: str_of("campaign_name"),
            form_id: id_of("form_id"),
            is_organic: json::flag(raw.get("is_organic")),
            platform: str_of("platform"),
            field_data,
            consents,
            id,
            raw,
        })
    }

    /// First non-empty value of the first of `names` (in priority order,
    /// case-insensitive) that has one.
    pub fn field(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|want| {
            self.field_data
                .iter()
                .filter(|f| f.name.eq_ignore_ascii_case(want))
                .flat_map(|f| f.values.iter())
                .map(|v| v.trim())
                .find(|v| !v.is_empty())
        })
    }

    pub fn full_name(&self) -> Option<String> {
        if let Some(full) = self.field(&["full_name"]) {
            return Some(full.to_owned());
        }
        match (self.field(&["first_name"]), self.field(&["last_name"])) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(x), None) | (None, Some(x)) => Some(x.to_owned()),
            (None, None) => None,
        }
    }

    pub fn phone(&self) -> Option<&str> {
        self.field(&["phone_number", "phone"])
    }

    pub fn email(&self) -> Option<&str> {
        self.field(&["email"])
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Graph renders lead times as `2026-01-01T12:00:00+0000` (no colon in the
/// offset, so RFC 3339 parsers reject it); unix seconds and RFC 3339 are
/// accepted too in case a proxy or mock normalises them.
fn parse_created_time(v: &Value) -> Option<i64> {
    if let Some(s) = v.as_str() {
        let s = s.trim();
        return chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(s))
            .ok()
            .map(|t| t.timestamp_millis())
            .or_else(|| {
                s.parse::<i64>()
                    .ok()
                    .and_then(|secs| secs.checked_mul(1000))
            });
    }
    json::int(Some(v)).and_then(|secs| secs.checked_mul(1000))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn backoff_grows_and_caps() {
        let init = Duration::from_millis(200);
        for attempt in 1..40 {
            let d = backoff(init, attempt);
            let step = init
                .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
                .min(MAX_BACKOFF);
            assert!(
                d >= step / 2 && d <= step,
                "attempt {attempt}: {d:?} vs {step:?}"
            );
        }
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn classify_codes() {
        let e = classify(400, Some(&json!({"code": 100, "message": "bad"})));
        assert!(matches!(
            e,
            GraphError::Permanent {
                status: 400,
                code: Some(100),
                ..
            }
        ));
        assert!(classify(400, Some(&json!({"code": 613}))).is_transient());
        assert!(classify(403, Some(&json!({"code": "80007"}))).is_transient());
        assert!(classify(429, None).is_transient());
        assert!(classify(503, None).is_transient());
        assert!(!classify(404, None).is_transient());
        assert!(classify(400, Some(&json!({"code": 9999, "is_transient": true}))).is_transient());
        let msg = classify(
            400,
            Some(&json!({"code": 100, "message": "x", "error_subcode": 33, "fbtrace_id": "AbC"})),
        )
        .to_string();
        assert!(msg.contains("subcode 33") && msg.contains("AbC"), "{msg}");
    }

    #[test]
    fn created_time_formats() {
        assert_eq!(
            parse_created_time(&json!("2026-01-01T12:00:00+0000")),
            Some(1_767_268_800_000)
        );
        assert_eq!(
            parse_created_time(&json!("2026-01-01T15:00:00+0300")),
            Some(1_767_268_800_000)
        );
        assert_eq!(
            parse_created_time(&json!("2026-01-01T12:00:00Z")),
            Some(1_767_268_800_000)
        );
        assert_eq!(
            parse_created_time(&json!(1_767_268_800)),
            Some(1_767_268_800_000)
        );
        assert_eq!(parse_created_time(&json!("yesterday")), None);
    }

    #[test]
    fn lead_accessors() {
        let lead = Lead::from_value(json!({
            "id": 1187654321098765_u64, "created_time": "2026-01-01T12:00:00+0000",
            "ad_id": "120212345678900123", "form_id": 892736451028374_u64, "is_organic": false, "platform": "fb",
            "field_data": [
                {"name": "FIRST_NAME", "values": ["Deniz"]}, {"name": "last_name", "values": ["Kaya"]},
                {"name": "email", "values": ["", " deniz.kaya@example.com "]},
                {"name": "phone", "values": ["+905321234567"]},
                {"name": "phone_number", "values": [""]},
                {"name": "odd", "values": 7}
            ],
            "custom_disclaimer_responses": [{"checkbox_key": "optional_1", "is_checked": "1"}, {"checkbox_key": "optional_2", "is_checked": ""}]
        }))
        .unwrap();
        assert_eq!(lead.id, "1187654321098765");
        assert_eq!(lead.form_id.as_deref(), Some("892736451028374"));
        assert_eq!(lead.full_name().as_deref(), Some("Deniz Kaya"));
        assert_eq!(lead.email(), Some("deniz.kaya@example.com"));
        assert_eq!(lead.phone(), Some("+905321234567"));
        assert_eq!(lead.field(&["ODD"]), Some("7"));
        assert_eq!(lead.field(&["missing"]), None);
        assert_eq!(lead.is_organic, Some(false));
        assert_eq!(
            lead.consents,
            vec![
                ("optional_1".to_owned(), true),
                ("optional_2".to_owned(), false)
            ]
        );
        assert!(Lead::from_value(json!({"field_data": []})).is_none());
    }

    #[test]
    fn config_debug_redacts_secrets() {
        let cfg = GraphConfig {
            access_token: "EAAsecret".into(),
            app_secret: Some("appsecret".into()),
            ..GraphConfig::default()
        };
        let s = format!("{cfg:?}");
        assert!(
            !s.contains("EAAsecret") && !s.contains("appsecret\""),
            "{s}"
        );
    }

    #[test]
    fn endpoint_encodes_segments_and_rejects_bad_config() {
        let client = GraphClient::new(GraphConfig {
            base_url: "http://127.0.0.1:9/prefix/".into(),
            ..GraphConfig::default()
        })
        .unwrap();
        let url = client.endpoint(&["12/../x?y", "leads"]).unwrap();
        assert_eq!(url.path(), "/prefix/v25.0/12%2F..%2Fx%3Fy/leads");
        assert!(client.endpoint(&[""]).is_err());
        assert!(
            GraphClient::new(GraphConfig {
                base_url: "mailto:x@y".into(),
                ..GraphConfig::default()
            })
            .is_err()
        );
        assert!(
            GraphClient::new(GraphConfig {
                version: "v1/x".into(),
                ..GraphConfig::default()
            })
            .is_err()
        );
    }
}
