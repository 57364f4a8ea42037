//! Bearer-token authentication and permission checks, as route layers: a
//! module's router states what its routes need, so a handler cannot forget
//! the check. The layer puts the caller in the request for handlers that
//! need to know who it is.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use crm_domain::auth::{Permission, Principal};

use crate::AppState;
use crate::error::ApiError;

/// Where a token may come from. Only the WebSocket stream, which browsers
/// cannot add headers to, reads `?access_token=`: elsewhere a token in a URL
/// lands in access logs and browser history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFrom {
    Header,
    HeaderOrQuery,
}

/// The authenticated caller of this request (set by [`require`]).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// A second permission for a route that needs more than its module's.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.0.may(p) {
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

fn bearer(parts: &Parts, from: TokenFrom) -> Option<String> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) {
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

type Authorizing = std::pin::Pin<Box<dyn Future<Output = Response> + Send>>;

/// A route layer admitting callers with `permission` (401 without a valid
/// token, 403 when its role or scope does not allow it).
// The type is what `from_fn_with_state` builds around an opaque closure; an
// alias cannot name that closure.
#[allow(clippy::type_complexity)]
pub fn require(
    state: &AppState,
    permission: Permission,
    from: TokenFrom,
) -> axum::middleware::FromFnLayer<
    impl Fn(State<AppState>, Request, Next) -> Authorizing + Clone + use<>,
    AppState,
    (State<AppState>, Request),
> {
    from_fn_with_state(
        state.clone(),
        move |st: State<AppState>, req: Request, next: Next| {
            Box::pin(authorize(st, req, next, permission, from)) as Authorizing
        },
    )
}

async fn authorize(
    State(st): State<AppState>,
    req: Request,
    next: Next,
    permission: Permission,
    from: TokenFrom,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let Some(token) = bearer(&parts, from) else {
        return ApiError::unauthorized().into_response();
    };
    let principal = match st.store.authenticate_token(&token).await {
        Ok(Some(p)) => p,
        Ok(None) => return ApiError::unauthorized().into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !principal.may(permission) {
        return ApiError::forbidden().into_response();
    }
    parts.extensions.insert(Caller(principal));
    next.run(Request::from_parts(parts, body)).await
}
