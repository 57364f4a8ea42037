//! Who is calling (a bearer token or a signed-in browser session) and what
//! they need, as route layers: a module's router states what its routes
//! need, so a handler cannot forget the check. The layer puts the caller in
//! the request for handlers that need to know who it is.
//!
//! A session is an ambient credential (the browser sends the cookie by
//! itself), so a state-changing request made with one must carry the
//! session's CSRF token in `X-CSRF-Token` (or a form's `csrf` field, which
//! the dashboard checks) and, when the browser sends one, a matching
//! `Origin`. A bearer token is never ambient and needs neither.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use crm_domain::access::{Action, Module};
use crm_domain::auth::{Permission, Principal};
use crm_store::SessionInfo;

use crate::AppState;
use crate::error::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "crm_session";
/// The header a page's `fetch` carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Where a token may come from. Only the WebSocket stream, which browsers
/// cannot add headers to, reads `?access_token=`: elsewhere a token in a URL
/// lands in access logs and browser history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFrom {
    Header,
    HeaderOrQuery,
}

/// What a route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Permission(Permission),
    Grant(Module, Action),
    /// Any signed-in user or full-scope token (`/api/v1/me`, one's tokens).
    Anyone,
}

impl From<Permission> for Need {
    fn from(p: Permission) -> Self {
        Need::Permission(p)
    }
}

impl Need {
    fn met_by(self, p: &Principal) -> bool {
        match self {
            Need::Permission(perm) => p.may(perm),
            Need::Grant(m, a) => p.may_do(m, a),
            Need::Anyone => p.scope == crm_domain::auth::TokenScope::Full,
        }
    }
}

/// The authenticated caller of this request (set by [`require`]).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// The credential a request came with (set by [`require`]), for a
/// long-lived connection to check again: the stream keeps going only while
/// it still admits its caller.
#[derive(Clone)]
pub enum Credential {
    Token(String),
    Session(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Token(_) => "Credential::Token(..)",
            Credential::Session(_) => "Credential::Session(..)",
        })
    }
}

impl Credential {
    /// Who the credential stands for now: `None` once the token is revoked,
    /// the session ended, or the user disabled; a changed role's grants.
    pub async fn principal(&self, st: &AppState) -> Result<Option<Principal>, ApiError> {
        match self {
            Credential::Token(t) => Ok(st.store.authenticate_token(t).await?),
            Credential::Session(cookie) => Ok(st
                .store
                .session(cookie, &st.config.session_policy())
                .await?
                .map(|s| Principal::session(s.actor))),
        }
    }
}

/// The browser session behind a request, when it came with one.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub cookie: String,
    pub info: SessionInfo,
}

impl Caller {
    /// A second permission for a route that needs more than its module's.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.0.may(p) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    pub fn require_grant(&self, m: Module, a: Action) -> Result<(), ApiError> {
        if self.0.may_do(m, a) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Only routes behind `require` have one; a handler asking for it
        // elsewhere is a wiring bug, and refusing is the safe answer.
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<SignedIn>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

fn bearer(parts: &Parts, from: TokenFrom) -> Option<String> {
    if let Some(h) = parts.headers.get(header::AUTHORIZATION) {
        let v = h.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    if from == TokenFrom::Header {
        return None;
    }
    parts
        .uri
        .query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "access_token")
        .map(|(_, v)| v.to_string())
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The signed-in session behind the request's cookie, if any.
pub async fn session_of(st: &AppState, headers: &HeaderMap) -> Result<Option<SignedIn>, ApiError> {
    let Some(cookie) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let info = st
        .store
        .session(cookie, &st.config.session_policy())
        .await?;
    Ok(info.map(|info| SignedIn {
        cookie: cookie.to_string(),
        info,
    }))
}

/// Whether a browser's `Origin` (when it sent one) is this server's: the
/// configured public URL, or the `Host` the request was made to.
pub fn origin_ok(st: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if let Some(public) = &st.config.public_url {
        return origin == public.as_str();
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    host.is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"))
}

/// Whether a state-changing request made with a session carries its CSRF
/// token (compared in constant time) from an allowed origin.
pub fn csrf_ok(
    st: &AppState,
    headers: &HeaderMap,
    session: &SessionInfo,
    sent: Option<&str>,
) -> bool {
    use subtle::ConstantTimeEq;
    let sent = sent.or_else(|| headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()));
    let Some(sent) = sent else { return false };
    bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) && origin_ok(st, headers)
}

pub fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "this request lacks the page's CSRF token (X-CSRF-Token) or comes from another site; reload the page and try again",
    )
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn changes_state(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

type Authorizing = std::pin::Pin<Box<dyn Future<Output = Response> + Send>>;

/// A route layer admitting callers who meet `need` (401 without a valid
/// token or session, 403 when their role or scope does not allow it, or a
/// session's state-changing request lacks its CSRF token).
// The type is what `from_fn_with_state` builds around an opaque closure; an
// alias cannot name that closure.
#[allow(clippy::type_complexity)]
pub fn require(
    state: &AppState,
    need: Need,
    from: TokenFrom,
) -> axum::middleware::FromFnLayer<
    impl Fn(State<AppState>, Request, Next) -> Authorizing + Clone + use<>,
    AppState,
    (State<AppState>, Request),
> {
    from_fn_with_state(
        state.clone(),
        move |st: State<AppState>, req: Request, next: Next| {
            Box::pin(authorize(st, req, next, need, from)) as Authorizing
        },
    )
}

async fn authorize(
    State(st): State<AppState>,
    req: Request,
    next: Next,
    need: Need,
    from: TokenFrom,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let principal = if let Some(token) = bearer(&parts, from) {
        match st.store.authenticate_token(&token).await {
            Ok(Some(p)) => {
                parts.extensions.insert(Credential::Token(token));
                p
            }
            Ok(None) => return ApiError::unauthorized().into_response(),
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        match session_of(&st, &parts.headers).await {
            Ok(Some(s)) => {
                if changes_state(&parts.method) && !csrf_ok(&st, &parts.headers, &s.info, None) {
                    return csrf_refused().into_response();
                }
                // A WebSocket handshake is a GET that no CORS rule guards:
                // another site's page could open the stream with the
                // browser's cookie and read it. Browsers always send its
                // `Origin`.
                if is_websocket(&parts.headers) && !origin_ok(&st, &parts.headers) {
                    return csrf_refused().into_response();
                }
                let p = Principal::session(s.info.actor.clone());
                parts
                    .extensions
                    .insert(Credential::Session(s.cookie.clone()));
                parts.extensions.insert(s);
                p
            }
            Ok(None) => return ApiError::unauthorized().into_response(),
            Err(e) => return e.into_response(),
        }
    };
    if !need.met_by(&principal) {
        return ApiError::forbidden().into_response();
    }
    parts.extensions.insert(Caller(principal));
    next.run(Request::from_parts(parts, body)).await
}
