//! The timer table. Each timer's ticks turn into jobs; a lease in the
//! database makes sure one scheduler replica fires each tick while the others
//! stand by. A new timer is one row in `Scheduler::timers`.
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
use futures::future::BoxFuture;
use futures::stream::BoxStream;
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

/// When a timer fires.
#[derive(Clone)]
pub enum Schedule {
    /// At once, then every period. A run that outlasts its period delays the
    /// next tick instead of queueing the missed ones, and firing at once
    /// makes a restart after a crash recover right away.
    Every(Duration),
    /// At each time of a cron line (6 fields, seconds first); a tick missed
    /// while another timer ran is skipped.
    Cron(Box<cron::Schedule>),
}

impl Schedule {
    pub fn cron(expr: &str) -> Result<Self, SchedulerError> {
        cron::Schedule::from_str(expr)
            .map(|s| Schedule::Cron(Box::new(s)))
            .map_err(|source| SchedulerError::Cron {
                expr: expr.to_string(),
                source,
            })
    }
}

/// What a timer does with a tick it won the lease for. It gets the tick's
/// time (unix seconds), which keys what it enqueues so a repeated tick adds
/// nothing, and returns how much it enqueued.
pub type TimerJob = for<'a> fn(&'a Scheduler, u64) -> BoxFuture<'a, Result<usize, SchedulerError>>;

/// One row of the timer table.
pub struct Timer {
    /// Stable, for logs.
    pub name: &'static str,
    pub schedule: Schedule,
    /// A disabled timer (nothing configured for it) never ticks.
    pub enabled: bool,
    pub job: TimerJob,
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

    /// The timer table: every timer the scheduler runs, one row each.
    pub fn timers(config: &Config) -> Result<Vec<Timer>, SchedulerError> {
        Ok(vec![
            Timer {
                name: "sweeper",
                schedule: Schedule::Every(SWEEP_EVERY),
                enabled: true,
                job: |s, _| Box::pin(s.sweep_once()),
            },
            Timer {
                name: "lead-backfill",
                // Parsed even when disabled: a bad line fails at start, not
                // once forms get configured.
                schedule: Schedule::cron(&config.backfill_cron)?,
                enabled: !config.lead_forms.is_empty(),
                job: |s, tick| Box::pin(s.enqueue_backfill(tick)),
            },
        ])
    }

    /// Runs the timer table until `shutdown` resolves; then gives up the lease.
    pub async fn run<F>(self, shutdown: F) -> Result<(), SchedulerError>
    where
        F: std::future::Future<Output = ()> + Send,
    {
        let timers = Self::timers(&self.config)?;
        self.run_timers(timers, shutdown).await;
        Ok(())
    }

    /// Fires `timers` until `shutdown` resolves; then gives up the lease.
    /// Ticks are taken one at a time, as they come (a long run delays the
    /// other timers' ticks rather than overlapping them), each under the lease.
    pub async fn run_timers<F>(&self, timers: Vec<Timer>, shutdown: F)
    where
        F: std::future::Future<Output = ()> + Send,
    {
        let timers: Vec<Timer> = timers.into_iter().filter(|t| t.enabled).collect();
        let mut ticks = futures::stream::select_all(
            timers
                .iter()
                .enumerate()
                .map(|(i, t)| tick_stream(t.name, t.schedule.clone()).map(move |at| (i, at))),
        );
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                tick = ticks.next() => match tick {
                    Some((i, at)) => {
                        if let Some(timer) = timers.get(i) {
                            self.fire(timer, at).await;
                        }
                    }
                    // Every schedule is exhausted: nothing left to fire.
                    None => {
                        shutdown.await;
                        break;
                    }
                },
            }
        }
        if let Err(e) = self.store.release_lease(LEASE, &self.holder).await {
            tracing::warn!(error = %e, "could not release scheduler lease");
        }
    }

    /// One tick: fired only by the replica holding the lease.
    async fn fire(&self, timer: &Timer, at: u64) {
        if !self.is_leader().await {
            return;
        }
        match (timer.job)(self, at).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(timer = timer.name, count = n, "timer enqueued work"),
            Err(e) => tracing::warn!(timer = timer.name, error = %error_chain(&e), "timer failed"),
        }
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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

type CronTicks = BoxStream<'static, Result<apalis_cron::Tick, apalis_cron::Error>>;

fn cron_ticks(schedule: &cron::Schedule) -> CronTicks {
    CronScheduler::new(schedule.clone()).into_stream().boxed()
}

/// A schedule's tick times (unix seconds).
fn tick_stream(name: &'static str, schedule: Schedule) -> BoxStream<'static, u64> {
    match schedule {
        Schedule::Every(period) => {
            // An interval, not a cron line: a run that outlasts its period
            // must delay the next one, not make a cron stream report the
            // missed tick as an error forever.
            let mut every = tokio::time::interval(period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            futures::stream::unfold(every, |mut every| async move {
                every.tick().await;
                Some((unix_now(), every))
            })
            .boxed()
        }
        Schedule::Cron(schedule) => {
            let ticks = cron_ticks(&schedule);
            futures::stream::unfold((schedule, ticks), move |(schedule, mut ticks)| async move {
                loop {
                    match ticks.next().await? {
                        Ok(t) => return Some((t.get_timestamp(), (schedule, ticks))),
                        Err(e) => {
                            // A tick missed while busy: the stream keeps
                            // reporting it, so start a fresh one from now.
                            tracing::warn!(timer = name, error = %e, "tick missed; rescheduling");
                            ticks = cron_ticks(&schedule);
                        }
                    }
                }
            })
            .boxed()
        }
    }
}
