//! Wiring the ingest handler into apalis workers for either queue backend.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{
    BackendExt, BoxDynError, Data, Monitor, PollSnapshot, PollStrategy, WorkerBuilder,
    WorkerBuilderExt,
};
use crm_runtime::queue::{IngestJob, JobQueue, QueueBackend};
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

use crate::{WorkerCtx, process_events};

/// The apalis handler: always succeeds unless the database itself is
/// unreachable. Business failures are recorded on each event (with backoff)
/// by `process_event`, so apalis never runs its own hot retry loop.
async fn handle_ingest(
    job: IngestJob,
    ctx: Data<Arc<WorkerCtx>>,
    handled: Data<Arc<AtomicU64>>,
) -> Result<(), BoxDynError> {
    handled.fetch_add(1, Ordering::Relaxed);
    match process_events(&ctx, &job.event_ids).await {
        Ok(_) => Ok(()),
        Err(e) => {
            // Unrecorded events stay pending; the sweeper pushes them again.
            tracing::error!(events = job.event_ids.len(), error = %e, "ingest job could not record its outcome");
            Err(Box::new(e))
        }
    }
}

/// When the worker looks for jobs: at once when this process pushed one
/// (`crm serve`), otherwise on a timer that starts at `fast` and stretches
/// to `slow` while nothing comes (another process's pushes still arrive
/// within `slow`; an idle `crm serve` stops querying 200 times a second).
///
/// apalis' own `IntervalStrategy` replaces its timer when it fires without
/// polling the new one, so when that fetch comes back empty no wake-up is
/// armed and the worker sleeps until its next heartbeat (seconds of latency,
/// measured); this one re-arms before it reports a tick.
struct PollEvery {
    fast: Duration,
    slow: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    pushed: Arc<Notify>,
    notified: Pin<Box<OwnedNotified>>,
    /// Since when no poll has yielded a job (apalis' own `idle_for` stays
    /// zero until the first job ever).
    quiet_since: tokio::time::Instant,
    /// Jobs yielded so far, as apalis counts them.
    seen_ready: u64,
}

impl PollEvery {
    fn new(fast: Duration, slow: Duration, pushed: Arc<Notify>) -> Self {
        Self {
            fast,
            slow,
            sleep: Box::pin(tokio::time::sleep(fast)),
            notified: Box::pin(pushed.clone().notified_owned()),
            pushed,
            quiet_since: tokio::time::Instant::now(),
            seen_ready: 0,
        }
    }

    /// The next wait: short while jobs keep coming, up to `slow` after two
    /// seconds without any.
    fn period(&mut self, snapshot: &PollSnapshot) -> Duration {
        if snapshot.total_ready > self.seen_ready {
            self.seen_ready = snapshot.total_ready;
            self.quiet_since = tokio::time::Instant::now();
        }
        (self.quiet_since.elapsed() / 8).clamp(self.fast, self.slow)
    }
}

impl Clone for PollEvery {
    fn clone(&self) -> Self {
        Self::new(self.fast, self.slow, self.pushed.clone())
    }
}

impl PollStrategy for PollEvery {
    fn poll_drive(&mut self, cx: &mut Context<'_>, snapshot: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        // Re-arm and poll again until each source is pending, so the waker
        // is registered for the next push and the next tick.
        while self.notified.as_mut().poll(cx).is_ready() {
            self.notified = Box::pin(self.pushed.clone().notified_owned());
            fired = true;
        }
        while self.sleep.as_mut().poll(cx).is_ready() {
            let next = tokio::time::Instant::now() + self.period(snapshot);
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
        crm_domain::util::new_id()
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
    let (fast, slow) = (Duration::from_millis(5), Duration::from_millis(100));
    // Keep apalis-redis' scheduled set small (see `JobQueue::promote_due`):
    // drain a backlog before the workers fetch, then keep up with arrivals.
    while queue.promote_due(PROMOTE_CHUNK).await.unwrap_or(0) == PROMOTE_CHUNK {}
    let q = queue.clone();
    // Jobs this process has run: finished ones are vacuumed only after some
    // ran, so an idle process does not write every 50 ms.
    let handled = Arc::new(AtomicU64::new(0));
    let seen = handled.clone();
    tokio::spawn(async move {
        let mut vacuumed = tokio::time::Instant::now();
        let mut vacuumed_at = 0;
        loop {
            match q.promote_due(PROMOTE_CHUNK).await {
                Ok(n) if n == PROMOTE_CHUNK => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "promoting due jobs failed"),
            }
            let ran = seen.load(Ordering::Relaxed);
            if vacuumed.elapsed() >= q.vacuum_every() && ran != vacuumed_at {
                vacuumed = tokio::time::Instant::now();
                match q.vacuum_done().await {
                    Ok(_) => vacuumed_at = ran,
                    Err(e) => tracing::warn!(error = %e, "vacuuming finished jobs failed"),
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
    let strategy = PollEvery::new(fast, slow, queue.pushed());
    let monitor = match queue.backend().clone() {
        QueueBackend::Sqlite(storage) => {
            let backend = storage.poll_with_strategy(strategy);
            monitor.register(move |n| {
                WorkerBuilder::new(worker_name(n))
                    .backend(backend.clone())
                    .concurrency(concurrency)
                    .data(ctx.clone())
                    .data(handled.clone())
                    .build(handle_ingest)
            })
        }
        QueueBackend::Redis(storage) => {
            let backend = storage.poll_with_strategy(strategy);
            monitor.register(move |n| {
                WorkerBuilder::new(worker_name(n))
                    .backend(backend.clone())
                    .concurrency(concurrency)
                    .data(ctx.clone())
                    .data(handled.clone())
                    .build(handle_ingest)
            })
        }
    };
    monitor.run_with_signal(signal).await?;
    Ok(())
}
