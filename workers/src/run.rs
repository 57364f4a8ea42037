//! Wiring jobs into apalis workers for either queue backend: one worker per
//! registered job, on that job's queue, under one monitor.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{
    BackendExt, Data, Monitor, MonitorError, PollSnapshot, PollStrategy, WorkerBuilder,
    WorkerBuilderExt,
};
use crm_domain::util::error_chain;
use crm_runtime::queue::JobQueue;
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

use crate::queue::{Engine, NamedQueue};
use crate::{Job, JobError, WorkerCtx};

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

/// Poll bounds of `PollEvery`: at once after a local push, at most this slow
/// for another process's.
const POLL_FAST: Duration = Duration::from_millis(5);
const POLL_SLOW: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Two workers on one queue would each decode the other's payloads.
    #[error("jobs {first} and {second} both registered on queue {queue}")]
    SharedQueue {
        queue: &'static str,
        first: &'static str,
        second: &'static str,
    },
    #[error("job workers stopped with an error")]
    Monitor(#[source] MonitorError),
}

fn worker_name(job: &str, n: usize) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    // Unique per process and start: apalis refuses a name seen alive recently.
    format!(
        "{job}-{host}-{}-{}-{n}",
        std::process::id(),
        crm_domain::util::new_id()
    )
}

/// The apalis handler of every job: counts the run (for vacuuming) and hands
/// the payload to the job.
async fn handle<J: Job>(
    payload: J::Payload,
    ctx: Data<Arc<WorkerCtx>>,
    handled: Data<Arc<AtomicU64>>,
) -> Result<(), JobError> {
    handled.fetch_add(1, Ordering::Relaxed);
    J::run(&ctx, payload).await.inspect_err(|e| {
        tracing::error!(job = J::NAME, error = %error_chain(e), "job could not record its outcome");
    })
}

/// A registered job's queue and how many of its jobs this process has run.
struct Lane {
    job: &'static str,
    queue: NamedQueue,
    handled: Arc<AtomicU64>,
}

/// The workers of one process: `register::<J>()` once per job (see
/// `jobs::register`), then `run`.
pub struct Workers {
    ctx: Arc<WorkerCtx>,
    queue: JobQueue,
    concurrency: usize,
    monitor: Monitor,
    lanes: Vec<Lane>,
}

impl Workers {
    /// `concurrency` bounds the jobs in flight per registered job.
    pub fn new(ctx: Arc<WorkerCtx>, queue: JobQueue, concurrency: usize) -> Self {
        let monitor = Monitor::new()
            .shutdown_timeout(Duration::from_secs(30))
            // A worker whose backend failed (a lost connection) comes back;
            // the database still knows what its jobs left undone.
            .should_restart(|_, _| true);
        Self {
            ctx,
            queue,
            concurrency,
            monitor,
            lanes: Vec::new(),
        }
    }

    /// Adds one apalis worker for `J` on `J::QUEUE`. One worker per job and
    /// process: extra workers on one queue only multiply apalis' fetch and
    /// ack writes on the contended SQLite lock, and on Redis one worker
    /// group-commits bigger batches.
    pub fn register<J: Job>(mut self) -> Self {
        let queue = NamedQueue::new(&self.queue, J::QUEUE);
        let handled = Arc::new(AtomicU64::new(0));
        let strategy = PollEvery::new(POLL_FAST, POLL_SLOW, queue.pushed());
        let (ctx, count, concurrency) = (self.ctx.clone(), handled.clone(), self.concurrency);
        self.monitor = match queue.engine() {
            Engine::Sqlite { pool, config } => {
                let backend =
                    NamedQueue::sqlite::<J::Payload>(pool, config).poll_with_strategy(strategy);
                self.monitor.register(move |n| {
                    WorkerBuilder::new(worker_name(J::NAME, n))
                        .backend(backend.clone())
                        .concurrency(concurrency)
                        .data(ctx.clone())
                        .data(count.clone())
                        .build(handle::<J>)
                })
            }
            Engine::Redis { conn, config } => {
                let backend =
                    NamedQueue::redis::<J::Payload>(conn, config).poll_with_strategy(strategy);
                self.monitor.register(move |n| {
                    WorkerBuilder::new(worker_name(J::NAME, n))
                        .backend(backend.clone())
                        .concurrency(concurrency)
                        .data(ctx.clone())
                        .data(count.clone())
                        .build(handle::<J>)
                })
            }
        };
        self.lanes.push(Lane {
            job: J::NAME,
            queue,
            handled,
        });
        self
    }

    /// Runs the registered workers until `shutdown` resolves, then lets
    /// in-flight jobs finish (up to 30 s); unfinished ones are picked up
    /// again (they are still undone in the database).
    pub async fn run<F>(self, shutdown: F) -> Result<(), RunError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        for (i, lane) in self.lanes.iter().enumerate() {
            if let Some(other) = self.lanes[..i]
                .iter()
                .find(|o| o.queue.name() == lane.queue.name())
            {
                return Err(RunError::SharedQueue {
                    queue: lane.queue.name(),
                    first: other.job,
                    second: lane.job,
                });
            }
        }
        // Keep apalis-redis' scheduled sets small (see
        // `NamedQueue::promote_due`): drain a backlog before the workers
        // fetch, then keep up with arrivals.
        for lane in &self.lanes {
            while lane.queue.promote_due(PROMOTE_CHUNK).await.unwrap_or(0) == PROMOTE_CHUNK {}
        }
        let upkeep = tokio::spawn(upkeep(self.lanes));
        let signal = async move {
            shutdown.await;
            Ok(())
        };
        let stopped = self.monitor.run_with_signal(signal).await;
        upkeep.abort();
        stopped.map_err(RunError::Monitor)
    }
}

/// Promotes due jobs and vacuums finished ones, for every registered queue.
/// A queue is vacuumed only after some of its jobs ran, so an idle process
/// does not write every 50 ms.
async fn upkeep(lanes: Vec<Lane>) {
    let start = tokio::time::Instant::now();
    let mut vacuumed: Vec<(tokio::time::Instant, u64)> = lanes.iter().map(|_| (start, 0)).collect();
    loop {
        let mut backlog = false;
        for lane in &lanes {
            match lane.queue.promote_due(PROMOTE_CHUNK).await {
                Ok(n) if n == PROMOTE_CHUNK => backlog = true,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(queue = lane.queue.name(), error = %error_chain(&e), "promoting due jobs failed")
                }
            }
        }
        if backlog {
            continue;
        }
        for (lane, (at, ran_then)) in lanes.iter().zip(vacuumed.iter_mut()) {
            let ran = lane.handled.load(Ordering::Relaxed);
            if at.elapsed() >= lane.queue.vacuum_every() && ran != *ran_then {
                *at = tokio::time::Instant::now();
                match lane.queue.vacuum_done().await {
                    Ok(_) => *ran_then = ran,
                    Err(e) => {
                        tracing::warn!(queue = lane.queue.name(), error = %error_chain(&e), "vacuuming finished jobs failed")
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs every job registered in `jobs::register` until `shutdown` resolves.
pub async fn run_workers<F>(
    ctx: Arc<WorkerCtx>,
    queue: JobQueue,
    concurrency: usize,
    shutdown: F,
) -> Result<(), RunError>
where
    F: Future<Output = ()> + Send + 'static,
{
    crate::jobs::register(Workers::new(ctx, queue, concurrency))
        .run(shutdown)
        .await
}
