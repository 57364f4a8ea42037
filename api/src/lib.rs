//! The HTTP surface of `crm`: Meta webhooks, lead intake, the JSON API under
//! `/api/v1`, the live event stream, health and metrics. One router per
//! module, merged in [`router`]; each states its body limit and the
//! permission its routes need. Handlers are thin: they validate and hand
//! work to the store and the queue.

pub mod auth;
pub mod body_limit;
mod customers;
pub mod error;
pub mod holders;
pub mod http_metrics;
mod inbound_events;
mod intake;
pub mod middleware;
mod ops;
mod people;
mod pipelines;
pub mod server;
pub mod signin;
mod stream;
mod webhooks;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use crm_runtime::Config;
use crm_runtime::bus::EventBus;
use crm_runtime::metrics::Metrics;
use crm_runtime::queue::JobQueue;
use crm_store::Store;

pub use server::{ServerLimits, serve};
pub use writer::IntakeWriter;

/// Meta sends at most 3 MB per webhook; anything larger is refused with 413.
pub const WEBHOOK_BODY_LIMIT: usize = 3 * 1024 * 1024;
/// Form posts are small; a generous cap still stops abuse.
pub const INTAKE_BODY_LIMIT: usize = 256 * 1024;
/// The JSON API's requests are a few fields (a card move, a filter).
pub const API_BODY_LIMIT: usize = 64 * 1024;

/// What every handler reads. axum clones the state for each request, so it
/// is one `Arc` (bench/README.md: cloning the parts cost a dozen atomic
/// operations and an allocation per request); handlers off the hot path
/// take only the part they use (`State<Store>`, …) through `FromRef`.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

pub struct Services {
    pub store: Store,
    pub queue: JobQueue,
    pub bus: EventBus,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub writer: IntakeWriter,
    /// Who holds each customer, for the live stream's per-event check.
    pub holders: holders::HoldersCache,
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

impl FromRef<AppState> for Store {
    fn from_ref(st: &AppState) -> Self {
        st.store.clone()
    }
}

impl FromRef<AppState> for JobQueue {
    fn from_ref(st: &AppState) -> Self {
        st.queue.clone()
    }
}

impl FromRef<AppState> for EventBus {
    fn from_ref(st: &AppState) -> Self {
        st.bus.clone()
    }
}

impl FromRef<AppState> for Arc<Config> {
    fn from_ref(st: &AppState) -> Self {
        st.config.clone()
    }
}

/// The whole HTTP surface, with the middleware every request goes through.
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    router_with(state, request_timeout, Router::new())
}

/// [`router`] with more routes (the dashboard's pages) behind the same
/// middleware and fallbacks.
pub fn router_with(state: AppState, request_timeout: Duration, pages: Router<AppState>) -> Router {
    let app = Router::new()
        .merge(pages)
        .merge(webhooks::router())
        .merge(intake::router(&state))
        .merge(customers::router(&state))
        .merge(people::router(&state))
        .merge(pipelines::router(&state))
        .merge(inbound_events::router(&state))
        .merge(stream::router(&state))
        .merge(ops::router(&state))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        // Per route template (`/api/v1/customers/{id}`), never the raw path.
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            http_metrics::track,
        ))
        // Each module's `BodyLimitLayer` is the limit; axum's own
        // 2 MB default would cap the webhooks below Meta's 3 MB.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state);
    middleware::wrap(app, request_timeout)
}

/// Reads a request body whose size the module's limit layer bounds: 413
/// when it runs over (a chunked body announces no length up front), 400
/// when it is malformed (broken chunked framing, a reset mid-body).
pub async fn read_body(body: axum::body::Body) -> Result<axum::body::Bytes, error::ApiError> {
    use http_body_util::BodyExt;
    match body.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            Err(if over {
                error::ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "request body is over this route's limit",
                )
            } else {
                error::ApiError::bad_request("request body could not be read")
            })
        }
    }
}
