//! Health, readiness and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use crm_domain::auth::Permission;
use crm_domain::util::error_chain;
use crm_runtime::metrics::{self as prom, Scrape};
use serde_json::json;

use crate::AppState;
use crate::auth::{TokenFrom, require};
use crate::error::ApiError;

pub fn router(state: &AppState) -> axum::Router<AppState> {
    let scrape = axum::Router::new()
        .route("/metrics", get(metrics))
        .route_layer(require(
            state,
            Permission::ScrapeMetrics.into(),
            TokenFrom::Header,
        ));
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(scrape)
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database, the queue and the bus all answer. Anyone may
/// ask (load balancers do), so the answer names what is down and nothing
/// more: driver errors carry hosts, paths and user names, and go to the log.
pub async fn readyz(State(st): State<AppState>) -> Response {
    let db = st.store.ping().await.err().map(|e| error_chain(&e));
    let queue = st.queue.ping().await.err().map(|e| error_chain(&e));
    let bus = st.bus.ping().await.err().map(|e| error_chain(&e));
    for (name, err) in [("database", &db), ("queue", &queue), ("bus", &bus)] {
        if let Some(e) = err {
            tracing::warn!(dependency = name, error = %e, "not ready");
        }
    }
    let ok = db.is_none() && queue.is_none() && bus.is_none();
    let show = |e: &Option<String>| if e.is_some() { "down" } else { "ok" };
    let body = json!({
        "status": if ok { "ready" } else { "unavailable" },
        "checks": {"database": show(&db), "queue": show(&queue), "bus": show(&bus)},
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// Prometheus scrapes with a token of its own (`--scope metrics`) or an
/// admin's: the series name sources, volumes and failure rates.
pub async fn metrics(State(st): State<AppState>) -> Response {
    let scrape = Scrape {
        queue_depth: st.queue.depth().await.ok(),
        inbound_events: st
            .store
            .inbound_event_counts()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|(source, status, n)| (source.as_str().into(), status.as_str().into(), n))
            .collect(),
        bus: st
            .bus
            .is_broker()
            .then(|| (st.bus.buffered() as u64, st.bus.dropped_events())),
    };
    match st.metrics.render(&scrape) {
        Ok(text) => ([(header::CONTENT_TYPE, prom::CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics not rendered");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics_unavailable",
                "metrics could not be rendered",
            )
            .into_response()
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not answer that method",
    )
}
