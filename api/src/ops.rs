//! Health, readiness and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm_runtime::metrics::{self as prom, Scrape};
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database, the queue and the bus all answer.
pub async fn readyz(State(st): State<AppState>) -> Response {
    let db = st.store.ping().await.err().map(|e| e.to_string());
    let queue = st.queue.ping().await.err().map(|e| e.to_string());
    let bus = st.bus.ping().await.err().map(|e| e.to_string());
    let ok = db.is_none() && queue.is_none() && bus.is_none();
    let show = |e: &Option<String>| e.clone().unwrap_or_else(|| "ok".into());
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

/// Prometheus scrapes with a bearer token like any other client: only the
/// webhooks, health probes and the login page answer without one.
pub async fn metrics(State(st): State<AppState>, _caller: Caller) -> Response {
    let scrape = Scrape {
        queue_depth: st.queue.depth().await.ok(),
        inbound_events: st.store.inbound_event_counts().await.unwrap_or_default(),
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
