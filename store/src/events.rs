//! `inbound_events`: the raw webhook / intake bodies, committed before we answer.

use std::collections::HashMap;

use sqlx::Row;

use super::{
    INSERT_CHUNK, Store, StoreError, StoreResult, placeholders, statement_chunks, stored,
    values_rows,
};
use crm_domain::ids::EventId;
use crm_domain::inbound::{EventSource, InboundStatus, Processed};
use crm_domain::model::InboundEventView;
use crm_domain::rules::{FailureOutcome, after_failure};
use crm_domain::util::now_ms;

#[derive(Debug, Clone)]
pub struct NewInboundEvent {
    pub id: EventId,
    pub source: EventSource,
    /// Same key twice = same delivery (Meta retries): stored once.
    pub dedupe_key: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// `Pending` (to process), `Ignored` or `Invalid` (kept for inspection only).
    pub status: InboundStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundInsert {
    pub id: EventId,
    /// False when the same dedupe key was already stored: `id` is then the original's.
    pub created: bool,
    pub status: InboundStatus,
}

#[derive(Debug, Clone)]
pub struct InboundEventRow {
    pub id: EventId,
    pub source: EventSource,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub status: InboundStatus,
    pub attempts: i64,
    pub received_at: i64,
}

impl Store {
    /// Group commit for a batch of concurrent intake requests, written with
    /// multi-row statements (a round trip per chunk, not per request). A
    /// batch that fits one statement is committed by it alone: `BEGIN` and
    /// `COMMIT` round trips cost as much as the insert (bench/README.md). A
    /// bigger batch goes in one transaction. A dedupe key seen before, or twice in the batch,
    /// answers with the first row's id.
    pub async fn insert_inbound_events(
        &self,
        batch: &[NewInboundEvent],
        grace_ms: i64,
    ) -> StoreResult<Vec<InboundInsert>> {
        let now = now_ms();
        let max_bytes = self.engine.statement_bytes();
        let chunks = statement_chunks(batch, max_bytes, |ev| {
            ev.body.len() + ev.dedupe_key.len() + 128
        });
        // Per chunk: did every row go in? A row is left out when its dedupe
        // key was stored before, or came twice in the batch.
        let mut whole = Vec::with_capacity(chunks.len());
        if let [only] = chunks.as_slice() {
            let mut conn = self.writer.acquire().await?;
            whole.push(insert_inbound_chunk(&mut conn, only, now, grace_ms).await? == only.len());
        } else {
            let mut tx = self.begin_write().await?;
            for chunk in &chunks {
                whole.push(
                    insert_inbound_chunk(&mut tx, chunk, now, grace_ms).await? == chunk.len(),
                );
            }
            tx.commit().await?;
        }
        let mut out = Vec::with_capacity(batch.len());
        for (chunk, whole) in chunks.iter().zip(whole) {
            if whole {
                out.extend(chunk.iter().map(|ev| InboundInsert {
                    id: ev.id.clone(),
                    created: true,
                    status: ev.status,
                }));
                continue;
            }
            // Some rows were not inserted (the usual batch has no duplicate
            // and never asks): the row stored under each key says whose it
            // is. Ids are minted per request, so a stored row with the
            // event's own id is the event's.
            let sql = format!(
                "SELECT id, status, dedupe_key FROM inbound_events WHERE dedupe_key IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ev in *chunk {
                q = q.bind(&ev.dedupe_key);
            }
            let mut by_key: HashMap<String, (EventId, InboundStatus)> = HashMap::new();
            for row in q.fetch_all(self.reader()).await? {
                let status: String = row.try_get("status")?;
                by_key.insert(
                    row.try_get("dedupe_key")?,
                    (
                        EventId::new(row.try_get::<String, _>("id")?),
                        stored(&status, InboundStatus::parse, "event status")?,
                    ),
                );
            }
            for ev in *chunk {
                let (id, status) = by_key.get(&ev.dedupe_key).cloned().ok_or_else(|| {
                    StoreError::Invariant(format!("event {} neither stored nor found", ev.id))
                })?;
                out.push(InboundInsert {
                    created: id == ev.id,
                    id,
                    status,
                });
            }
        }
        Ok(out)
    }

    /// The stored events among `ids` (unknown ids are left out), in one query
    /// per chunk.
    pub async fn inbound_events(&self, ids: &[EventId]) -> StoreResult<Vec<InboundEventRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(INSERT_CHUNK) {
            let sql = format!(
                "SELECT id, source, content_type, body, status, attempts, received_at FROM inbound_events WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for row in q.fetch_all(self.reader()).await? {
                let source: String = row.try_get("source")?;
                let status: String = row.try_get("status")?;
                out.push(InboundEventRow {
                    id: EventId::new(row.try_get::<String, _>("id")?),
                    source: stored(&source, EventSource::parse, "event source")?,
                    content_type: row.try_get("content_type")?,
                    body: row.try_get("body")?,
                    status: stored(&status, InboundStatus::parse, "event status")?,
                    attempts: row.try_get("attempts")?,
                    received_at: row.try_get("received_at")?,
                });
            }
        }
        Ok(out)
    }

    /// Marks an event processed; only a pending event moves, so a second run is a no-op.
    pub async fn mark_event_done(&self, id: &EventId, outcome: Processed) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE inbound_events SET status = $2, processed_at = $3, updated_at = $3, last_error = NULL WHERE id = $1 AND status = 'pending'",
        )
        .bind(id.as_str())
        .bind(InboundStatus::from(outcome).as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: back to pending with a later retry time, or
    /// `dead` after `max_attempts`. Returns the new status.
    pub async fn mark_event_failed(
        &self,
        id: &EventId,
        error: &str,
        max_attempts: i64,
    ) -> StoreResult<InboundStatus> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT attempts, status FROM inbound_events WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let attempts: i64 = row.try_get("attempts")?;
        let status: String = row.try_get("status")?;
        let status = stored(&status, InboundStatus::parse, "event status")?;
        if status != InboundStatus::Pending {
            tx.rollback().await?;
            return Ok(status);
        }
        let (new_status, next) = match after_failure(attempts, max_attempts, now) {
            FailureOutcome::RetryAt(at) => (InboundStatus::Pending, at),
            FailureOutcome::Dead => (InboundStatus::Dead, now),
        };
        let error: String = error.chars().take(2000).collect();
        sqlx::query(
            "UPDATE inbound_events SET attempts = attempts + 1, status = $2, last_error = $3, next_attempt_at = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(new_status.as_str())
        .bind(error)
        .bind(next)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(new_status)
    }

    /// Pending events whose retry time has come (a crash left them, or a push
    /// was lost): claimed by pushing their next attempt time forward, so two
    /// sweeps do not push the same event at once.
    pub async fn claim_due_events(&self, limit: i64, lease_ms: i64) -> StoreResult<Vec<EventId>> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE inbound_events SET next_attempt_at = $2 WHERE id IN \
             (SELECT id FROM inbound_events WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3) \
             AND status = 'pending' AND next_attempt_at <= $1 RETURNING id",
        )
        .bind(now)
        .bind(now + lease_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| Ok(EventId::new(r.try_get::<String, _>("id")?)))
            .collect()
    }

    /// Puts a dead event back in the queue with a fresh attempt budget.
    pub async fn retry_event(&self, id: &EventId) -> StoreResult<InboundEventView> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE inbound_events SET status = 'pending', attempts = 0, next_attempt_at = $2, updated_at = $2 WHERE id = $1 AND status = $3",
        )
        .bind(id.as_str())
        .bind(now)
        .bind(InboundStatus::Dead.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let view = self.inbound_event_view(id).await?;
        if done.rows_affected() == 0 && view.status != InboundStatus::Pending {
            return Err(StoreError::Conflict(format!(
                "event is {}; only dead events can be retried",
                view.status
            )));
        }
        Ok(view)
    }

    pub async fn inbound_event_view(&self, id: &EventId) -> StoreResult<InboundEventView> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{EVENT_VIEW_SELECT} WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reader())
        .await?
        .ok_or(StoreError::NotFound)?;
        event_view(&row)
    }

    /// Newest first; `cursor` is the last id of the previous page.
    pub async fn list_inbound_events(
        &self,
        status: Option<InboundStatus>,
        cursor: Option<&EventId>,
        limit: i64,
    ) -> StoreResult<(Vec<InboundEventView>, Option<EventId>)> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{EVENT_VIEW_SELECT} WHERE ($1 = '' OR status = $1) AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
        )))
        .bind(status.map(InboundStatus::as_str).unwrap_or(""))
        .bind(cursor.map(EventId::as_str).unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(self.reader())
        .await?;
        let mut items = rows
            .iter()
            .map(event_view)
            .collect::<StoreResult<Vec<_>>>()?;
        let next = if items.len() as i64 > limit {
            items.truncate(usize::try_from(limit).unwrap_or(0));
            items.last().map(|e| e.id.clone())
        } else {
            None
        };
        Ok((items, next))
    }

    /// Counts by status, for `/metrics`.
    pub async fn inbound_event_counts(
        &self,
    ) -> StoreResult<Vec<(EventSource, InboundStatus, i64)>> {
        let rows = sqlx::query(
            "SELECT source, status, COUNT(*) AS n FROM inbound_events GROUP BY source, status",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let source: String = r.try_get("source")?;
                let status: String = r.try_get("status")?;
                Ok((
                    stored(&source, EventSource::parse, "event source")?,
                    stored(&status, InboundStatus::parse, "event status")?,
                    r.try_get("n")?,
                ))
            })
            .collect()
    }
}

/// One multi-row insert of intake events; returns how many rows went in.
/// Rows are counted, not returned: each `RETURNING` row crossed from SQLite's
/// thread to the writer task on its own, a wake-up per row.
async fn insert_inbound_chunk(
    conn: &mut sqlx::AnyConnection,
    chunk: &[NewInboundEvent],
    now: i64,
    grace_ms: i64,
) -> StoreResult<usize> {
    let sql = format!(
        "INSERT INTO inbound_events (id, source, dedupe_key, content_type, body, status, attempts, received_at, updated_at, next_attempt_at) \
         VALUES {} ON CONFLICT (dedupe_key) DO NOTHING",
        values_rows(3, chunk.len(), 6, "0, $1, $1, $2")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(now + grace_ms);
    for ev in chunk {
        q = q
            .bind(ev.id.as_str())
            .bind(ev.source.as_str())
            .bind(&ev.dedupe_key)
            .bind(ev.content_type.as_deref())
            .bind(ev.body.as_slice())
            .bind(ev.status.as_str());
    }
    let done = q.execute(&mut *conn).await?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
}

const EVENT_VIEW_SELECT: &str = "SELECT id, source, status, attempts, last_error, received_at, processed_at, content_type, LENGTH(body) AS size FROM inbound_events";

fn event_view(row: &sqlx::any::AnyRow) -> StoreResult<InboundEventView> {
    let source: String = row.try_get("source")?;
    let status: String = row.try_get("status")?;
    Ok(InboundEventView {
        id: EventId::new(row.try_get::<String, _>("id")?),
        source: stored(&source, EventSource::parse, "event source")?,
        status: stored(&status, InboundStatus::parse, "event status")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        received_at: row.try_get("received_at")?,
        processed_at: row.try_get("processed_at")?,
        content_type: row.try_get("content_type")?,
        size: row
            .try_get::<i64, _>("size")
            .or_else(|_| row.try_get::<i32, _>("size").map(i64::from))?,
    })
}
