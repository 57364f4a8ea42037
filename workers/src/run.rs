//! Wiring the ingest handler into apalis workers for either queue backend.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BackendExt, BoxDynError, Data, Monitor, WorkerBuilder, WorkerBuilderExt};
use crm_core::queue::{IngestJob, JobQueue};

use crate::{WorkerCtx, process_event};

/// The apalis handler: always succeeds unless the database itself is
/// unreachable. Business failures are recorded on the event (with backoff)
/// by `process_event`, so apalis never runs its own hot retry loop.
async fn handle_ingest(job: IngestJob, ctx: Data<Arc<WorkerCtx>>) -> Result<(), BoxDynError> {
    match process_event(&ctx, &job.event_id).await {
        Ok(_) => Ok(()),
        Err(e) => {
            // The event stays pending; the sweeper pushes it again later.
            tracing::error!(event_id = %job.event_id, error = %e, "ingest job could not record its outcome");
            Err(Box::new(e))
        }
    }
}

fn worker_name(n: usize) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    // Unique per process and start: apalis refuses a name seen alive recently.
    format!(
        "ingest-{host}-{}-{}-{n}",
        std::process::id(),
        crm_core::util::new_id()
    )
}

/// Runs ingest workers until `shutdown` resolves, then lets in-flight jobs
/// finish (up to 30 s); unfinished ones stay pending and are picked up again.
pub async fn run_ingest_workers<F>(
    ctx: Arc<WorkerCtx>,
    queue: JobQueue,
    concurrency: usize,
    shutdown: F,
) -> Result<(), BoxDynError>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let poll = Duration::from_millis(20);
    let signal = async move {
        shutdown.await;
        Ok(())
    };
    let monitor = Monitor::new().shutdown_timeout(Duration::from_secs(30));
    let monitor = match queue {
        JobQueue::Sqlite(storage) => {
            let backend = storage.poll_with_interval(poll);
            monitor.register(move |n| {
                WorkerBuilder::new(worker_name(n))
                    .backend(backend.clone())
                    .concurrency(concurrency)
                    .data(ctx.clone())
                    .build(handle_ingest)
            })
        }
        JobQueue::Redis(storage) => {
            let backend = storage.poll_with_interval(poll);
            monitor.register(move |n| {
                WorkerBuilder::new(worker_name(n))
                    .backend(backend.clone())
                    .concurrency(concurrency)
                    .data(ctx.clone())
                    .build(handle_ingest)
            })
        }
    };
    monitor.run_with_signal(signal).await?;
    Ok(())
}
