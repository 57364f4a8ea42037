//! `/api/v1/pipelines`: pipelines and their stages with card counts.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use crm_domain::auth::Permission;
use crm_domain::model::PipelineView;
use crm_store::Store;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{TokenFrom, require};
use crate::error::ApiResult;

pub fn router(state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/pipelines", get(pipelines))
        .route_layer(require(
            state,
            Permission::ReadCustomers.into(),
            TokenFrom::Header,
        ))
}

pub async fn pipelines(State(store): State<Store>) -> ApiResult<Json<Value>> {
    let items: Vec<PipelineView> = store.pipelines().await?;
    Ok(Json(json!({"items": items})))
}
