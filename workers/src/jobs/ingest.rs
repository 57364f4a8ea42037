//! The ingest job: `IngestJob { event_ids }` names inbound events committed
//! together; each is read, parsed (connectors) and applied through the
//! store, where every effect is keyed so a second run does nothing. Failures
//! are recorded on the event with a backoff (or `dead`); apalis only carries
//! the wake-up.

use std::time::{Duration, Instant};

use crm_connectors::meta::{InboundItem, parse_webhook};
use crm_domain::ids::EventId;
use crm_domain::inbound::{EventSource, InboundStatus, Processed};
use crm_domain::intake::IntakeLead;
use crm_domain::model::{Action, DomainEvent};
use crm_domain::util::error_chain;
use crm_runtime::queue::{INGEST_QUEUE, IngestJob};
use crm_store::{InboundEventRow, StoreError};

use crate::map::{
    actions_from_receipt, lead_from_graph, message_from_social, message_from_whatsapp,
    status_from_whatsapp,
};
use crate::{Job, JobError, WorkerCtx};

pub struct Ingest;

impl Job for Ingest {
    const NAME: &'static str = "ingest";
    /// `crm.ingest`: jobs queued by an older build are still run.
    const QUEUE: &'static str = INGEST_QUEUE;
    type Payload = IngestJob;

    /// Business failures are recorded on each event (with backoff) by
    /// `process_event`; only an unreachable database is an error, and the
    /// events it left pending are pushed again by the sweeper.
    async fn run(ctx: &WorkerCtx, job: IngestJob) -> Result<(), JobError> {
        process_events(ctx, &job.event_ids).await?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ProcessError> for JobError {
    fn from(e: ProcessError) -> Self {
        match e {
            ProcessError::Store(e) => JobError::Store(e),
        }
    }
}

/// Why a Lead Ads form could not be reconciled; recorded on its event.
#[derive(Debug, thiserror::Error)]
enum BackfillError {
    #[error("lead backfill needs CRM_META_ACCESS_TOKEN")]
    NoGraph,
    #[error("backfill store access failed")]
    Store(#[from] StoreError),
    #[error("list leads of form {form_id}")]
    List {
        form_id: String,
        #[source]
        source: crm_connectors::graph::GraphError,
    },
    #[error("lead {lead_id}")]
    Lead {
        lead_id: String,
        #[source]
        source: StoreError,
    },
}

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already processed (a duplicate job or a sweeper re-push).
    Skipped,
    Done,
    /// Stored, but nothing in it concerns us (unknown object or field).
    Ignored,
    /// Some item failed; the event is retried later (or parked as dead).
    Failed {
        status: InboundStatus,
        error: String,
    },
}

/// Handler deadline: a stuck Graph call must not hold the job forever (apalis
/// leaves a timed-out job `Running`, so the timeout lives here).
const JOB_DEADLINE: Duration = Duration::from_secs(120);

/// Processes the events of one job: read together, each then handled on its
/// own (concurrently, so the applier commits them in one transaction), each
/// outcome recorded on its event. Ids no longer pending are skipped.
pub async fn process_events(
    ctx: &WorkerCtx,
    event_ids: &[EventId],
) -> Result<Vec<Outcome>, ProcessError> {
    let rows = ctx.store.inbound_events(event_ids).await?;
    let skipped = event_ids.len().saturating_sub(rows.len());
    for _ in 0..skipped {
        ctx.metrics.inc("crm_jobs_total", "skipped");
    }
    let mut outcomes = vec![Outcome::Skipped; skipped];
    for r in futures::future::join_all(rows.iter().map(|ev| process_event(ctx, ev))).await {
        outcomes.push(r?);
    }
    Ok(outcomes)
}

pub async fn process_event(ctx: &WorkerCtx, ev: &InboundEventRow) -> Result<Outcome, ProcessError> {
    let started = Instant::now();
    let event_id = &ev.id;
    let outcome = match tokio::time::timeout(JOB_DEADLINE, process_inner(ctx, ev)).await {
        Ok(r) => r?,
        Err(_) => {
            let status = ctx
                .store
                .mark_event_failed(event_id, "processing timed out", ctx.config.max_attempts)
                .await?;
            Outcome::Failed {
                status,
                error: "processing timed out".into(),
            }
        }
    };
    let label = match &outcome {
        Outcome::Skipped => "skipped",
        Outcome::Done => "done",
        Outcome::Ignored => "ignored",
        Outcome::Failed {
            status: InboundStatus::Dead,
            ..
        } => "dead",
        Outcome::Failed { .. } => "failed",
    };
    ctx.metrics.inc("crm_jobs_total", label);
    ctx.metrics
        .observe_ms("crm_job_seconds", started.elapsed().as_secs_f64() * 1000.0);
    Ok(outcome)
}

async fn process_inner(ctx: &WorkerCtx, ev: &InboundEventRow) -> Result<Outcome, ProcessError> {
    let event_id = &ev.id;
    if ev.status != InboundStatus::Pending {
        return Ok(Outcome::Skipped);
    }
    let region = ctx.config.default_region.as_str();
    let mut errors: Vec<String> = Vec::new();
    // Set when an item failed in a way no retry can fix (Meta said so).
    let mut permanent = false;
    let mut actions: Vec<Action> = Vec::new();
    match ev.source {
        EventSource::Intake => match serde_json::from_slice::<IntakeLead>(&ev.body) {
            Ok(lead) => actions.push(Action::Lead(lead.to_lead_input(
                ev.id.as_str(),
                ev.received_at,
                region,
            ))),
            Err(e) => {
                return record_failure(
                    ctx,
                    event_id,
                    &format!("stored intake body unreadable: {e}"),
                    true,
                )
                .await;
            }
        },
        EventSource::Meta => {
            let hook = match parse_webhook(&ev.body) {
                Ok(h) => h,
                Err(e) => {
                    return record_failure(
                        ctx,
                        event_id,
                        &format!("unparseable webhook: {e}"),
                        true,
                    )
                    .await;
                }
            };
            for item in &hook.items {
                match item_actions(ctx, item, ev.id.as_str(), ev.received_at).await {
                    Ok(a) => actions.extend(a),
                    Err(e) => {
                        permanent |= e.permanent;
                        errors.push(e.message);
                    }
                }
            }
        }
        EventSource::Backfill => {
            let form_id = serde_json::from_slice::<serde_json::Value>(&ev.body)
                .ok()
                .and_then(|v| {
                    v.get("form_id")
                        .and_then(|f| f.as_str())
                        .map(str::to_string)
                });
            let Some(form_id) = form_id else {
                return record_failure(ctx, event_id, "backfill event without form_id", true).await;
            };
            return match backfill_form(ctx, &form_id, event_id.as_str()).await {
                Ok((_, evs)) => {
                    ctx.bus.publish(&evs).await;
                    ctx.store.mark_event_done(event_id, Processed::Done).await?;
                    Ok(Outcome::Done)
                }
                Err(e) => record_failure(ctx, event_id, &error_chain(&e), false).await,
            };
        }
    }
    if actions.is_empty() && errors.is_empty() {
        ctx.store
            .mark_event_done(event_id, Processed::Ignored)
            .await?;
        return Ok(Outcome::Ignored);
    }
    if errors.is_empty() {
        // Hot path: every effect and the `done` mark in one commit.
        match ctx.applier.apply(event_id.as_str(), actions.clone()).await {
            Ok(evs) => {
                ctx.bus.publish(&evs).await;
                return Ok(Outcome::Done);
            }
            Err(e) => {
                tracing::debug!(event_id = %event_id, error = %error_chain(&e), "event transaction failed; applying item by item")
            }
        }
    }
    // Isolate failures: each action alone, so one poison item cannot hold
    // back the rest of a batch (the ones that commit are keyed: a retry of
    // the event skips them).
    let mut events: Vec<DomainEvent> = Vec::new();
    for a in &actions {
        match ctx.store.apply_action(a).await {
            Ok(evs) => events.extend(evs),
            Err(e) => errors.push(error_chain(&e)),
        }
    }
    ctx.bus.publish(&events).await;
    if !errors.is_empty() {
        return record_failure(ctx, event_id, &errors.join("; "), permanent).await;
    }
    ctx.store.mark_event_done(event_id, Processed::Done).await?;
    Ok(Outcome::Done)
}

async fn record_failure(
    ctx: &WorkerCtx,
    event_id: &EventId,
    error: &str,
    permanent: bool,
) -> Result<Outcome, ProcessError> {
    let max = if permanent {
        0
    } else {
        ctx.config.max_attempts
    };
    let status = ctx.store.mark_event_failed(event_id, error, max).await?;
    tracing::warn!(event_id = %event_id, status = %status, error = %error, "inbound event failed");
    Ok(Outcome::Failed {
        status,
        error: error.to_string(),
    })
}

/// First reconciliation of a form looks back this far (Meta keeps leads 90 days).
const FIRST_BACKFILL_LOOKBACK_S: i64 = 7 * 24 * 3600;
/// Overlap between runs: leads whose creation time straddles a run are read twice, applied once.
const BACKFILL_OVERLAP_S: i64 = 600;

/// Reads a Lead Ads form's leads since its cursor and applies each through the
/// same path as a webhook lead; returns how many were read.
async fn backfill_form(
    ctx: &WorkerCtx,
    form_id: &str,
    event_id: &str,
) -> Result<(usize, Vec<DomainEvent>), BackfillError> {
    let Some(graph) = &ctx.graph else {
        return Err(BackfillError::NoGraph);
    };
    let now_s = crm_domain::util::now_ms() / 1000;
    let cursor = ctx.store.lead_form_cursor(form_id).await?;
    let since = if cursor == 0 {
        now_s - FIRST_BACKFILL_LOOKBACK_S
    } else {
        cursor - BACKFILL_OVERLAP_S
    };
    let leads = graph
        .list_form_leads(form_id, since)
        .await
        .map_err(|source| BackfillError::List {
            form_id: form_id.to_string(),
            source,
        })?;
    let mut events = Vec::new();
    let mut newest = cursor.max(since);
    for lead in &leads {
        let input = lead_from_graph(
            lead,
            None,
            Some(event_id),
            crm_domain::util::now_ms(),
            &ctx.config.default_region,
        );
        events.extend(ctx.store.apply_lead(&input).await.map_err(|source| {
            BackfillError::Lead {
                lead_id: lead.id.clone(),
                source,
            }
        })?);
        if let Some(ms) = lead.created_time {
            newest = newest.max(ms / 1000);
        }
    }
    ctx.store
        .set_lead_form_cursor(form_id, newest.max(now_s - BACKFILL_OVERLAP_S))
        .await?;
    ctx.metrics.inc("crm_backfill_leads_total", "read");
    Ok((leads.len(), events))
}

/// Why an item could not become actions.
struct ItemError {
    message: String,
    /// Meta answered with an error it documents as final (bad id, missing
    /// permission): retrying cannot help, so the event goes to `dead` at once
    /// for a person to fix and retry through the API.
    permanent: bool,
}

/// The actions one parsed webhook item asks for (a Lead Ads item fetches its
/// lead from the Graph API first). Empty = nothing for us to do.
async fn item_actions(
    ctx: &WorkerCtx,
    item: &InboundItem,
    event_id: &str,
    received_at: i64,
) -> Result<Vec<Action>, ItemError> {
    let region = ctx.config.default_region.as_str();
    Ok(match item {
        InboundItem::WhatsAppMessage(m) => {
            vec![Action::Message(message_from_whatsapp(m, event_id, region))]
        }
        InboundItem::WhatsAppStatus(s) => vec![Action::Status(status_from_whatsapp(s))],
        InboundItem::SocialMessage(m) => vec![Action::Message(message_from_social(m, event_id))],
        InboundItem::SocialReceipt(r) => actions_from_receipt(r),
        InboundItem::Leadgen(change) => {
            let Some(graph) = &ctx.graph else {
                return Err(ItemError {
                    message: "leadgen received but CRM_META_ACCESS_TOKEN is not configured".into(),
                    permanent: false,
                });
            };
            let lead = graph
                .fetch_lead(&change.leadgen_id)
                .await
                .map_err(|e| ItemError {
                    message: format!("fetch lead {}: {e}", change.leadgen_id),
                    permanent: !e.is_transient(),
                })?;
            vec![Action::Lead(lead_from_graph(
                &lead,
                change.page_id.as_deref(),
                Some(event_id),
                received_at,
                region,
            ))]
        }
        InboundItem::Ignored(_) => Vec::new(),
    })
}
