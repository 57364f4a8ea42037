//! `/api/v1/customers…` and `/api/v1/conversations/{id}/messages`: the
//! customers, their timeline, conversations and messages, and card moves.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use crm_domain::access::{Action, Module, customer_scope};
use crm_domain::auth::Permission;
use crm_domain::email::normalize_email;
use crm_domain::ids::{ConversationId, CustomerId, StageId};
use crm_domain::model::{ConversationView, CustomerDetail, MessageView, TimelineEntry};
use crm_domain::phone::normalize_phone;
use crm_store::{CustomerFilter, Page};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Caller, TokenFrom, require};
use crate::error::{ApiError, ApiResult};
use crate::people::visible_holding;

pub fn router(state: &AppState) -> axum::Router<AppState> {
    let moves = axum::Router::new()
        .route("/api/v1/customers/{id}/move", post(move_card))
        .route_layer(require(
            state,
            Permission::MoveCards.into(),
            TokenFrom::Header,
        ));
    axum::Router::new()
        .route("/api/v1/customers", get(list_customers))
        .route("/api/v1/customers/{id}", get(get_customer))
        .route("/api/v1/customers/{id}/timeline", get(timeline))
        .route("/api/v1/customers/{id}/conversations", get(conversations))
        .route("/api/v1/conversations/{id}/messages", get(messages))
        .route_layer(require(
            state,
            Permission::ReadCustomers.into(),
            TokenFrom::Header,
        ))
        .merge(moves)
        .layer(crate::body_limit::BodyLimitLayer(crate::API_BODY_LIMIT))
}

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

pub(crate) fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

pub(crate) fn limit(v: Option<i64>, default: i64) -> ApiResult<i64> {
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
    let scope = customer_scope(&caller.0.actor, Module::Customers, Action::View);
    Ok(Json(st.store.list_customers(&scope, &filter).await?))
}

pub async fn get_customer(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
) -> ApiResult<Json<CustomerDetail>> {
    visible_holding(&st, &caller, &id, Module::Customers, Action::View).await?;
    st.store
        .customer_detail(&id)
        .await
        .map(Json)
        .map_err(|e| not_found_as(e, "customer"))
}

pub(crate) fn not_found_as(e: crm_store::StoreError, what: &str) -> ApiError {
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
    Path(id): Path<CustomerId>,
    Query(q): Query<LimitQuery>,
) -> ApiResult<Json<Value>> {
    visible_holding(&st, &caller, &id, Module::Customers, Action::View).await?;
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
    Path(id): Path<CustomerId>,
) -> ApiResult<Json<Value>> {
    visible_holding(&st, &caller, &id, Module::Customers, Action::View).await?;
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
    Path(id): Path<ConversationId>,
    Query(q): Query<LimitQuery>,
) -> ApiResult<Json<Value>> {
    let customer = st
        .store
        .conversation_customer(&id)
        .await
        .map_err(|e| not_found_as(e, "conversation"))?;
    visible_holding(&st, &caller, &customer, Module::Customers, Action::View)
        .await
        .map_err(|_| ApiError::not_found("conversation"))?;
    let items: Vec<MessageView> = st
        .store
        .messages(&id, limit(q.limit, 100)?)
        .await
        .map_err(|e| not_found_as(e, "conversation"))?;
    Ok(Json(json!({"items": items})))
}

#[derive(Debug, Deserialize)]
pub struct MoveRequest {
    stage_id: StageId,
    expected_stage_id: Option<StageId>,
}

pub async fn move_card(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = crate::read_body(body).await?;
    let req: MoveRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"stage_id\", \"expected_stage_id\"?}}: {e}"
        ))
    })?;
    visible_holding(&st, &caller, &id, Module::Pipeline, Action::Edit).await?;
    let events = st
        .store
        .move_card(
            &id,
            &req.stage_id,
            req.expected_stage_id.as_ref(),
            &caller.0.actor_label(),
        )
        .await
        .map_err(|e| not_found_as(e, "customer"))?;
    st.bus.publish(&events).await;
    let customer = st.store.customer(&id).await?;
    Ok(Json(
        json!({"customer": customer, "moved": !events.is_empty()}),
    ))
}
