//! A route's body limit. A body announced larger than the limit is refused
//! with 413 before a byte of it is read (and with `Expect: 100-continue`, the
//! client is never invited to send it). Without that header the client is
//! already sending: the rest is read and dropped (up to a bound) before the
//! answer, or closing on it would reset the connection under the client,
//! which then sees "broken pipe" instead of our 413. A chunked body is cut
//! off at the limit as it is read (`read_body` answers 413).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::error::ApiError;

/// Past this much announced body, or this long, we stop reading and close.
const DRAIN_MAX_BYTES: u64 = 16 * 1024 * 1024;
const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub struct BodyLimitLayer(pub usize);

impl<S> tower::Layer<S> for BodyLimitLayer {
    type Service = BodyLimit<S>;
    fn layer(&self, inner: S) -> BodyLimit<S> {
        BodyLimit {
            inner,
            limit: self.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BodyLimit<S> {
    inner: S,
    limit: usize,
}

impl<S> tower::Service<Request> for BodyLimit<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let limit = self.limit;
        let announced = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let expects_continue = req
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        // The clone that was made ready answers this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            if let Some(len) = announced
                && len > limit as u64
            {
                if !expects_continue && len <= DRAIN_MAX_BYTES {
                    let drain = async {
                        let mut body = req.into_body();
                        while let Some(frame) = body.frame().await {
                            if frame.is_err() {
                                break;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(DRAIN_MAX_TIME, drain).await;
                }
                return Ok(too_large(limit));
            }
            let req = req.map(|b| Body::new(http_body_util::Limited::new(b, limit)));
            inner.call(req).await
        })
    }
}

fn too_large(limit: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body is over this route's limit of {limit} bytes"),
    )
    .into_response()
}
