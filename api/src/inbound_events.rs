//! `/api/v1/inbound-events`: what arrived, what became of it, and putting a
//! dead event back in the queue.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use crm_domain::auth::Permission;
use crm_domain::model::InboundEventView;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{TokenFrom, require};
use crate::customers::{limit, non_empty, not_found_as};
use crate::error::{ApiError, ApiResult};

pub fn router(state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/inbound-events", get(list_events))
        .route("/api/v1/inbound-events/{id}", get(get_event))
        .route("/api/v1/inbound-events/{id}/retry", post(retry_event))
        .route_layer(require(state, Permission::OperateIntake, TokenFrom::Header))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            crate::API_BODY_LIMIT,
        ))
}

#[derive(Debug, Deserialize)]
pub struct EventQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

const EVENT_STATUSES: &[&str] = &["pending", "done", "ignored", "invalid", "dead"];

pub async fn list_events(
    State(st): State<AppState>,
    Query(q): Query<EventQuery>,
) -> ApiResult<Json<Value>> {
    let status = non_empty(q.status);
    if let Some(s) = &status
        && !EVENT_STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "status must be one of {}",
            EVENT_STATUSES.join(", ")
        )));
    }
    let cursor = non_empty(q.cursor);
    // The cursor is the last event id of a page: a ULID, or no page at all.
    if let Some(c) = &cursor
        && c.parse::<ulid::Ulid>().is_err()
    {
        return Err(ApiError::unprocessable(
            "invalid_cursor",
            "malformed cursor",
        ));
    }
    let (items, next): (Vec<InboundEventView>, Option<String>) = st
        .store
        .list_inbound_events(status.as_deref(), cursor.as_deref(), limit(q.limit, 50)?)
        .await?;
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

pub async fn get_event(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InboundEventView>> {
    st.store
        .inbound_event_view(&id)
        .await
        .map(Json)
        .map_err(|e| not_found_as(e, "inbound event"))
}

pub async fn retry_event(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<InboundEventView>> {
    let view = st
        .store
        .retry_event(&id)
        .await
        .map_err(|e| not_found_as(e, "inbound event"))?;
    if let Err(e) = st.queue.push_ingest(std::slice::from_ref(&view.id)).await {
        tracing::warn!(error = %e, "retry push failed; sweeper will pick it up");
    }
    Ok(Json(view))
}
