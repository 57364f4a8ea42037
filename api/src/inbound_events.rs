//! `/api/v1/inbound-events`: what arrived, what became of it, and putting a
//! dead event back in the queue.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use crm_domain::auth::Permission;
use crm_domain::ids::EventId;
use crm_domain::inbound::InboundStatus;
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
        .route_layer(require(
            state,
            Permission::OperateIntake.into(),
            TokenFrom::Header,
        ))
        .layer(crate::body_limit::BodyLimitLayer(crate::API_BODY_LIMIT))
}

#[derive(Debug, Deserialize)]
pub struct EventQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn list_events(
    State(st): State<AppState>,
    Query(q): Query<EventQuery>,
) -> ApiResult<Json<Value>> {
    let status = match non_empty(q.status) {
        None => None,
        Some(s) => Some(InboundStatus::parse(&s).ok_or_else(|| {
            let all: Vec<&str> = InboundStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::bad_request(format!("status must be one of {}", all.join(", ")))
        })?),
    };
    // The cursor is the last event id of a page: a ULID, or no page at all.
    let cursor = match non_empty(q.cursor) {
        None => None,
        Some(c) if c.parse::<ulid::Ulid>().is_ok() => Some(EventId::new(c)),
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_cursor",
                "malformed cursor",
            ));
        }
    };
    let (items, next): (Vec<InboundEventView>, Option<EventId>) = st
        .store
        .list_inbound_events(status, cursor.as_ref(), limit(q.limit, 50)?)
        .await?;
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

pub async fn get_event(
    State(st): State<AppState>,
    Path(id): Path<EventId>,
) -> ApiResult<Json<InboundEventView>> {
    st.store
        .inbound_event_view(&id)
        .await
        .map(Json)
        .map_err(|e| not_found_as(e, "inbound event"))
}

pub async fn retry_event(
    State(st): State<AppState>,
    Path(id): Path<EventId>,
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
