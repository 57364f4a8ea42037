//! Bearer-token authentication and permission checks for the JSON API.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use crm_domain::auth::{Permission, Principal, allows};

use crate::AppState;
use crate::error::ApiError;

/// The caller behind a valid `Authorization: Bearer` token (or, for the
/// WebSocket stream that browsers cannot add headers to, `?access_token=`).
pub struct Caller(pub Principal);

impl Caller {
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if allows(self.0.role, p) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

fn bearer(parts: &Parts) -> Option<String> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let v = h.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(token.trim().to_string());
        }
        return None;
    }
    let q = parts.uri.query()?;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "access_token")
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        match state.store.authenticate_token(&token).await? {
            Some(p) => Ok(Caller(p)),
            None => Err(ApiError::unauthorized()),
        }
    }
}
