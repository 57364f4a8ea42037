//! Meta platform connectors: webhook signature checks, webhook payload
//! parsing and the Graph API client.
//!
//! Pure protocol code with no database access: the API crate verifies and
//! stores raw webhook bodies, workers parse them with [`meta::parse_webhook`]
//! and call out through [`graph::GraphClient`]. Wire formats follow
//! `reference/meta.md`.

pub mod graph;
mod json;
pub mod meta;
pub mod signature;
