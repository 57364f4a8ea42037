//! Staff administration: roles (the module × action matrix), teams, the
//! audit log, and one's own API tokens. Every write is audited; saving a
//! role ends the sessions of its holders, as the API does.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use crm_api::AppState;
use crm_api::signin::{RequestOrigin, audit};
use crm_domain::access::{Action, Grants, Module as Grant, seeded};
use crm_domain::audit::{AuditAction, AuditRecord};
use crm_domain::auth::TokenScope;
use crm_domain::ids::{RoleId, TeamId, TokenId, UserId};
use crm_store::{AuditFilter, StoreError, UserView};
use serde::Deserialize;

use super::{Viewer, forbidden_page, internal_page};
use crate::Tr;
use crate::pages::admin::{
    AuditPage, AuditRow, NewToken, Person, RoleCard, RoleFormError, RolesPage, Stamp, Subject,
    TeamCard, TeamsPage, TokenRow, TokensPage, audit_href, parse_role_form,
};
use crate::pages::{ErrorKind, ErrorPage, FieldError, FieldErrors, Layout, Module, ToastKind};

/// Entries per page of the audit log.
const AUDIT_PAGE: i64 = 50;
/// Longest role, team and token name.
const NAME_MAX: usize = 80;

pub fn router(state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/admin/roles", get(roles).post(create_role))
        .route("/admin/roles/{id}", post(save_role))
        .route("/admin/teams", get(teams).post(create_team))
        .route("/admin/teams/{id}", post(save_team))
        .route("/admin/audit", get(audit_log))
        .route("/me/tokens", get(tokens).post(create_token))
        .route("/me/tokens/{id}/revoke", post(revoke_token))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::viewer::csrf_guard,
        ))
}

fn not_found_page(layout: Layout) -> Response {
    ErrorPage {
        layout,
        kind: ErrorKind::NotFound,
    }
    .into_response()
}

/// A name of 1 to 80 characters, trimmed.
fn name_ok(name: &str) -> bool {
    let n = name.trim().chars().count();
    n > 0 && n <= NAME_MAX
}

/// Two names count as the same when they differ only in case or marks
/// ("Satış" and "SATIS").
fn same_name(a: &str, b: &str) -> bool {
    crm_domain::search::fold(a.trim()) == crm_domain::search::fold(b.trim())
}

#[derive(Debug, Deserialize, Default)]
struct SavedQuery {
    saved: Option<String>,
    open: Option<String>,
}

// ---------- roles ----------

fn role_cards(roles: &[crm_store::RoleView], open: Option<&str>) -> Vec<RoleCard> {
    roles
        .iter()
        .map(|r| RoleCard {
            id: r.id.to_string(),
            name: r.name.clone(),
            builtin: r.builtin,
            users: r.users,
            locked: seeded::is_admin(&r.id),
            grants: r.grants.clone(),
            open: open == Some(r.id.as_str()),
            errors: FieldErrors::new(),
        })
        .collect()
}

async fn roles_page(
    st: &AppState,
    layout: Layout,
    open: Option<&str>,
) -> Result<RolesPage, Response> {
    match st.store.list_roles().await {
        Ok(roles) => Ok(RolesPage::new(layout, role_cards(&roles, open))),
        Err(e) => Err(internal_page(layout, &e)),
    }
}

async fn roles(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<SavedQuery>,
) -> Response {
    let mut layout = viewer.layout(Some(Module::Roles));
    if !viewer.may(Grant::Users, Action::Manage) {
        return forbidden_page(layout);
    }
    let tr = layout.tr;
    match q.saved.as_deref() {
        Some("1") => layout = layout.with_toast(ToastKind::Success, tr.t("toast-role-saved")),
        Some("created") => {
            layout = layout.with_toast(ToastKind::Success, tr.t("toast-role-created"))
        }
        _ => {}
    }
    match roles_page(&st, layout, q.open.as_deref()).await {
        Ok(page) => page.into_response(),
        Err(res) => res,
    }
}

/// `name` checked for length and against the other roles' names.
fn role_name_error(
    name: &str,
    id: Option<&RoleId>,
    roles: &[crm_store::RoleView],
) -> Option<FieldError> {
    if !name_ok(name) {
        return Some(FieldError::Invalid {
            key: "err-role-name",
        });
    }
    roles
        .iter()
        .any(|r| Some(&r.id) != id && same_name(&r.name, name))
        .then_some(FieldError::Invalid {
            key: "err-role-exists",
        })
}

async fn save_role(
    State(st): State<AppState>,
    viewer: Viewer,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<RoleId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let layout = viewer.layout(Some(Module::Roles));
    if !viewer.may(Grant::Users, Action::Manage) || seeded::is_admin(&id) {
        return forbidden_page(layout);
    }
    let roles = match st.store.list_roles().await {
        Ok(r) => r,
        Err(e) => return internal_page(layout, &e),
    };
    if !roles.iter().any(|r| r.id == id) {
        return not_found_page(layout);
    }
    let tr = layout.tr;
    let mut page = RolesPage::new(layout, role_cards(&roles, Some(id.as_str())));
    let form = match parse_role_form(&pairs) {
        Ok(f) => f,
        Err(e) => {
            page.alert = Some(tr.msg(&e.msg()));
            return page.into_response();
        }
    };
    if let Some(err) = role_name_error(&form.name, Some(&id), &roles) {
        if let Some(card) = page.roles.iter_mut().find(|c| c.id == id.as_str()) {
            card.name = form.name.clone();
            card.grants = form.grants.clone();
            card.errors.add("name", err);
        }
        return page.into_response();
    }
    let (id, created) = match st.store.put_role(Some(&id), &form.name, &form.grants).await {
        Ok(done) => done,
        Err(StoreError::Invalid(_)) => {
            if let Some(card) = page.roles.iter_mut().find(|c| c.id == id.as_str()) {
                card.errors.add(
                    "name",
                    FieldError::Invalid {
                        key: "err-role-name",
                    },
                );
            }
            return page.into_response();
        }
        Err(e) => return internal_page(page.layout, &e),
    };
    // Holders act with the new grants from their next sign-in: their
    // sessions end, like any other change of privilege.
    let mut ended = 0u64;
    match st.store.list_users().await {
        Ok(users) => {
            for u in users.iter().filter(|u| u.role_id == id) {
                match st.store.end_sessions_of(&u.id).await {
                    Ok(n) => ended += n,
                    Err(e) => return internal_page(page.layout, &e),
                }
            }
        }
        Err(e) => return internal_page(page.layout, &e),
    }
    let action = if created {
        AuditAction::RoleCreated
    } else {
        AuditAction::RoleUpdated
    };
    audit(
        &st,
        AuditRecord::new(action, viewer.principal.actor_label())
            .target(format!("role:{id}"))
            .ip(origin.ip)
            .detail(serde_json::json!({"name": form.name, "grants": form.grants, "sessions_ended": ended})),
    )
    .await;
    Redirect::to(&format!("/admin/roles?saved=1&open={id}#role-{id}")).into_response()
}

#[derive(Debug, Deserialize)]
struct NewRoleForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    copy_from: String,
}

async fn create_role(
    State(st): State<AppState>,
    viewer: Viewer,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<NewRoleForm>,
) -> Response {
    let layout = viewer.layout(Some(Module::Roles));
    if !viewer.may(Grant::Users, Action::Manage) {
        return forbidden_page(layout);
    }
    let roles = match st.store.list_roles().await {
        Ok(r) => r,
        Err(e) => return internal_page(layout, &e),
    };
    let tr = layout.tr;
    let mut page = RolesPage::new(layout, role_cards(&roles, None));
    page.new_name = f.name.trim().to_string();
    page.new_copy_from = f.copy_from.trim().to_string();
    let grants = if page.new_copy_from.is_empty() {
        Some(Grants::default())
    } else {
        roles
            .iter()
            .find(|r| r.id == page.new_copy_from.as_str())
            .map(|r| r.grants.clone())
    };
    let Some(grants) = grants else {
        page.alert = Some(tr.msg(&RoleFormError::BadValue("copy_from".into()).msg()));
        return page.into_response();
    };
    if let Some(err) = role_name_error(&page.new_name, None, &roles) {
        page.new_errors.add("name", err);
        return page.into_response();
    }
    let (id, _) = match st.store.put_role(None, &page.new_name, &grants).await {
        Ok(done) => done,
        Err(StoreError::Invalid(_)) => {
            page.new_errors.add(
                "name",
                FieldError::Invalid {
                    key: "err-role-name",
                },
            );
            return page.into_response();
        }
        Err(e) => return internal_page(page.layout, &e),
    };
    audit(
        &st,
        AuditRecord::new(AuditAction::RoleCreated, viewer.principal.actor_label())
            .target(format!("role:{id}"))
            .ip(origin.ip)
            .detail(serde_json::json!({"name": page.new_name, "copied_from": page.new_copy_from, "grants": grants})),
    )
    .await;
    Redirect::to(&format!("/admin/roles?saved=created&open={id}#role-{id}")).into_response()
}

// ---------- teams ----------

fn person(u: &UserView) -> Person {
    Person::new(u.id.to_string(), u.display_name(), u.active)
}

fn team_cards(teams: &[crm_store::TeamView], users: &[UserView]) -> Vec<TeamCard> {
    let by_id: HashMap<&str, &UserView> = users.iter().map(|u| (u.id.as_str(), u)).collect();
    let find = |id: &UserId| {
        by_id
            .get(id.as_str())
            .map(|u| person(u))
            .unwrap_or_else(|| Person::new(id.to_string(), id.to_string(), false))
    };
    teams
        .iter()
        .map(|t| {
            TeamCard::new(
                t.id.to_string(),
                t.name.clone(),
                t.lead_user_id.as_ref().map(find),
                t.member_ids.iter().map(find).collect(),
            )
        })
        .collect()
}

async fn teams_page(st: &AppState, viewer: &Viewer, layout: Layout) -> Result<TeamsPage, Response> {
    let (teams, users) = match (st.store.list_teams().await, st.store.list_users().await) {
        (Ok(t), Ok(u)) => (t, u),
        (Err(e), _) | (_, Err(e)) => return Err(internal_page(layout, &e)),
    };
    let people = users.iter().filter(|u| u.active).map(person).collect();
    let mut page = TeamsPage::new(layout, team_cards(&teams, &users), people);
    page.can_edit = viewer.may(Grant::Users, Action::Edit);
    Ok(page)
}

async fn teams(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<SavedQuery>,
) -> Response {
    let mut layout = viewer.layout(Some(Module::Teams));
    if !viewer.may(Grant::Users, Action::View) {
        return forbidden_page(layout);
    }
    let tr = layout.tr;
    match q.saved.as_deref() {
        Some("1") => layout = layout.with_toast(ToastKind::Success, tr.t("toast-team-saved")),
        Some("created") => {
            layout = layout.with_toast(ToastKind::Success, tr.t("toast-team-created"))
        }
        _ => {}
    }
    match teams_page(&st, &viewer, layout).await {
        Ok(page) => page.into_response(),
        Err(res) => res,
    }
}

/// A posted team form: `name`, `lead` (empty for none), `members` repeated.
#[derive(Debug, Default)]
struct TeamForm {
    name: String,
    lead: String,
    members: Vec<String>,
}

impl TeamForm {
    fn parse(pairs: Vec<(String, String)>) -> TeamForm {
        let mut f = TeamForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "name" => f.name = v.trim().to_string(),
                "lead" => f.lead = v.trim().to_string(),
                "members" if !v.trim().is_empty() && !f.members.contains(&v) => f.members.push(v),
                _ => {}
            }
        }
        f
    }

    /// Problems of the form, given the teams and users there are.
    fn check(
        &self,
        id: Option<&TeamId>,
        teams: &[crm_store::TeamView],
        users: &[UserView],
    ) -> FieldErrors {
        let mut errors = FieldErrors::new();
        if !name_ok(&self.name) {
            errors.add(
                "name",
                FieldError::Invalid {
                    key: "err-team-name",
                },
            );
        } else if teams
            .iter()
            .any(|t| Some(&t.id) != id && same_name(&t.name, &self.name))
        {
            errors.add(
                "name",
                FieldError::Invalid {
                    key: "err-team-exists",
                },
            );
        }
        let known = |u: &String| users.iter().any(|x| x.id == u.as_str());
        if !(self.lead.is_empty() || known(&self.lead)) || !self.members.iter().all(known) {
            errors.add(
                "members",
                FieldError::Invalid {
                    key: "err-team-members",
                },
            );
        }
        errors
    }

    fn lead(&self) -> Option<UserId> {
        (!self.lead.is_empty()).then(|| UserId::new(self.lead.clone()))
    }

    fn member_ids(&self) -> Vec<UserId> {
        self.members
            .iter()
            .map(|m| UserId::new(m.clone()))
            .collect()
    }
}

async fn write_team(
    st: &AppState,
    viewer: &Viewer,
    origin_ip: Option<String>,
    id: Option<TeamId>,
    pairs: Vec<(String, String)>,
) -> Response {
    let layout = viewer.layout(Some(Module::Teams));
    if !viewer.may(Grant::Users, Action::Edit) {
        return forbidden_page(layout);
    }
    let (teams, users) = match (st.store.list_teams().await, st.store.list_users().await) {
        (Ok(t), Ok(u)) => (t, u),
        (Err(e), _) | (_, Err(e)) => return internal_page(layout, &e),
    };
    if let Some(id) = &id
        && !teams.iter().any(|t| t.id == *id)
    {
        return not_found_page(layout);
    }
    let form = TeamForm::parse(pairs);
    let mut errors = form.check(id.as_ref(), &teams, &users);
    let saved = if errors.is_empty() {
        let lead = form.lead();
        match st
            .store
            .put_team(id.as_ref(), &form.name, lead.as_ref(), &form.member_ids())
            .await
        {
            Ok(done) => Some(done),
            Err(StoreError::Conflict(_)) => {
                errors.add(
                    "name",
                    FieldError::Invalid {
                        key: "err-team-exists",
                    },
                );
                None
            }
            Err(StoreError::Invalid(_)) => {
                errors.add(
                    "name",
                    FieldError::Invalid {
                        key: "err-team-name",
                    },
                );
                None
            }
            Err(e) => return internal_page(layout, &e),
        }
    } else {
        None
    };
    let Some((team, created)) = saved else {
        // Sent back: the form keeps what was typed, the problem beside it.
        let mut page = match teams_page(st, viewer, layout).await {
            Ok(p) => p,
            Err(res) => return res,
        };
        match &id {
            Some(id) => {
                if let Some(card) = page.teams.iter_mut().find(|t| t.id == id.as_str()) {
                    card.form_name = form.name;
                    card.form_lead = form.lead;
                    card.form_members = form.members;
                    card.errors = errors;
                }
            }
            None => {
                page.new_name = form.name;
                page.new_lead = form.lead;
                page.new_members = form.members;
                page.new_errors = errors;
            }
        }
        return page.into_response();
    };
    let action = if created {
        AuditAction::TeamCreated
    } else {
        AuditAction::TeamUpdated
    };
    audit(
        st,
        AuditRecord::new(action, viewer.principal.actor_label())
            .target(format!("team:{team}"))
            .ip(origin_ip)
            .detail(serde_json::json!({"name": form.name, "lead_user_id": form.lead(), "member_ids": form.member_ids()})),
    )
    .await;
    let saved = if created { "created" } else { "1" };
    Redirect::to(&format!("/admin/teams?saved={saved}#team-{team}")).into_response()
}

async fn create_team(
    State(st): State<AppState>,
    viewer: Viewer,
    RequestOrigin(origin): RequestOrigin,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    write_team(&st, &viewer, origin.ip, None, pairs).await
}

async fn save_team(
    State(st): State<AppState>,
    viewer: Viewer,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<TeamId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    write_team(&st, &viewer, origin.ip, Some(id), pairs).await
}

// ---------- audit ----------

#[derive(Debug, Deserialize, Default)]
struct AuditQuery {
    action: Option<String>,
    who: Option<String>,
    cursor: Option<String>,
}

/// Readable names for the references the log stores.
struct Names {
    users: HashMap<String, String>,
    roles: HashMap<String, String>,
    teams: HashMap<String, String>,
    tokens: HashMap<String, String>,
}

impl Names {
    fn subject(&self, tr: Tr, reference: &str) -> Subject {
        let named = |key: &str, map: &HashMap<String, String>, id: &str| {
            map.get(id)
                .map(|name| tr.t_args(key, &[("name", name.as_str())]))
        };
        let label = match reference.split_once(':') {
            Some(("user", id)) => self.users.get(id).cloned(),
            Some(("role", id)) => named("audit-subject-role", &self.roles, id),
            Some(("team", id)) => named("audit-subject-team", &self.teams, id),
            Some(("token", id)) => named("audit-subject-token", &self.tokens, id),
            _ => match reference {
                "anonymous" => Some(tr.t("audit-subject-anonymous")),
                "system" => Some(tr.t("audit-subject-system")),
                _ => None,
            },
        };
        Subject {
            reference: reference.to_string(),
            label: label.unwrap_or_else(|| reference.to_string()),
        }
    }
}

async fn names(st: &AppState) -> Result<Names, StoreError> {
    let users = st.store.list_users().await?;
    let roles = st.store.list_roles().await?;
    let teams = st.store.list_teams().await?;
    let tokens = st.store.list_tokens(None).await?;
    Ok(Names {
        users: users
            .iter()
            .map(|u| (u.id.to_string(), u.display_name().to_string()))
            .collect(),
        roles: roles
            .into_iter()
            .map(|r| (r.id.to_string(), r.name))
            .collect(),
        teams: teams
            .into_iter()
            .map(|t| (t.id.to_string(), t.name))
            .collect(),
        tokens: tokens
            .into_iter()
            .map(|t| (t.id.to_string(), t.name))
            .collect(),
    })
}

async fn audit_log(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<AuditQuery>,
) -> Response {
    let layout = viewer.layout(Some(Module::Audit));
    if !viewer.may(Grant::Settings, Action::Manage) {
        return forbidden_page(layout);
    }
    let tr = layout.tr;
    let lang = layout.lang;
    let tz = viewer.user.time_zone.clone();
    let mut page = AuditPage::new(layout, tz.clone());
    page.action = q.action.unwrap_or_default().trim().to_string();
    page.who = q.who.unwrap_or_default().trim().chars().take(200).collect();
    let cursor = q.cursor.filter(|c| !c.trim().is_empty());
    page.paged = cursor.is_some();
    let action = if page.action.is_empty() {
        None
    } else {
        match AuditAction::parse(&page.action) {
            Some(a) => Some(a),
            None => {
                page.errors.add(
                    "action",
                    FieldError::Invalid {
                        key: "err-audit-action",
                    },
                );
                return page.into_response();
            }
        }
    };
    let filter = AuditFilter {
        action,
        who: (!page.who.is_empty()).then(|| page.who.clone()),
        cursor,
        limit: AUDIT_PAGE,
        ..AuditFilter::default()
    };
    let entries = match st.store.audit_entries(&filter).await {
        Ok(p) => p,
        Err(StoreError::Invalid(_)) => {
            return Redirect::to(&audit_href(&page.action, &page.who, None)).into_response();
        }
        Err(e) => return internal_page(page.layout, &e),
    };
    let names = match names(&st).await {
        Ok(n) => n,
        Err(e) => return internal_page(page.layout, &e),
    };
    page.rows = entries
        .items
        .iter()
        .map(|e| AuditRow {
            at: Stamp::new(e.at, &tz, lang),
            action: e.action,
            actor: names.subject(tr, &e.actor),
            target: e.target.as_deref().map(|t| names.subject(tr, t)),
            ip: e.ip.clone().unwrap_or_default(),
        })
        .collect();
    page.older_href = entries
        .next_cursor
        .map(|c| audit_href(&page.action, &page.who, Some(&c)));
    page.into_response()
}

// ---------- tokens ----------

async fn token_rows(st: &AppState, viewer: &Viewer) -> Result<Vec<TokenRow>, StoreError> {
    let tz = &viewer.user.time_zone;
    let lang = viewer.lang;
    Ok(st
        .store
        .list_tokens(Some(&viewer.user.id))
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            name: t.name,
            scope: t.scope,
            created: Stamp::new(t.created_at, tz, lang),
            revoked: t.revoked_at.map(|r| Stamp::new(r, tz, lang)),
        })
        .collect())
}

#[derive(Debug, Deserialize, Default)]
struct TokensQuery {
    revoked: Option<String>,
}

async fn tokens(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<TokensQuery>,
) -> Response {
    let mut layout = viewer.layout(None);
    if q.revoked.is_some() {
        let text = layout.tr.t("toast-token-revoked");
        layout = layout.with_toast(ToastKind::Success, text);
    }
    match token_rows(&st, &viewer).await {
        Ok(rows) => TokensPage::new(layout, rows).into_response(),
        Err(e) => internal_page(layout, &e),
    }
}

#[derive(Debug, Deserialize)]
struct NewTokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
}

/// Creates a token and answers with the page showing it, once: the secret
/// is in this response only (never in a URL, never stored in the clear).
async fn create_token(
    State(st): State<AppState>,
    viewer: Viewer,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<NewTokenForm>,
) -> Response {
    let layout = viewer.layout(None);
    let rows = match token_rows(&st, &viewer).await {
        Ok(r) => r,
        Err(e) => return internal_page(layout, &e),
    };
    let mut page = TokensPage::new(layout, rows);
    page.new_name = f.name.trim().to_string();
    let scope = TokenScope::parse(&f.scope);
    if let Some(s) = scope {
        page.new_scope = s;
    }
    if !name_ok(&page.new_name) {
        page.errors.add(
            "name",
            FieldError::Invalid {
                key: "err-token-name",
            },
        );
    }
    if scope.is_none() {
        page.errors.add(
            "scope",
            FieldError::Invalid {
                key: "err-token-scope",
            },
        );
    }
    let Some(scope) = scope.filter(|_| page.errors.is_empty()) else {
        return page.into_response();
    };
    let (id, secret) = match st
        .store
        .create_token(&page.new_name, Some(&viewer.user.id), scope)
        .await
    {
        Ok(done) => done,
        Err(e) => return internal_page(page.layout, &e),
    };
    audit(
        &st,
        AuditRecord::new(AuditAction::TokenCreated, viewer.principal.actor_label())
            .target(format!("token:{id}"))
            .ip(origin.ip)
            .detail(serde_json::json!({"scope": scope.as_str()})),
    )
    .await;
    match token_rows(&st, &viewer).await {
        Ok(rows) => page.tokens = rows,
        Err(e) => return internal_page(page.layout, &e),
    }
    page.created = Some(NewToken {
        name: std::mem::take(&mut page.new_name),
        secret,
        scope,
    });
    page.new_scope = TokenScope::Full;
    let mut res = page.into_response();
    if res.status() == StatusCode::OK {
        *res.status_mut() = StatusCode::CREATED;
    }
    res
}

async fn revoke_token(
    State(st): State<AppState>,
    viewer: Viewer,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<TokenId>,
) -> Response {
    match st.store.revoke_token(&id, Some(&viewer.user.id)).await {
        Ok(revoked) => {
            if revoked {
                audit(
                    &st,
                    AuditRecord::new(AuditAction::TokenRevoked, viewer.principal.actor_label())
                        .target(format!("token:{id}"))
                        .ip(origin.ip),
                )
                .await;
            }
            Redirect::to("/me/tokens?revoked=1").into_response()
        }
        Err(StoreError::NotFound) => not_found_page(viewer.layout(None)),
        Err(e) => internal_page(viewer.layout(None), &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn team_forms_take_repeated_members_once() {
        let f = TeamForm::parse(pairs(&[
            ("csrf", "x"),
            ("name", " Saha "),
            ("lead", ""),
            ("members", "u1"),
            ("members", "u2"),
            ("members", "u1"),
            ("members", ""),
        ]));
        assert_eq!(f.name, "Saha");
        assert_eq!(f.lead(), None);
        assert_eq!(f.members, vec!["u1", "u2"]);
    }

    #[test]
    fn names_match_across_case_and_turkish_letters() {
        assert!(same_name("Satış", " SATIŞ "));
        assert!(same_name("İstanbul", "istanbul"));
        assert!(!same_name("Satış", "Destek"));
        assert!(name_ok("Depo"));
        assert!(!name_ok("   "));
        assert!(!name_ok(&"x".repeat(81)));
    }
}
