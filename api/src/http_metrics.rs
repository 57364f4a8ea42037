//! Per-route request latency, recorded as `crm_http_request_duration_seconds`.
//!
//! Not wired into [`crate::router`] here: add it as an outer layer,
//! `.layer(axum::middleware::from_fn_with_state(metrics, http_metrics::track))`,
//! after the routes and the fallback so both run inside it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use crm_runtime::metrics::Metrics;

/// The one route label of requests no route matched: scanners probing random
/// paths then cannot grow the number of series.
pub const UNMATCHED: &str = "unmatched";

/// Times the request until its response head is ready; a streamed body (the
/// event stream) is not waited for.
pub async fn track(
    State(metrics): State<Arc<Metrics>>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    // `Method` clones without allocating for the standard methods.
    let method = req.method().clone();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.observe_http(
        method.as_str(),
        matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use crm_runtime::metrics::Scrape;
    use tower::ServiceExt;

    use super::*;

    fn get_req(uri: &str) -> Request {
        Request::builder().uri(uri).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn labels_by_route_template_not_raw_path() {
        let metrics = Arc::new(Metrics::default());
        let app = Router::new()
            .route("/api/v1/customers/{id}", get(|| async { "ok" }))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(axum::middleware::from_fn_with_state(metrics.clone(), track));
        for uri in [
            "/api/v1/customers/c-41",
            "/api/v1/customers/c-42",
            "/nowhere",
        ] {
            app.clone().oneshot(get_req(uri)).await.unwrap();
        }
        let text = metrics.render(&Scrape::default()).unwrap();
        assert!(
            text.contains(
                "crm_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/customers/{id}\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "crm_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"404\"} 1"
            ),
            "{text}"
        );
        assert!(
            !text.contains("c-42") && !text.contains("/nowhere"),
            "{text}"
        );
    }
}
