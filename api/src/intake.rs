//! `POST /intake/leads`: web-form and partner leads, JSON or form-encoded.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use crm_domain::auth::Permission;
use crm_domain::intake::IntakeLead;
use crm_domain::util::new_id;
use crm_store::NewInboundEvent;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::{AppState, INTAKE_BODY_LIMIT, read_body};

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
    caller.require(Permission::IntakeLeads)?;
    let body = read_body(body, INTAKE_BODY_LIMIT).await?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let fields = parse_fields(&ct, &body)?;
    let lead = IntakeLead::from_fields(fields);
    if let Err(errors) = lead.validate(&st.config.default_region) {
        st.metrics.inc("crm_intake_total", "lead_rejected");
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "a usable phone number or e-mail address is required",
        )
        .with_details(json!({"fields": errors})));
    }
    let id = new_id();
    // The sender's own key makes its retries idempotent.
    let idem = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let dedupe_key = match (&lead.external_id, idem) {
        (Some(ext), _) => format!(
            "intake:{}:{}",
            lead.source.as_deref().unwrap_or("web_form"),
            ext
        ),
        (None, Some(k)) => format!("intake:key:{}:{k}", caller.0.token_id),
        (None, None) => format!("intake:{id}"),
    };
    let stored = serde_json::to_vec(&lead).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let ins = st
        .writer
        .submit(NewInboundEvent {
            id,
            source: "intake".into(),
            dedupe_key,
            content_type: Some("application/json".into()),
            body: stored,
            status: "pending".into(),
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "lead not stored");
            ApiError::unavailable("could not store the lead; retry")
        })?;
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
