//! Group commit for intake: concurrent requests are written in one
//! transaction (one fsync), then their ingest jobs are pushed in one batch.
//! A request is answered only after its row is committed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_runtime::metrics::Metrics;
use crm_runtime::queue::JobQueue;
use crm_store::{InboundInsert, NewInboundEvent, Store};
use tokio::sync::{mpsc, oneshot};

type Reply = oneshot::Sender<Result<InboundInsert, String>>;

#[derive(Clone)]
pub struct IntakeWriter {
    tx: mpsc::Sender<(NewInboundEvent, Reply)>,
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
        let (tx, mut rx) = mpsc::channel::<(NewInboundEvent, Reply)>(8192);
        // Pushing jobs runs beside the next batch's write (the queue is
        // another file or another engine), not after it.
        let (push_tx, mut push_rx) = mpsc::unbounded_channel::<Vec<String>>();
        let pusher = tokio::spawn(async move {
            let mut ids: Vec<Vec<String>> = Vec::new();
            let mut last_push: Option<Instant> = None;
            while push_rx.recv_many(&mut ids, 64).await > 0 {
                // Under load, pushes are spaced: a push costs about the same
                // whatever it carries (a commit to every index of the
                // queue's table, measured at ~12% of `crm api`'s CPU with a
                // push per batch), and the wait is a few ms of wake-up
                // latency only when batches come faster than that.
                if let Some(due) = last_push.map(|at| at + PUSH_SPACING)
                    && Instant::now() < due
                {
                    tokio::time::sleep_until(due.into()).await;
                    while let Ok(more) = push_rx.try_recv() {
                        ids.push(more);
                    }
                }
                last_push = Some(Instant::now());
                let batch: Vec<String> = ids.drain(..).flatten().collect();
                // A push that fails (or a crash before it) leaves rows the
                // sweeper pushes after the grace period.
                if let Err(e) = queue.push_ingest(&batch).await {
                    tracing::warn!(error = %e, count = batch.len(), "job push failed; sweeper will retry");
                }
            }
        });
        let task = tokio::spawn(async move {
            // Whatever queued up while the last batch was being written
            // becomes the next batch; 0 means every sender is gone.
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let batch = std::mem::take(&mut batch);
                let (events, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let started = Instant::now();
                let results = write_batch(&store, &events, grace_ms).await;
                metrics.observe_ms(
                    "crm_intake_commit_seconds",
                    started.elapsed().as_secs_f64() * 1000.0,
                );
                let to_push: Vec<String> = results
                    .iter()
                    .filter_map(|r| r.as_ref().ok())
                    .filter(|ins| ins.created && ins.status == "pending")
                    .map(|ins| ins.id.clone())
                    .collect();
                metrics.observe_size("crm_intake_batch_rows", events.len() as f64);
                // Answer first: the rows are committed, which is what a 2xx
                // promises; the push is only the wake-up.
                for (res, reply) in results.into_iter().zip(replies) {
                    let _ = reply.send(res);
                }
                if !to_push.is_empty() {
                    let _ = push_tx.send(to_push);
                }
            }
            drop(push_tx);
            let _ = pusher.await;
        });
        (Self { tx }, task)
    }

    /// Commits one event; resolves when it is durable (or failed).
    pub async fn submit(&self, ev: NewInboundEvent) -> Result<InboundInsert, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((ev, reply))
            .await
            .map_err(|_| "intake writer stopped".to_string())?;
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("intake writer dropped the request".into()),
            Err(_) => Err("intake write timed out".into()),
        }
    }
}

async fn write_batch(
    store: &Store,
    events: &[NewInboundEvent],
    grace_ms: i64,
) -> Vec<Result<InboundInsert, String>> {
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
                        .map_err(|e| e.to_string())
                        .and_then(|mut v| v.pop().ok_or_else(|| "no row".to_string())),
                );
            }
            out
        }
    }
}
