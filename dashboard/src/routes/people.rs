//! The customers list (scope-filtered in SQL) and the users page: create a
//! user with a temporary password, offboard one to a colleague.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use crm_api::AppState;
use crm_api::signin::{PasswordError, RequestOrigin, audit, hash_new_password};
use crm_domain::access::{Action, DataScope, Module as Grant, customer_scope};
use crm_domain::audit::{AuditAction, AuditRecord};
use crm_domain::ids::{RoleId, UserId};
use crm_domain::model::CustomerSummary;
use crm_store::{CustomerFilter, NewUser, StoreError};
use serde::Deserialize;

use super::{Viewer, forbidden_page, internal_page, weak};
use crate::Tr;
use crate::pages::{CustomerRow, FieldError, FieldErrors, Layout, Module, respond};

pub fn router(state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/customers", get(customers))
        .route("/admin/users", get(users).post(create_user))
        .route("/admin/users/{id}/offboard", post(offboard))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::viewer::csrf_guard,
        ))
}

/// A customer as a list row: never a nameless row (the channel's short id
/// stands in), the phone masked.
pub fn row(c: &CustomerSummary, tr: Tr) -> CustomerRow {
    let name = c
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| c.email.clone())
        .unwrap_or_else(|| {
            let id = c.wa_id.as_deref().unwrap_or(c.id.as_str());
            let tail: String = id
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("…{tail}")
        });
    CustomerRow {
        id: c.id.to_string(),
        name,
        phone_masked: c
            .phone
            .as_deref()
            .map(crm_domain::phone::mask_phone)
            .unwrap_or_default(),
        email: c.email.clone().unwrap_or_default(),
        stage: c
            .stage
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_else(|| tr.t("col-stage")),
    }
}

#[derive(Template)]
#[template(path = "customers.html")]
struct CustomersPage {
    layout: Layout,
    results: Vec<CustomerRow>,
    next_cursor: Option<String>,
    scope: Option<DataScope>,
}

impl CustomersPage {
    fn scope_key(&self) -> &'static str {
        match self.scope {
            Some(DataScope::All) => "customers-scope-all",
            Some(DataScope::Team) => "customers-scope-team",
            _ => "customers-scope-own",
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

async fn customers(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Response {
    let layout = viewer.layout(Some(Module::Customers));
    if !viewer.may(Grant::Customers, Action::View) {
        return forbidden_page(layout);
    }
    let scope = customer_scope(&viewer.principal.actor, Grant::Customers, Action::View);
    let filter = CustomerFilter {
        cursor: q.cursor.filter(|c| !c.is_empty()),
        limit: 50,
        ..Default::default()
    };
    match st.store.list_customers(&scope, &filter).await {
        Ok(page) => {
            let results = page.items.iter().map(|c| row(c, layout.tr)).collect();
            let grant = viewer
                .principal
                .actor
                .grants
                .grant(Grant::Customers)
                .map(|g| g.scope);
            respond(
                axum::http::StatusCode::OK,
                &CustomersPage {
                    layout,
                    results,
                    next_cursor: page.next_cursor,
                    scope: grant,
                },
            )
        }
        Err(StoreError::Invalid(_)) => Redirect::to("/customers").into_response(),
        Err(e) => internal_page(layout, &e),
    }
}

struct UserRow {
    id: String,
    name: String,
    initials: String,
    email: String,
    role: String,
    teams: String,
    active: bool,
    is_me: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
    roles: Vec<(String, String)>,
    can_manage: bool,
    can_create: bool,
    handover: Option<String>,
    errors: FieldErrors,
    new_name: String,
    new_email: String,
}

#[derive(Debug, Deserialize, Default)]
struct UsersQuery {
    moved: Option<u64>,
    from: Option<String>,
    to: Option<String>,
    sessions: Option<u64>,
    tokens: Option<u64>,
}

async fn users_page(
    st: &AppState,
    viewer: &Viewer,
    q: UsersQuery,
    errors: FieldErrors,
    name: String,
    email: String,
) -> Response {
    let layout = viewer.layout(Some(Module::Users));
    if !viewer.may(Grant::Users, Action::View) {
        return forbidden_page(layout);
    }
    let (users, roles) = match (st.store.list_users().await, st.store.list_roles().await) {
        (Ok(u), Ok(r)) => (u, r),
        (Err(e), _) | (_, Err(e)) => return internal_page(layout, &e),
    };
    let name_of = |id: &str| {
        users
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.display_name().to_string())
            .unwrap_or_default()
    };
    let handover = match (q.moved, &q.from, &q.to) {
        (Some(n), Some(from), Some(to)) => Some(layout.tr.t_args(
            "offboard-done",
            &[
                ("name", &name_of(from)),
                ("customers", &n.to_string()),
                ("to", &name_of(to)),
                ("sessions", &q.sessions.unwrap_or(0).to_string()),
                ("tokens", &q.tokens.unwrap_or(0).to_string()),
            ],
        )),
        _ => None,
    };
    let me = viewer.user.id.clone();
    let rows = users
        .iter()
        .map(|u| UserRow {
            id: u.id.to_string(),
            name: u.display_name().to_string(),
            initials: crate::pages::initials(u.display_name()),
            email: u.email.clone(),
            role: u.role_name.clone(),
            teams: u
                .teams
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            active: u.active,
            is_me: u.id == me,
        })
        .collect();
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    respond(
        status,
        &UsersPage {
            layout,
            users: rows,
            roles: roles
                .iter()
                .filter(|r| {
                    viewer.principal.actor.is_admin()
                        || !crm_domain::access::seeded::is_admin(&r.id)
                })
                .map(|r| (r.id.to_string(), r.name.clone()))
                .collect(),
            can_manage: viewer.may(Grant::Users, Action::Manage),
            can_create: viewer.may(Grant::Users, Action::Edit),
            handover,
            errors,
            new_name: name,
            new_email: email,
        },
    )
}

async fn users(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<UsersQuery>,
) -> Response {
    users_page(
        &st,
        &viewer,
        q,
        FieldErrors::new(),
        String::new(),
        String::new(),
    )
    .await
}

#[derive(Debug, Deserialize)]
struct NewUserForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role_id: String,
    #[serde(default)]
    password: String,
}

async fn create_user(
    State(st): State<AppState>,
    viewer: Viewer,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<NewUserForm>,
) -> Response {
    if !viewer.may(Grant::Users, Action::Edit) {
        return forbidden_page(viewer.layout(Some(Module::Users)));
    }
    let role = RoleId::new(f.role_id.trim());
    if crm_domain::access::seeded::is_admin(&role) && !viewer.principal.actor.is_admin() {
        return forbidden_page(viewer.layout(Some(Module::Users)));
    }
    let mut errors = FieldErrors::new();
    let email = crm_domain::email::normalize_email(&f.email);
    if f.name.trim().is_empty() {
        errors.add("name", FieldError::Required);
    }
    if email.is_none() {
        errors.add("email", FieldError::InvalidEmail);
    }
    let hash = match hash_new_password(&f.password, &[&f.email, &f.name]).await {
        Ok(h) => Some(h),
        Err(PasswordError::Weak(w)) => {
            errors.add("password", weak(&w));
            None
        }
        Err(e) => return internal_page(viewer.layout(None), &e),
    };
    let (Some(email), Some(hash)) = (email, hash) else {
        return users_page(&st, &viewer, UsersQuery::default(), errors, f.name, f.email).await;
    };
    let created = st
        .store
        .create_user(NewUser {
            email: &email,
            name: Some(f.name.trim()),
            password_hash: &hash,
            role: &role,
            must_change_password: true,
        })
        .await;
    match created {
        Ok(id) => {
            audit(
                &st,
                AuditRecord::new(AuditAction::UserCreated, viewer.principal.actor_label())
                    .target(format!("user:{id}"))
                    .ip(origin.ip)
                    .detail(serde_json::json!({"role_id": role})),
            )
            .await;
            Redirect::to("/admin/users").into_response()
        }
        Err(StoreError::Conflict(_)) | Err(StoreError::Invalid(_)) => {
            errors.add("email", FieldError::InvalidEmail);
            users_page(&st, &viewer, UsersQuery::default(), errors, f.name, f.email).await
        }
        Err(e) => internal_page(viewer.layout(None), &e),
    }
}

#[derive(Debug, Deserialize)]
struct OffboardForm {
    #[serde(default)]
    to_user_id: String,
}

async fn offboard(
    State(st): State<AppState>,
    viewer: Viewer,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<UserId>,
    Form(f): Form<OffboardForm>,
) -> Response {
    if !viewer.may(Grant::Users, Action::Manage) || viewer.user.id == id {
        return forbidden_page(viewer.layout(Some(Module::Users)));
    }
    let to = UserId::new(f.to_user_id.trim());
    match st
        .store
        .offboard(
            &id,
            &to,
            &viewer.principal.actor_label(),
            viewer.user.display_name(),
        )
        .await
    {
        Ok((summary, events)) => {
            st.bus.publish(&events).await;
            audit(
                &st,
                AuditRecord::new(AuditAction::UserOffboarded, viewer.principal.actor_label())
                    .target(format!("user:{id}"))
                    .ip(origin.ip)
                    .detail(serde_json::json!({"to_user_id": to, "customers": summary.customers})),
            )
            .await;
            Redirect::to(&format!(
                "/admin/users?moved={}&from={id}&to={to}&sessions={}&tokens={}",
                summary.customers, summary.sessions_ended, summary.tokens_revoked
            ))
            .into_response()
        }
        Err(StoreError::Invalid(_)) | Err(StoreError::NotFound) => {
            Redirect::to("/admin/users").into_response()
        }
        Err(e) => internal_page(viewer.layout(None), &e),
    }
}
