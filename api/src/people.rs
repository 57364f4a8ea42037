//! `/api/v1/me`, users, teams, roles, the audit log, one's own tokens, and
//! who holds a customer. A token acts as its user: the same grants and scope
//! decide here as in the dashboard.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, patch, post, put};
use crm_domain::access::{Action, Grants, Module, may};
use crm_domain::audit::{AuditAction, AuditRecord};
use crm_domain::auth::TokenScope;
use crm_domain::email::normalize_email;
use crm_domain::ids::{CustomerId, RoleId, TeamId, TokenId, UserId};
use crm_domain::people::Holding;
use crm_store::{AuditFilter, NewUser, StoreError};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Caller, Need, TokenFrom, require};
use crate::customers::{limit, non_empty, not_found_as};
use crate::error::{ApiError, ApiResult};
use crate::signin::{PasswordError, RequestOrigin, audit, hash_new_password};

pub fn router(state: &AppState) -> axum::Router<AppState> {
    let anyone = axum::Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .route_layer(require(state, Need::Anyone, TokenFrom::Header));
    let view_users = axum::Router::new()
        .route("/api/v1/users", get(list_users))
        .route("/api/v1/teams", get(list_teams))
        .route("/api/v1/roles", get(list_roles))
        .route_layer(require(
            state,
            Need::Grant(Module::Users, Action::View),
            TokenFrom::Header,
        ));
    let edit_users = axum::Router::new()
        .route("/api/v1/users", post(create_user))
        .route("/api/v1/users/{id}", patch(update_user))
        .route("/api/v1/teams", post(put_team))
        .route("/api/v1/teams/{id}", put(put_team_at))
        .route_layer(require(
            state,
            Need::Grant(Module::Users, Action::Edit),
            TokenFrom::Header,
        ));
    let manage_users = axum::Router::new()
        .route("/api/v1/users/{id}/offboard", post(offboard))
        .route("/api/v1/roles/{id}", put(put_role))
        .route_layer(require(
            state,
            Need::Grant(Module::Users, Action::Manage),
            TokenFrom::Header,
        ));
    let audit_log = axum::Router::new()
        .route("/api/v1/audit", get(audit_entries))
        .route_layer(require(
            state,
            Need::Grant(Module::Settings, Action::Manage),
            TokenFrom::Header,
        ));
    let assign = axum::Router::new()
        .route("/api/v1/customers/{id}", patch(assign_customer))
        .route_layer(require(
            state,
            Need::Grant(Module::Customers, Action::Manage),
            TokenFrom::Header,
        ));
    anyone
        .merge(view_users)
        .merge(edit_users)
        .merge(manage_users)
        .merge(audit_log)
        .merge(assign)
        .layer(crate::body_limit::BodyLimitLayer(crate::API_BODY_LIMIT))
}

async fn json_body<T: DeserializeOwned>(body: Body, shape: &str) -> ApiResult<T> {
    let bytes = crate::read_body(body).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("expected {shape}: {e}")))
}

fn invalid(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(m) => ApiError::unprocessable("invalid", m),
        StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
        other => not_found_as(other, "user"),
    }
}

fn password_error(e: PasswordError) -> ApiError {
    match e {
        PasswordError::Weak(w) => ApiError::unprocessable("weak_password", w.to_string())
            .with_details(json!({"field": "password", "reason": w.code()})),
        PasswordError::Mismatch | PasswordError::WrongCurrent => {
            ApiError::unprocessable("invalid_password", e.to_string())
        }
        PasswordError::Store(s) => s.into(),
        PasswordError::Hash(_) | PasswordError::Join(_) => ApiError::internal(&e),
    }
}

pub async fn me(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let p = &caller.0;
    let user = match p.user() {
        Some(u) => Some(st.store.user(u).await?),
        None => None,
    };
    Ok(Json(json!({
        "user": user,
        "token_id": p.token,
        "role_id": p.actor.role,
        "grants": p.actor.grants,
        "modules": p.actor.grants.visible_modules(),
    })))
}

pub async fn list_users(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"items": st.store.list_users().await?})))
}

#[derive(Debug, Deserialize)]
struct CreateUser {
    email: String,
    name: Option<String>,
    role_id: RoleId,
    /// A temporary password the user changes at first sign-in.
    password: String,
    team_ids: Option<Vec<TeamId>>,
}

async fn create_user(
    State(st): State<AppState>,
    caller: Caller,
    RequestOrigin(origin): RequestOrigin,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: CreateUser = json_body(body, r#"{"email", "name"?, "role_id", "password"}"#).await?;
    let email = normalize_email(&req.email)
        .ok_or_else(|| ApiError::unprocessable("invalid_email", "email is not a valid address"))?;
    if crm_domain::access::seeded::is_admin(&req.role_id) && !caller.0.actor.is_admin() {
        return Err(ApiError::forbidden());
    }
    let hash = hash_new_password(
        &req.password,
        &[&email, req.name.as_deref().unwrap_or_default()],
    )
    .await
    .map_err(password_error)?;
    let id = st
        .store
        .create_user(NewUser {
            email: &email,
            name: req.name.as_deref().map(str::trim).filter(|n| !n.is_empty()),
            password_hash: &hash,
            role: &req.role_id,
            must_change_password: true,
        })
        .await
        .map_err(invalid)?;
    for team in req.team_ids.unwrap_or_default() {
        add_to_team(&st, &team, &id).await?;
    }
    audit(
        &st,
        AuditRecord::new(AuditAction::UserCreated, caller.0.actor_label())
            .target(format!("user:{id}"))
            .ip(origin.ip.clone())
            .detail(json!({"role_id": req.role_id})),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": st.store.user(&id).await?})),
    ))
}

async fn add_to_team(st: &AppState, team: &TeamId, user: &UserId) -> ApiResult<()> {
    let teams = st.store.list_teams().await?;
    let t = teams
        .into_iter()
        .find(|t| t.id == *team)
        .ok_or_else(|| ApiError::unprocessable("invalid", format!("no team {team}")))?;
    let mut members = t.member_ids.clone();
    members.push(user.clone());
    st.store
        .put_team(Some(&t.id), &t.name, t.lead_user_id.as_ref(), &members)
        .await
        .map_err(invalid)?;
    Ok(())
}

#[derive(Debug, Deserialize)]
struct UpdateUser {
    name: Option<String>,
    role_id: Option<RoleId>,
    active: Option<bool>,
    team_ids: Option<Vec<TeamId>>,
}

async fn update_user(
    State(st): State<AppState>,
    caller: Caller,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<UserId>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let req: UpdateUser =
        json_body(body, r#"{"name"?, "role_id"?, "active"?, "team_ids"?}"#).await?;
    let before = st
        .store
        .user(&id)
        .await
        .map_err(|e| not_found_as(e, "user"))?;
    let ip = origin.ip.clone();
    let touches_admin = crm_domain::access::seeded::is_admin(&before.role_id)
        || req
            .role_id
            .as_ref()
            .is_some_and(crm_domain::access::seeded::is_admin);
    if (touches_admin || req.role_id.is_some()) && !caller.0.may_do(Module::Users, Action::Manage) {
        return Err(ApiError::forbidden());
    }
    if touches_admin && !caller.0.actor.is_admin() {
        return Err(ApiError::forbidden());
    }
    if caller.0.user() == Some(&id) && (req.active == Some(false) || req.role_id.is_some()) {
        return Err(ApiError::unprocessable(
            "invalid",
            "you cannot disable yourself or change your own role",
        ));
    }
    st.store
        .update_user(&id, req.name.as_deref(), req.role_id.as_ref())
        .await
        .map_err(invalid)?;
    if let Some(teams) = req.team_ids {
        for t in st.store.list_teams().await? {
            let wanted = teams.contains(&t.id);
            let has = t.member_ids.contains(&id);
            if wanted != has {
                let members: Vec<UserId> = if wanted {
                    t.member_ids.iter().cloned().chain([id.clone()]).collect()
                } else {
                    t.member_ids.iter().filter(|m| **m != id).cloned().collect()
                };
                st.store
                    .put_team(Some(&t.id), &t.name, t.lead_user_id.as_ref(), &members)
                    .await
                    .map_err(invalid)?;
            }
        }
    }
    if let Some(active) = req.active
        && st.store.set_user_active(&id, active).await?
    {
        let action = if active {
            AuditAction::UserEnabled
        } else {
            AuditAction::UserDisabled
        };
        audit(
            &st,
            AuditRecord::new(action, caller.0.actor_label())
                .target(format!("user:{id}"))
                .ip(ip.clone()),
        )
        .await;
    }
    if req.role_id.is_some() && req.role_id.as_ref() != Some(&before.role_id) {
        // A privilege change: every session of the user starts over.
        st.store.end_sessions_of(&id).await?;
    }
    audit(
        &st,
        AuditRecord::new(AuditAction::UserUpdated, caller.0.actor_label())
            .target(format!("user:{id}"))
            .ip(ip)
            .detail(json!({"role_id": req.role_id, "name_changed": req.name.is_some()})),
    )
    .await;
    Ok(Json(json!({"user": st.store.user(&id).await?})))
}

#[derive(Debug, Deserialize)]
struct OffboardRequest {
    to_user_id: UserId,
}

async fn offboard(
    State(st): State<AppState>,
    caller: Caller,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<UserId>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let req: OffboardRequest = json_body(body, r#"{"to_user_id"}"#).await?;
    if caller.0.user() == Some(&id) {
        return Err(ApiError::unprocessable(
            "invalid",
            "you cannot offboard yourself",
        ));
    }
    let by_name = match caller.0.user() {
        Some(u) => st.store.user(u).await?.display_name().to_string(),
        None => "service".to_string(),
    };
    let (summary, events) = st
        .store
        .offboard(&id, &req.to_user_id, &caller.0.actor_label(), &by_name)
        .await
        .map_err(invalid)?;
    st.bus.publish(&events).await;
    audit(&st, AuditRecord::new(AuditAction::UserOffboarded, caller.0.actor_label())
        .target(format!("user:{id}"))
        .ip(origin.ip.clone())
        .detail(json!({"to_user_id": req.to_user_id, "customers": summary.customers, "sessions_ended": summary.sessions_ended, "tokens_revoked": summary.tokens_revoked})))
    .await;
    Ok(Json(json!({"summary": summary})))
}

pub async fn list_teams(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"items": st.store.list_teams().await?})))
}

#[derive(Debug, Deserialize)]
struct TeamRequest {
    name: String,
    lead_user_id: Option<UserId>,
    #[serde(default)]
    member_ids: Vec<UserId>,
}

async fn put_team(
    State(st): State<AppState>,
    caller: Caller,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    save_team(st, caller, None, body).await
}

async fn put_team_at(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<TeamId>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    save_team(st, caller, Some(id), body).await
}

async fn save_team(
    st: AppState,
    caller: Caller,
    id: Option<TeamId>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: TeamRequest = json_body(body, r#"{"name", "lead_user_id"?, "member_ids"?}"#).await?;
    let (id, created) = st
        .store
        .put_team(
            id.as_ref(),
            &req.name,
            req.lead_user_id.as_ref(),
            &req.member_ids,
        )
        .await
        .map_err(invalid)?;
    let action = if created {
        AuditAction::TeamCreated
    } else {
        AuditAction::TeamUpdated
    };
    audit(
        &st,
        AuditRecord::new(action, caller.0.actor_label()).target(format!("team:{id}")),
    )
    .await;
    let team = st
        .store
        .list_teams()
        .await?
        .into_iter()
        .find(|t| t.id == id);
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(json!({"team": team})),
    ))
}

pub async fn list_roles(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"items": st.store.list_roles().await?})))
}

#[derive(Debug, Deserialize)]
struct RoleRequest {
    name: String,
    grants: Grants,
}

async fn put_role(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<RoleId>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: RoleRequest = json_body(
        body,
        r#"{"name", "grants": {"modules": {...}, "unassigned_pool"}}"#,
    )
    .await?;
    let (id, created) = st
        .store
        .put_role(Some(&id), &req.name, &req.grants)
        .await
        .map_err(invalid)?;
    // Holders of the role act with its new grants from their next request;
    // their sessions are rotated like any other privilege change.
    for u in st
        .store
        .list_users()
        .await?
        .iter()
        .filter(|u| u.role_id == id)
    {
        st.store.end_sessions_of(&u.id).await?;
    }
    let action = if created {
        AuditAction::RoleCreated
    } else {
        AuditAction::RoleUpdated
    };
    audit(
        &st,
        AuditRecord::new(action, caller.0.actor_label())
            .target(format!("role:{id}"))
            .detail(json!({"grants": req.grants})),
    )
    .await;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(json!({"role": st.store.role(&id).await?})),
    ))
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    action: Option<String>,
    who: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn audit_entries(
    State(st): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let action = match non_empty(q.action) {
        Some(a) => Some(
            AuditAction::parse(&a)
                .ok_or_else(|| ApiError::unprocessable("invalid", format!("unknown action {a}")))?,
        ),
        None => None,
    };
    let page = st
        .store
        .audit_entries(&AuditFilter {
            action,
            who: non_empty(q.who),
            since: q.since,
            until: q.until,
            cursor: non_empty(q.cursor),
            limit: limit(q.limit, 100)?,
        })
        .await
        .map_err(|e| match e {
            StoreError::Invalid(m) => ApiError::unprocessable("invalid_cursor", m),
            other => other.into(),
        })?;
    Ok(Json(json!(page)))
}

async fn list_tokens(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let Some(me) = caller.0.user() else {
        return Ok(Json(json!({"items": st.store.list_tokens(None).await?})));
    };
    Ok(Json(
        json!({"items": st.store.list_tokens(Some(me)).await?}),
    ))
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    name: String,
    scope: Option<TokenScope>,
}

async fn create_token(
    State(st): State<AppState>,
    caller: Caller,
    RequestOrigin(origin): RequestOrigin,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: TokenRequest = json_body(body, r#"{"name", "scope"?}"#).await?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::unprocessable(
            "invalid",
            "a token needs a name of 1 to 80 characters",
        ));
    }
    let Some(me) = caller.0.user() else {
        return Err(ApiError::unprocessable(
            "invalid",
            "service tokens are made with `crm token create`",
        ));
    };
    let scope = req.scope.unwrap_or(TokenScope::Full);
    let (id, token) = st.store.create_token(name, Some(me), scope).await?;
    audit(
        &st,
        AuditRecord::new(AuditAction::TokenCreated, caller.0.actor_label())
            .target(format!("token:{id}"))
            .ip(origin.ip.clone())
            .detail(json!({"scope": scope.as_str()})),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "token": token, "scope": scope})),
    ))
}

async fn revoke_token(
    State(st): State<AppState>,
    caller: Caller,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<TokenId>,
) -> ApiResult<Json<Value>> {
    let revoked = st
        .store
        .revoke_token(&id, caller.0.user())
        .await
        .map_err(|e| not_found_as(e, "token"))?;
    if revoked {
        audit(
            &st,
            AuditRecord::new(AuditAction::TokenRevoked, caller.0.actor_label())
                .target(format!("token:{id}"))
                .ip(origin.ip.clone()),
        )
        .await;
    }
    Ok(Json(json!({"id": id, "revoked": revoked})))
}

#[derive(Debug, Deserialize)]
struct AssignRequest {
    owner_id: Option<UserId>,
    assignee_ids: Option<Vec<UserId>>,
}

async fn assign_customer(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let raw: Value = json_body(body, r#"{"owner_id"?, "assignee_ids"?}"#).await?;
    let req: AssignRequest = serde_json::from_value(raw.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"owner_id\"?, \"assignee_ids\"?}}: {e}"
        ))
    })?;
    let before = visible_holding(&st, &caller, &id, Module::Customers, Action::Manage).await?;
    // An absent field keeps its value; `"owner_id": null` clears the owner.
    let owner = if raw.get("owner_id").is_some() {
        req.owner_id
    } else {
        before.owner.clone()
    };
    let assignees = req.assignee_ids.unwrap_or_else(|| before.assignees.clone());
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(crm_domain::util::new_id);
    let (after, event) = st
        .store
        .assign_customer(
            &id,
            Holding::new(owner, assignees),
            &caller.0.actor_label(),
            &key,
        )
        .await
        .map_err(|e| match e {
            StoreError::Invalid(m) => ApiError::unprocessable("invalid", m),
            other => not_found_as(other, "customer"),
        })?;
    if let Some(ev) = event {
        st.holders.forget(&id);
        st.bus.publish(std::slice::from_ref(&ev)).await;
    }
    Ok(Json(
        json!({"customer_id": id, "owner_id": after.owner, "assignee_ids": after.assignees}),
    ))
}

/// The customer's holding when the caller may `action` it in `module`; a
/// customer outside their scope is not found, as if it did not exist.
pub(crate) async fn visible_holding(
    st: &AppState,
    caller: &Caller,
    id: &CustomerId,
    module: Module,
    action: Action,
) -> ApiResult<Holding> {
    let holding = st
        .store
        .holding(id)
        .await
        .map_err(|e| not_found_as(e, "customer"))?;
    if may(&caller.0.actor, module, action, Some(holding.holders())) {
        Ok(holding)
    } else {
        Err(ApiError::not_found("customer"))
    }
}
