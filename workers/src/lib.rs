//! Background jobs. Each job is a type implementing [`Job`], in a file of its
//! own under `jobs/`, registered in `jobs::register`; [`Workers`] runs them
//! on apalis over the process's queue (SQLite or Redis). Jobs carry ids of
//! committed rows: the database is the source of truth, a job only a wake-up.

mod applier;
mod job;
pub mod jobs;
mod map;
mod queue;
mod run;

use std::sync::Arc;

use crm_connectors::graph::GraphClient;
use crm_runtime::Config;
use crm_runtime::bus::EventBus;
use crm_runtime::metrics::Metrics;
use crm_store::Store;

pub use applier::EventApplier;
pub use job::{Job, JobError};
pub use jobs::ingest::{Ingest, Outcome, ProcessError, process_event, process_events};
pub use map::{lead_from_graph, message_from_social, message_from_whatsapp, status_from_whatsapp};
pub use queue::{QueueOpError, push};
pub use run::{RunError, Workers, run_workers};

/// What a handler needs; shared by all jobs of a process.
pub struct WorkerCtx {
    pub store: Store,
    /// Group-commits the effects of concurrent jobs.
    pub applier: EventApplier,
    pub bus: EventBus,
    pub graph: Option<GraphClient>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
}
