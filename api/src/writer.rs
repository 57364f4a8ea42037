//! Group commit for intake: concurrent requests are written in one
//! transaction (one fsync), then their ingest jobs are pushed in one batch.
//! A request is answered only after its row is committed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_domain::ids::EventId;
use crm_domain::inbound::InboundStatus;
use crm_runtime::batcher::{BatchError, Batcher};
use crm_runtime::metrics::Metrics;
use crm_runtime::queue::JobQueue;
use crm_store::{InboundInsert, NewInboundEvent, Store, StoreError};
use tokio::sync::mpsc;

/// Why an inbound event was not stored.
pub type IntakeWriteError = BatchError<StoreError>;

#[derive(Clone)]
pub struct IntakeWriter {
    batcher: Batcher<NewInboundEvent, InboundInsert, StoreError>,
}

/// Upper bound of rows per transaction: keeps a batch's latency bounded.
const MAX_BATCH: usize = 512;

/// Closest spacing of two job pushes.
const PUSH_SPACING: Duration = Duration::from_millis(5);

impl IntakeWriter {
    /// Starts the writer. The returned task ends once every clone of the
    /// writer is dropped and the last batch's jobs are pushed: await it at
    /// shutdown so no answered event waits for the sweeper.
    pub fn spawn(
        store: Store,
        queue: JobQueue,
        grace_ms: i64,
        metrics: Arc<Metrics>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        // Pushing jobs runs beside the next batch's write (the queue is
        // another file or another engine), not after it.
        let (push_tx, push_rx) = mpsc::unbounded_channel::<Vec<EventId>>();
        let pusher = tokio::spawn(push_jobs(queue, push_rx));
        let (batcher, writes) = Batcher::spawn(
            "intake writer",
            MAX_BATCH,
            Duration::from_secs(30),
            move |events: Vec<NewInboundEvent>| {
                let (store, metrics, push_tx) = (store.clone(), metrics.clone(), push_tx.clone());
                async move {
                    let started = Instant::now();
                    let results = write_batch(&store, &events, grace_ms).await;
                    metrics.observe_ms(
                        "crm_intake_commit_seconds",
                        started.elapsed().as_secs_f64() * 1000.0,
                    );
                    metrics.observe_size("crm_intake_batch_rows", events.len() as f64);
                    let to_push: Vec<EventId> = results
                        .iter()
                        .filter_map(|r| r.as_ref().ok())
                        .filter(|ins| ins.created && ins.status == InboundStatus::Pending)
                        .map(|ins| ins.id.clone())
                        .collect();
                    // The rows are committed, which is what a 2xx promises;
                    // the push is only the wake-up, on a task of its own.
                    if !to_push.is_empty() {
                        let _ = push_tx.send(to_push);
                    }
                    results
                }
            },
        );
        let task = tokio::spawn(async move {
            // The write task ends with the last writer; its closure (and
            // with it the push channel) goes, and the pusher finishes.
            let _ = writes.await;
            let _ = pusher.await;
        });
        (Self { batcher }, task)
    }

    /// Commits one event; resolves when it is durable (or failed).
    pub async fn submit(&self, ev: NewInboundEvent) -> Result<InboundInsert, IntakeWriteError> {
        self.batcher.submit(ev).await
    }
}

async fn push_jobs(queue: JobQueue, mut push_rx: mpsc::UnboundedReceiver<Vec<EventId>>) {
    let mut ids: Vec<Vec<EventId>> = Vec::new();
    let mut last_push: Option<Instant> = None;
    while push_rx.recv_many(&mut ids, 64).await > 0 {
        // Under load, pushes are spaced: a push costs about the same
        // whatever it carries (bench/README.md), and the wait is a few ms of
        // wake-up latency only when batches come faster than that.
        if let Some(due) = last_push.map(|at| at + PUSH_SPACING)
            && Instant::now() < due
        {
            tokio::time::sleep_until(due.into()).await;
            while let Ok(more) = push_rx.try_recv() {
                ids.push(more);
            }
        }
        last_push = Some(Instant::now());
        let batch: Vec<EventId> = ids.drain(..).flatten().collect();
        // A push that fails (or a crash before it) leaves rows the sweeper
        // pushes after the grace period.
        if let Err(e) = queue.push_ingest(&batch).await {
            tracing::warn!(error = %e, count = batch.len(), "job push failed; sweeper will retry");
        }
    }
}

async fn write_batch(
    store: &Store,
    events: &[NewInboundEvent],
    grace_ms: i64,
) -> Vec<Result<InboundInsert, StoreError>> {
    match store.insert_inbound_events(events, grace_ms).await {
        Ok(rows) => rows.into_iter().map(Ok).collect(),
        Err(batch_err) => {
            // One bad row must not fail its neighbours: retry each alone.
            tracing::warn!(error = %batch_err, "batch insert failed; retrying rows one by one");
            let mut out = Vec::with_capacity(events.len());
            for ev in events {
                out.push(
                    store
                        .insert_inbound_events(std::slice::from_ref(ev), grace_ms)
                        .await
                        .and_then(|mut v| {
                            v.pop().ok_or_else(|| {
                                StoreError::Invariant("an inserted event got no answer".into())
                            })
                        }),
                );
            }
            out
        }
    }
}
