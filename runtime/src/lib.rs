//! What the roles run on besides the database: the job queue over apalis
//! (SQLite file or Redis), the domain event bus (in-process or RabbitMQ),
//! metrics, and typed configuration.

pub mod batcher;
pub mod bus;
pub mod config;
pub mod metrics;
pub mod queue;

pub use config::Config;
