//! The HTTP surface of `crm`: Meta webhooks, lead intake, the JSON API under
//! `/api/v1`, the live event stream, health and metrics. Handlers are thin:
//! they authenticate, validate, and hand work to the store and the queue.

pub mod auth;
pub mod error;
pub mod http_metrics;
mod intake;
mod ops;
mod stream;
mod v1;
mod webhooks;
pub mod writer;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use crm_runtime::Config;
use crm_runtime::bus::EventBus;
use crm_runtime::metrics::Metrics;
use crm_runtime::queue::JobQueue;
use crm_store::Store;

pub use writer::IntakeWriter;

/// Meta sends at most 3 MB per webhook; anything larger is refused with 413.
pub const WEBHOOK_BODY_LIMIT: usize = 3 * 1024 * 1024;
/// Form posts are small; a generous cap still stops abuse.
pub const INTAKE_BODY_LIMIT: usize = 256 * 1024;

/// What every handler reads. axum clones the state for each request, so it
/// is one `Arc`: a clone of the parts (the queue's storage config, the bus
/// sender, the pools) cost a dozen atomic operations and an allocation per
/// request.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

pub struct Services {
    pub store: Store,
    pub queue: JobQueue,
    pub bus: EventBus,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub writer: IntakeWriter,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/webhooks/meta",
            get(webhooks::verify).post(webhooks::receive),
        )
        .route("/intake/leads", post(intake::receive))
        .route("/api/v1/customers", get(v1::list_customers))
        .route("/api/v1/customers/{id}", get(v1::get_customer))
        .route("/api/v1/customers/{id}/timeline", get(v1::timeline))
        .route(
            "/api/v1/customers/{id}/conversations",
            get(v1::conversations),
        )
        .route("/api/v1/customers/{id}/move", post(v1::move_card))
        .route("/api/v1/conversations/{id}/messages", get(v1::messages))
        .route("/api/v1/pipelines", get(v1::pipelines))
        .route("/api/v1/inbound-events", get(v1::list_events))
        .route("/api/v1/inbound-events/{id}", get(v1::get_event))
        .route("/api/v1/inbound-events/{id}/retry", post(v1::retry_event))
        .route("/api/v1/events", get(stream::events))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(ops::not_found)
        // Bodies are read by hand with explicit limits so an oversized body
        // gets our JSON 413, not the framework's plain-text one.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// Reads a request body up to `limit` bytes: 413 JSON above it.
pub(crate) async fn read_body(
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, error::ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        error::ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    })
}
