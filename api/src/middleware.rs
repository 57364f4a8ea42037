//! What every request goes through: a request id (the caller's
//! `X-Request-Id` when it sends one, else a new ULID) on the request, its log
//! lines and the response; a tracing span; a deadline; panics turned into
//! 500s; `nosniff`; gzip when asked; and JSON for every error answer.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::json_errors;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id we accept from a caller; a longer one is replaced.
const MAX_REQUEST_ID: usize = 128;

#[derive(Clone, Copy, Default)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&ulid::Ulid::generate().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// A caller's id is kept only when it is short printable ASCII: it goes
/// into every log line of the request. Checked where the server hands the
/// request to the app, not in a middleware of its own (each one clones the
/// service stack per request).
pub fn drop_unusable_request_id<B>(req: &mut Request<B>) {
    let usable = req.headers().get(&REQUEST_ID).is_none_or(|v| {
        v.len() <= MAX_REQUEST_ID && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
    });
    if !usable {
        req.headers_mut().remove(&REQUEST_ID);
    }
}

/// Wraps the whole app. The layers run outermost first: the id is set
/// before the span opens, so every line of the request carries it.
pub fn wrap(app: Router, request_timeout: Duration) -> Router {
    app.layer(
        tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, NewRequestId))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(
                TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    // The path without its query: tokens and search terms
                    // stay out of the log.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }),
            )
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(axum::middleware::from_fn(json_errors))
            .layer(CatchPanicLayer::new())
            .layer(CompressionLayer::new().gzip(true))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                request_timeout,
            )),
    )
}
