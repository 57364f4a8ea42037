//! Wiring the ingest handler into apalis workers for either queue backend.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{
    BackendExt, BoxDynError, Data, Monitor, PollSnapshot, PollStrategy, WorkerBuilder,
    WorkerBuilderExt,
};
use crm_core::queue::{IngestJob, JobQueue};

use crate::{WorkerCtx, process_events};

/// The apalis handler: always succeeds unless the database itself is
/// unreachable. Business failures are recorded on each event (with backoff)
/// by `process_event`, so apalis never runs its own hot retry loop.
async fn handle_ingest(job: IngestJob, ctx: Data<Arc<WorkerCtx>>) -> Result<(), BoxDynError> {
    match process_events(&ctx, &job.event_ids).await {
        Ok(_) => Ok(()),
        Err(e) => {
            // Unrecorded events stay pending; the sweeper pushes them again.
            tracing::error!(events = job.event_ids.len(), error = %e, "ingest job could not record its outcome");
            Err(Box::new(e))
        }
    }
}

/// Wakes the worker every `every` to look for jobs. apalis' own
/// `IntervalStrategy` replaces its timer when it fires without polling the
/// new one, so when that fetch comes back empty no wake-up is armed and the
/// worker sleeps until its next heartbeat (seconds of latency, measured);
/// this one re-arms before it reports the tick.
struct PollEvery {
    every: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl PollEvery {
    fn new(every: Duration) -> Self {
        Self {
            every,
            sleep: Box::pin(tokio::time::sleep(every)),
        }
    }
}

impl Clone for PollEvery {
    fn clone(&self) -> Self {
        Self::new(self.every)
    }
}

impl PollStrategy for PollEvery {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        // Re-arm and poll again until the timer is pending, so the waker
        // is registered for the next tick.
        while self.sleep.as_mut().poll(cx).is_ready() {
            let next = tokio::time::Instant::now() + self.every;
            self.sleep.as_mut().reset(next);
            fired = true;
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

/// Jobs moved from apalis-redis' scheduled set per step; well under Lua's
/// `unpack` limit.
const PROMOTE_CHUNK: usize = 1000;

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
    let poll = Duration::from_millis(5);
    // Keep apalis-redis' scheduled set small (see `JobQueue::promote_due`):
    // drain a backlog before the workers fetch, then keep up with arrivals.
    while queue.promote_due(PROMOTE_CHUNK).await.unwrap_or(0) == PROMOTE_CHUNK {}
    let q = queue.clone();
    tokio::spawn(async move {
        let mut vacuumed = tokio::time::Instant::now();
        loop {
            match q.promote_due(PROMOTE_CHUNK).await {
                Ok(n) if n == PROMOTE_CHUNK => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "promoting due jobs failed"),
            }
            if vacuumed.elapsed() >= q.vacuum_every() {
                vacuumed = tokio::time::Instant::now();
                if let Err(e) = q.vacuum_done().await {
                    tracing::warn!(error = %e, "vacuuming finished jobs failed");
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let signal = async move {
        shutdown.await;
        Ok(())
    };
    let monitor = Monitor::new()
        .shutdown_timeout(Duration::from_secs(30))
        // A worker whose backend failed (a lost connection) comes back; its
        // unfinished events are still pending and get swept anyway.
        .should_restart(|_, _| true);
    // One apalis worker per process: extra workers ("lanes") were measured and
    // only multiplied apalis' fetch/ack writes on the contended SQLite lock,
    // and on Redis one worker group-commits bigger batches.
    let monitor = match queue {
        JobQueue::Sqlite(storage) => {
            let backend = storage.poll_with_strategy(PollEvery::new(poll));
            monitor.register(move |n| {
                WorkerBuilder::new(worker_name(n))
                    .backend(backend.clone())
                    .concurrency(concurrency)
                    .data(ctx.clone())
                    .build(handle_ingest)
            })
        }
        JobQueue::Redis(storage) => {
            let backend = storage.poll_with_strategy(PollEvery::new(poll));
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
