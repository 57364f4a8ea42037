//! `POST /intake/leads`: web-form and partner leads, JSON or form-encoded.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use crm_domain::auth::Permission;
use crm_domain::ids::EventId;
use crm_domain::inbound::{EventSource, InboundStatus};
use crm_domain::intake::IntakeLead;
use crm_store::NewInboundEvent;
use serde_json::{Map, Value, json};

use crate::auth::{Caller, TokenFrom, require};
use crate::error::{ApiError, ApiResult};
use crate::{AppState, INTAKE_BODY_LIMIT, read_body};

pub fn router(state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/intake/leads", axum::routing::post(receive))
        .route_layer(require(
            state,
            Permission::IntakeLeads.into(),
            TokenFrom::Header,
        ))
        .layer(crate::body_limit::BodyLimitLayer(INTAKE_BODY_LIMIT))
}

/// The natural key of an intake event. Every kind is scoped to the token
/// that sent it: two forms or partners may use the same `external_id` (or
/// idempotency key) for different people, and neither may swallow the
/// other's lead as a "duplicate".
/// Whose leads a dedupe key is scoped to: the token's id, or the signed-in
/// user for a session.
fn caller_key(p: &crm_domain::auth::Principal) -> String {
    match &p.token {
        Some(t) => t.to_string(),
        None => p.actor_label(),
    }
}

fn dedupe_key(
    token_id: &str,
    lead: &IntakeLead,
    idempotency_key: Option<&str>,
    id: &str,
) -> String {
    match (&lead.external_id, idempotency_key) {
        (Some(ext), _) => format!(
            "intake:ext:{token_id}:{}:{ext}",
            lead.source.as_deref().unwrap_or("web_form")
        ),
        (None, Some(k)) => format!("intake:key:{token_id}:{k}"),
        (None, None) => format!("intake:{id}"),
    }
}

fn parse_fields(content_type: &str, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(body)?;
        let mut map = Map::new();
        for (k, v) in pairs {
            map.insert(k, Value::String(v));
        }
        return Ok(map);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("expected a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("malformed JSON: {e}"))),
    }
}

fn serde_urlencoded_pairs(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::bad_request(format!("malformed form body: {e}")))
}

pub async fn receive(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = read_body(body).await?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let fields = parse_fields(&ct, &body)?;
    let lead = IntakeLead::from_fields(fields);
    let too_long = lead.too_long();
    if !too_long.is_empty() {
        st.metrics.inc("crm_intake_total", "lead_rejected");
        return Err(ApiError::unprocessable(
            "validation_failed",
            format!(
                "too long: {}",
                too_long
                    .iter()
                    .map(|f| f.field.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with_details(json!({"fields": too_long})));
    }
    if let Err(errors) = lead.validate(&st.config.default_region) {
        st.metrics.inc("crm_intake_total", "lead_rejected");
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "a usable phone number or e-mail address is required",
        )
        .with_details(json!({"fields": errors})));
    }
    let id = EventId::generate();
    // The sender's own key makes its retries idempotent.
    let idem = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let dedupe_key = dedupe_key(&caller_key(&caller.0), &lead, idem, id.as_str());
    let stored = serde_json::to_vec(&lead).map_err(|e| ApiError::internal(&e))?;
    let ins = st
        .writer
        .submit(NewInboundEvent {
            id,
            source: EventSource::Intake,
            dedupe_key,
            content_type: Some("application/json".into()),
            body: stored,
            status: InboundStatus::Pending,
        })
        .await?;
    st.metrics.inc(
        "crm_intake_total",
        if ins.created {
            "lead_accepted"
        } else {
            "duplicate"
        },
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"event_id": ins.id, "duplicate": !ins.created})),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intake_keys_belong_to_their_caller() {
        let mut lead = IntakeLead {
            external_id: Some("42".into()),
            ..IntakeLead::default()
        };
        let a = dedupe_key("tok_a", &lead, None, "ev1");
        assert_eq!(a, dedupe_key("tok_a", &lead, Some("k"), "ev2"));
        assert_ne!(a, dedupe_key("tok_b", &lead, None, "ev1"));
        lead.source = Some("partner".into());
        assert_ne!(a, dedupe_key("tok_a", &lead, None, "ev1"));
        lead.external_id = None;
        let k = dedupe_key("tok_a", &lead, Some("k"), "ev1");
        assert_eq!(k, dedupe_key("tok_a", &lead, Some("k"), "ev2"));
        assert_ne!(k, dedupe_key("tok_b", &lead, Some("k"), "ev1"));
        assert_ne!(
            dedupe_key("tok_a", &lead, None, "ev1"),
            dedupe_key("tok_a", &lead, None, "ev2")
        );
    }
}
