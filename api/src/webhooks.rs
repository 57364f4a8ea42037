//! `GET/POST /webhooks/meta`: Meta's verification handshake and signed
//! deliveries for WhatsApp, Page (Messenger, Lead Ads) and Instagram.

use std::collections::HashMap;

use crate::body_limit::BodyLimitLayer;
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use crm_connectors::meta::{Envelope, read_envelope};
use crm_connectors::signature::verify_meta_signature;
use crm_domain::ids::EventId;
use crm_domain::inbound::{EventSource, InboundStatus};
use crm_domain::util::sha256_hex;
use crm_store::NewInboundEvent;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::{AppState, WEBHOOK_BODY_LIMIT, read_body};

/// Objects we act on; anything else is stored and marked ignored.
const KNOWN_OBJECTS: &[&str] = &["whatsapp_business_account", "page", "instagram"];

/// Meta's endpoints: no token, the signature (or the verify token) is the
/// credential.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/webhooks/meta", get(verify).post(receive))
        .layer(BodyLimitLayer(WEBHOOK_BODY_LIMIT))
}

/// The same body delivered again (Meta retries) gets the same key. The event
/// time in front keeps new keys near each other in the unique index; with
/// the hash alone every row dirtied a random index page (bench/README.md).
fn meta_dedupe_key(event_time: Option<i64>, body: &[u8]) -> String {
    format!("meta:{:011}:{}", event_time.unwrap_or(0), sha256_hex(body))
}

pub async fn verify(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let expected = st
        .config
        .meta_verify_token
        .as_ref()
        .map(|s| s.expose().to_string());
    let mode = q.get("hub.mode").map(String::as_str);
    let token = q.get("hub.verify_token").map(String::as_str).unwrap_or("");
    let challenge = q.get("hub.challenge").cloned().unwrap_or_default();
    match expected {
        Some(exp)
            if mode == Some("subscribe") && bool::from(exp.as_bytes().ct_eq(token.as_bytes())) =>
        {
            (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                challenge,
            )
                .into_response()
        }
        _ => {
            st.metrics.inc("crm_webhook_verify_total", "refused");
            ApiError::new(
                StatusCode::FORBIDDEN,
                "verify_token_mismatch",
                "verification token does not match",
            )
            .into_response()
        }
    }
}

pub async fn receive(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(e) => {
            st.metrics.inc("crm_intake_total", "too_large");
            return Err(e);
        }
    };
    let Some(secret) = st.config.meta_app_secret.as_ref() else {
        st.metrics.inc("crm_intake_total", "not_configured");
        return Err(ApiError::unavailable(
            "Meta webhooks are not configured (CRM_META_APP_SECRET)",
        ));
    };
    let sig = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if verify_meta_signature(secret.expose().as_bytes(), &body, sig).is_err() {
        st.metrics.inc("crm_intake_total", "bad_signature");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "X-Hub-Signature-256 is missing or does not match",
        ));
    }
    // Only the envelope is looked at here; the worker parses the rest.
    let (status, object, event_time) = match read_envelope(&body) {
        Envelope::Object {
            object: Some(object),
            event_time,
        } if KNOWN_OBJECTS.contains(&object.as_str()) => {
            (InboundStatus::Pending, object, event_time)
        }
        Envelope::Object { object, event_time } => (
            InboundStatus::Ignored,
            object.unwrap_or_default(),
            event_time,
        ),
        Envelope::NotAnObject => (InboundStatus::Ignored, String::new(), None),
        Envelope::NotJson => (InboundStatus::Invalid, String::new(), None),
    };
    let ev = NewInboundEvent {
        id: EventId::generate(),
        source: EventSource::Meta,
        dedupe_key: meta_dedupe_key(event_time, &body),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: body.to_vec(),
        status,
    };
    let ins = st.writer.submit(ev).await.map_err(|e| {
        st.metrics.inc("crm_intake_total", "store_error");
        ApiError::from(e)
    })?;
    let outcome = if !ins.created {
        "duplicate"
    } else {
        status.as_str()
    };
    st.metrics.inc("crm_intake_total", outcome);
    if status == InboundStatus::Invalid {
        return Err(
            ApiError::bad_request("body is not valid JSON; kept for inspection")
                .with_details(json!({"event_id": ins.id})),
        );
    }
    tracing::debug!(event_id = %ins.id, object = %object, duplicate = !ins.created, "webhook stored");
    Ok((
        StatusCode::OK,
        Json(Stored {
            event_id: &ins.id,
            duplicate: !ins.created,
            status: ins.status,
        }),
    )
        .into_response())
}

/// The answer to a stored delivery (serialised directly: a `json!` map cost
/// a tree of allocations per request).
#[derive(serde::Serialize)]
struct Stored<'a> {
    event_id: &'a EventId,
    duplicate: bool,
    status: InboundStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_keys_repeat_for_a_body_and_sort_by_event_time() {
        let body = br#"{"object":"page","entry":[{"time":1767225600123}]}"#;
        let a = meta_dedupe_key(Some(1_767_225_600), body);
        assert_eq!(a, meta_dedupe_key(Some(1_767_225_600), body));
        assert!(a.starts_with("meta:01767225600:"));
        let later = meta_dedupe_key(Some(1_767_225_601), b"{}");
        let much_later = meta_dedupe_key(Some(17_672_256_010), b"{}");
        assert!(a < later && later < much_later);
        assert!(meta_dedupe_key(None, body).starts_with("meta:00000000000:"));
    }
}
