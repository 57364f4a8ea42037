//! The CRM's words and rules as plain data and pure functions: model types,
//! phone / e-mail normalisation and identity matching, the batch planner,
//! delivery-status and retry rules, search tokens, intake validation,
//! roles and data scope, passwords and sessions, the audit log's words, and
//! log redaction. No database, queue, bus or network here:
//! the store executes what these functions decide.

pub mod access;
pub mod audit;
pub mod auth;
pub mod card;
pub mod email;
pub mod ids;
pub mod inbound;
pub mod intake;
pub mod matching;
pub mod model;
pub mod password;
pub mod people;
pub mod phone;
pub mod plan;
pub mod redact;
pub mod rules;
pub mod search;
pub mod session;
pub mod util;

/// The default pipeline's id, as a literal for SQL text built with
/// `concat!`; everywhere else use [`plan::DEFAULT_PIPELINE_ID`].
#[macro_export]
macro_rules! default_pipeline_id {
    () => {
        "pl_default"
    };
}
