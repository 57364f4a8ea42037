//! `/api/v1`: customers, timeline, conversations, messages, pipelines, moves,
//! inbound events.

use axum::Json;
use axum::extract::{Path, Query, State};
use crm_domain::auth::Permission;
use crm_domain::email::normalize_email;
use crm_domain::model::{
    ConversationView, CustomerDetail, InboundEventView, MessageView, PipelineView, TimelineEntry,
};
use crm_domain::phone::normalize_phone;
use crm_store::{CustomerFilter, Page};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Deserialize)]
pub struct CustomerQuery {
    phone: Option<String>,
    email: Option<String>,
    q: Option<String>,
    stage_id: Option<String>,
    source: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn limit(v: Option<i64>, default: i64) -> ApiResult<i64> {
    match v {
        None => Ok(default),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request("limit must be between 1 and 500")),
    }
}

pub async fn list_customers(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<CustomerQuery>,
) -> ApiResult<Json<Page<crm_domain::model::CustomerSummary>>> {
    caller.require(Permission::ReadCustomers)?;
    let phone = match non_empty(q.phone) {
        Some(p) => Some(
            normalize_phone(&p, &st.config.default_region).ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_phone",
                    "phone is not a valid number",
                )
            })?,
        ),
        None => None,
    };
    let email = match non_empty(q.email) {
        Some(e) => Some(normalize_email(&e).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_email",
                "email is not a valid address",
            )
        })?),
        None => None,
    };
    let filter = CustomerFilter {
        phone,
        email,
        q: non_empty(q.q),
        stage_id: non_empty(q.stage_id),
        source: non_empty(q.source),
        cursor: non_empty(q.cursor),
        limit: limit(q.limit, 50)?,
    };
    Ok(Json(st.store.list_customers(&filter).await?))
}

pub async fn get_customer(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CustomerDetail>> {
    caller.require(Permission::ReadCustomers)?;
    st.store
        .customer_detail(&id)
        .await
        .map(Json)
        .map_err(|e| not_found_as(e, "customer"))
}

fn not_found_as(e: crm_store::StoreError, what: &str) -> ApiError {
    match e {
        crm_store::StoreError::NotFound => ApiError::not_found(what),
        other => other.into(),
    }
}

#[derive(Debug, Deserialize)]
pub struct LimitQuery {
    limit: Option<i64>,
}

pub async fn timeline(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<LimitQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::ReadCustomers)?;
    let items: Vec<TimelineEntry> = st
        .store
        .timeline(&id, limit(q.limit, 100)?)
        .await
        .map_err(|e| not_found_as(e, "customer"))?;
    Ok(Json(json!({"items": items})))
}

pub async fn conversations(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::ReadCustomers)?;
    let items: Vec<ConversationView> = st
        .store
        .conversations(&id)
        .await
        .map_err(|e| not_found_as(e, "customer"))?;
    Ok(Json(json!({"items": items})))
}

pub async fn messages(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<LimitQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::ReadCustomers)?;
    let items: Vec<MessageView> = st
        .store
        .messages(&id, limit(q.limit, 100)?)
        .await
        .map_err(|e| not_found_as(e, "conversation"))?;
    Ok(Json(json!({"items": items})))
}

pub async fn pipelines(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Permission::ReadCustomers)?;
    let items: Vec<PipelineView> = st.store.pipelines().await?;
    Ok(Json(json!({"items": items})))
}

#[derive(Debug, Deserialize)]
pub struct MoveRequest {
    stage_id: String,
    expected_stage_id: Option<String>,
}

pub async fn move_card(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::MoveCards)?;
    let req: MoveRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"stage_id\", \"expected_stage_id\"?}}: {e}"
        ))
    })?;
    let events = st
        .store
        .move_card(
            &id,
            &req.stage_id,
            req.expected_stage_id.as_deref(),
            &caller.0.actor(),
        )
        .await
        .map_err(|e| not_found_as(e, "customer"))?;
    st.bus.publish(&events).await;
    let customer = st.store.customer(&id).await?;
    Ok(Json(
        json!({"customer": customer, "moved": !events.is_empty()}),
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
    caller: Caller,
    Query(q): Query<EventQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::OperateIntake)?;
    let status = non_empty(q.status);
    if let Some(s) = &status
        && !EVENT_STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "status must be one of {}",
            EVENT_STATUSES.join(", ")
        )));
    }
    let (items, next): (Vec<InboundEventView>, Option<String>) = st
        .store
        .list_inbound_events(
            status.as_deref(),
            non_empty(q.cursor).as_deref(),
            limit(q.limit, 50)?,
        )
        .await?;
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

pub async fn get_event(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<InboundEventView>> {
    caller.require(Permission::OperateIntake)?;
    st.store
        .inbound_event_view(&id)
        .await
        .map(Json)
        .map_err(|e| not_found_as(e, "inbound event"))
}

pub async fn retry_event(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<InboundEventView>> {
    caller.require(Permission::OperateIntake)?;
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
