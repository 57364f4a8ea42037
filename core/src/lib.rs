//! The CRM's core: model types, business rules as pure functions, the SQL store
//! (one query text for SQLite and PostgreSQL), the job-queue handle, the domain
//! event bus and configuration. Depends on none of the workspace's other crates.

pub mod auth;
pub mod bus;
pub mod config;
pub mod identity;
pub mod intake;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod queue;
pub mod redact;
pub mod rules;
pub mod search;
pub mod store;
pub mod util;

pub use config::Config;
pub use store::{Store, StoreError};
