//! The signed-in person behind a page request, and the guard that makes a
//! session's form posts carry its CSRF token.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use crm_api::AppState;
use crm_api::auth::{SignedIn, csrf_ok, session_of};
use crm_domain::access::{Action, Module as Grant};
use crm_domain::auth::Principal;
use crm_store::UserView;

use crate::pages::{ErrorKind, ErrorPage, Layout, Module, NavItem, ShellUser};
use crate::{Lang, Theme};

/// A signed-in user with what every page needs to draw the shell.
pub struct Viewer {
    pub user: UserView,
    pub signed: SignedIn,
    pub principal: Principal,
    pub lang: Lang,
    pub theme: Theme,
}

impl Viewer {
    /// The dashboard modules this user may open, in menu order.
    pub fn modules(&self) -> Vec<Module> {
        let g = &self.principal.actor.grants;
        let mut out = vec![Module::Home];
        if g.allows(Grant::Customers, Action::View) {
            out.push(Module::Customers);
        }
        if g.allows(Grant::Users, Action::View) {
            out.push(Module::Users);
            out.push(Module::Teams);
        }
        if g.allows(Grant::Users, Action::Manage) {
            out.push(Module::Roles);
        }
        if g.allows(Grant::Settings, Action::Manage) {
            out.push(Module::Audit);
        }
        out
    }

    pub fn nav(&self, active: Option<Module>) -> Vec<NavItem> {
        Module::nav(&self.modules(), active)
    }

    pub fn layout(&self, active: Option<Module>) -> Layout {
        Layout::new(self.lang, self.theme, self.signed.info.csrf.clone()).signed_in(
            ShellUser::new(self.user.display_name(), self.user.email.clone()),
            self.nav(active),
        )
    }

    pub fn may(&self, m: Grant, a: Action) -> bool {
        self.principal.may_do(m, a)
    }
}

fn to_login(parts: &Parts) -> Response {
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let next: String = url_encode(next);
    Redirect::to(&format!("/login?next={next}")).into_response()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let signed = match parts.extensions.get::<SignedIn>() {
            Some(s) => s.clone(),
            None => match session_of(st, &parts.headers).await {
                Ok(Some(s)) => s,
                Ok(None) => return Err(to_login(parts)),
                Err(e) => return Err(e.into_response()),
            },
        };
        let user = match st.store.user(&signed.info.user_id).await {
            Ok(u) => u,
            Err(e) => return Err(crm_api::error::ApiError::from(e).into_response()),
        };
        let lang = user
            .language
            .as_deref()
            .and_then(Lang::parse)
            .unwrap_or_else(|| {
                Lang::negotiate(
                    parts
                        .headers
                        .get(header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok()),
                )
            });
        let theme = Theme::parse(&user.theme).unwrap_or(Theme::System);
        let path = parts.uri.path();
        if signed.info.must_change_password
            && path != "/me/password"
            && path != "/logout"
            && !path.starts_with("/static/")
        {
            return Err(Redirect::to("/me/password").into_response());
        }
        Ok(Viewer {
            principal: Principal::session(signed.info.actor.clone()),
            user,
            signed,
            lang,
            theme,
        })
    }
}

/// A form post made with a session must carry the session's CSRF token, in
/// the `csrf` field or the `X-CSRF-Token` header, from this site. The body
/// is small (the router bounds it) and is handed on unchanged.
pub async fn csrf_guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let signed = match session_of(&st, &parts.headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return to_login(&parts),
        Err(e) => return e.into_response(),
    };
    let bytes = match crm_api::read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let field = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v));
    if !csrf_ok(&st, &parts.headers, &signed.info, field.as_deref()) {
        let layout = Layout::new(
            Lang::negotiate(None),
            Theme::System,
            signed.info.csrf.clone(),
        );
        let mut res = ErrorPage {
            layout,
            kind: ErrorKind::Forbidden,
        }
        .into_response();
        *res.status_mut() = StatusCode::FORBIDDEN;
        return res;
    }
    parts.extensions.insert(signed);
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}
