//! Every job the workers run, registered in one place. A new job is a file
//! here (a type implementing `Job`) and one `.register::<…>()` line below.

pub mod ingest;

use crate::Workers;

/// The jobs `crm worker` and `crm serve` run.
pub fn register(workers: Workers) -> Workers {
    workers.register::<ingest::Ingest>()
}
