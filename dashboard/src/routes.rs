//! The dashboard's pages, one router per module, merged here.

use crm_api::AppState;

pub fn router(_state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
}
