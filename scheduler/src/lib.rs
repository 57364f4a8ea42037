//! The cron table. Each tick turns into jobs; a lease in the database makes
//! sure one scheduler replica fires each tick while the others stand by.
//!
//! - sweeper (every 2 s): pending inbound events whose retry time has come —
//!   left behind by a crash, a lost push or a failed attempt — are pushed again.
//! - lead backfill (`CRM_BACKFILL_CRON`, hourly by default): one `backfill`
//!   inbound event per configured Lead Ads form, processed by the workers
//!   through the same lead path, so a silent webhook outage loses nothing.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use apalis_cron::CronScheduler;
use crm_domain::ids::EventId;
use crm_domain::inbound::{EventSource, InboundStatus};
use crm_domain::util::{error_chain, new_id};
use crm_runtime::Config;
use crm_runtime::queue::JobQueue;
use crm_store::{NewInboundEvent, Store};
use futures::StreamExt;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("invalid cron expression {expr:?}")]
    Cron {
        expr: String,
        #[source]
        source: cron::error::Error,
    },
    #[error("scheduler store access failed")]
    Store(#[from] crm_store::StoreError),
    #[error("scheduler could not push jobs")]
    Queue(#[from] crm_runtime::queue::QueueError),
}

pub struct Scheduler {
    pub store: Store,
    pub queue: JobQueue,
    pub config: Arc<Config>,
    /// Identifies this replica in the lease table.
    pub holder: String,
}

const LEASE: &str = "scheduler";
const LEASE_TTL_MS: i64 = 15_000;
const SWEEP_BATCH: i64 = 1000;
const SWEEP_EVERY: Duration = Duration::from_secs(2);

impl Scheduler {
    pub fn new(store: Store, queue: JobQueue, config: Arc<Config>) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        Self {
            store,
            queue,
            config,
            holder: format!("{host}-{}-{}", std::process::id(), new_id()),
        }
    }

    fn schedule(expr: &str) -> Result<cron::Schedule, SchedulerError> {
        cron::Schedule::from_str(expr).map_err(|source| SchedulerError::Cron {
            expr: expr.to_string(),
            source,
        })
    }

    /// Runs until `shutdown` resolves; then gives up the lease.
    pub async fn run<F>(self, shutdown: F) -> Result<(), SchedulerError>
    where
        F: std::future::Future<Output = ()> + Send,
    {
        // The sweeper is an interval, not a cron line: a sweep that outlasts
        // its period must delay the next one, not make a cron stream report
        // the missed tick as an error forever. Its first tick fires at once,
        // so a restart after a crash recovers right away.
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let backfill_schedule = Self::schedule(&self.config.backfill_cron)?;
        let mut backfill = Box::pin(CronScheduler::new(backfill_schedule.clone()).into_stream());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = sweep.tick() => self.sweep_if_leader().await,
                tick = backfill.next() => match tick {
                    Some(Ok(t)) => self.backfill_if_leader(t.get_timestamp()).await,
                    Some(Err(e)) => {
                        // A tick missed while busy: the stream keeps reporting
                        // it, so start a fresh stream from now.
                        tracing::warn!(error = %e, "backfill tick missed; rescheduling");
                        backfill = Box::pin(CronScheduler::new(backfill_schedule.clone()).into_stream());
                    }
                    None => break,
                },
            }
        }
        if let Err(e) = self.store.release_lease(LEASE, &self.holder).await {
            tracing::warn!(error = %e, "could not release scheduler lease");
        }
        Ok(())
    }

    async fn is_leader(&self) -> bool {
        match self
            .store
            .acquire_lease(LEASE, &self.holder, LEASE_TTL_MS)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "lease check failed");
                false
            }
        }
    }

    async fn sweep_if_leader(&self) {
        if !self.is_leader().await {
            return;
        }
        match self.sweep_once().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "sweeper re-pushed pending events"),
            Err(e) => tracing::warn!(error = %error_chain(&e), "sweep failed"),
        }
    }

    /// One sweep: claims due pending events and pushes their jobs again.
    pub async fn sweep_once(&self) -> Result<usize, SchedulerError> {
        let mut total = 0;
        loop {
            let ids = self
                .store
                .claim_due_events(SWEEP_BATCH, self.config.sweep_grace_ms)
                .await?;
            let n = ids.len();
            self.queue.push_ingest(&ids).await?;
            total += n;
            if (n as i64) < SWEEP_BATCH {
                return Ok(total);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn backfill_if_leader(&self, tick: u64) {
        if self.config.lead_forms.is_empty() || !self.is_leader().await {
            return;
        }
        if let Err(e) = self.enqueue_backfill(tick).await {
            tracing::warn!(error = %error_chain(&e), "lead backfill not enqueued");
        }
    }

    /// One `backfill` event per form and tick (keyed, so a second replica or
    /// a repeated tick adds nothing).
    pub async fn enqueue_backfill(&self, tick: u64) -> Result<usize, SchedulerError> {
        let events: Vec<NewInboundEvent> = self
            .config
            .lead_forms
            .iter()
            .map(|form| NewInboundEvent {
                id: EventId::generate(),
                source: EventSource::Backfill,
                dedupe_key: format!("backfill:{form}:{tick}"),
                content_type: Some("application/json".into()),
                body: json!({"form_id": form}).to_string().into_bytes(),
                status: InboundStatus::Pending,
            })
            .collect();
        let rows = self
            .store
            .insert_inbound_events(&events, self.config.sweep_grace_ms)
            .await?;
        let ids: Vec<EventId> = rows
            .into_iter()
            .filter(|r| r.created)
            .map(|r| r.id)
            .collect();
        self.queue.push_ingest(&ids).await?;
        Ok(ids.len())
    }
}
