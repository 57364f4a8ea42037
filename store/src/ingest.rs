//! Turning parsed inbound signals into customers, leads, conversations,
//! messages, cards and timeline entries, a batch of events at a time.
//!
//! Round trips are what an event costs (each statement waits on the
//! database), so a batch costs a fixed number of them, not a number per
//! event: one query per kind of natural key reads what the store holds for
//! the whole batch, [`crate::plan`] decides every row as one-by-one
//! processing would, and one multi-row statement per table writes them.
//! Every write is still keyed and every state change conditional, so
//! running a batch twice has no second effect; a plan made stale by another
//! writer (PostgreSQL) shows as fewer rows written than planned, and the
//! batch is rolled back and planned again from fresh reads.

use std::collections::HashSet;

use serde_json::json;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyConnection, Row};

use super::migrate::DEFAULT_PIPELINE_ID;
use super::{
    Engine, INSERT_CHUNK, Store, StoreError, StoreResult, closed_of, id_of, placeholders,
    statement_chunks, values_rows,
};
use crate::with_write_retry;
use crm_domain::card::{CardAt, MoveDecision, TargetStage, decide_move};
use crm_domain::ids::{CardId, CustomerId, PipelineId, StageId};
use crm_domain::matching::KnownCustomer;
use crm_domain::model::{
    Action, DomainEvent, EventKind, IdentityKind, LeadInput, ReceiptInput, StageRef, StatusInput,
};
use crm_domain::plan::{
    IdentityKey, Known, Lookups, Plan, PlannedEvent, TimelineRow, lookups, plan,
};
use crm_domain::rules::{MessageStatus, status_rank};
use crm_domain::util::{new_id, now_ms};

type AnyQuery = sqlx::query::Query<'static, Any, AnyArguments>;

impl Store {
    /// Applies every action of one inbound event and marks the event done, in
    /// one transaction. A failure rolls all of it back.
    pub async fn apply_event(
        &self,
        event_id: &str,
        actions: &[Action],
    ) -> StoreResult<Vec<DomainEvent>> {
        let mut all = self.apply_batch(&[(Some(event_id), actions)]).await?;
        Ok(all.pop().unwrap_or_default())
    }

    /// Group commit for workers: several events' actions and `done` marks in
    /// one transaction. All or nothing; on error the caller falls back to
    /// `apply_event` per event, which isolates the culprit.
    pub async fn apply_events(
        &self,
        batch: &[(String, Vec<Action>)],
    ) -> StoreResult<Vec<Vec<DomainEvent>>> {
        let batch: Vec<(Option<&str>, &[Action])> = batch
            .iter()
            .map(|(id, actions)| (Some(id.as_str()), actions.as_slice()))
            .collect();
        self.apply_batch(&batch).await
    }

    /// One action in its own transaction (no event is marked done).
    pub async fn apply_action(&self, action: &Action) -> StoreResult<Vec<DomainEvent>> {
        let mut all = self
            .apply_batch(&[(None, std::slice::from_ref(action))])
            .await?;
        Ok(all.pop().unwrap_or_default())
    }

    pub async fn apply_lead(&self, lead: &LeadInput) -> StoreResult<Vec<DomainEvent>> {
        self.apply_action(&Action::Lead(lead.clone())).await
    }

    async fn apply_batch(
        &self,
        batch: &[(Option<&str>, &[Action])],
    ) -> StoreResult<Vec<Vec<DomainEvent>>> {
        with_write_retry!(self, |tx| apply_batch_in(&mut tx, self.engine, batch).await)
    }

    /// Moves a customer's card to `stage_id` (on that stage's pipeline), as
    /// `crm_domain::card::decide_move` decides: with `expected_stage_id`
    /// only from that stage (optimistic concurrency).
    pub async fn move_card(
        &self,
        customer_id: &CustomerId,
        stage_id: &StageId,
        expected_stage_id: Option<&StageId>,
        actor: &str,
    ) -> StoreResult<Vec<DomainEvent>> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let stage = sqlx::query("SELECT pipeline_id, name FROM stages WHERE id = $1")
            .bind(stage_id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("unknown stage {stage_id}")))?;
        let target = TargetStage {
            id: stage_id.clone(),
            name: stage.try_get("name")?,
            pipeline_id: id_of(&stage, "pipeline_id", PipelineId::new)?,
        };
        let card = sqlx::query(
            "SELECT id, stage_id FROM cards WHERE customer_id = $1 AND pipeline_id = $2",
        )
        .bind(customer_id.as_str())
        .bind(target.pipeline_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(card) = card else {
            let exists = sqlx::query("SELECT id FROM customers WHERE id = $1")
                .bind(customer_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound);
            }
            return Err(StoreError::Invalid(
                "customer has no card on that pipeline".into(),
            ));
        };
        let card = CardAt {
            card_id: id_of(&card, "id", CardId::new)?,
            stage_id: id_of(&card, "stage_id", StageId::new)?,
        };
        let decision = decide_move(
            customer_id,
            &card,
            &target,
            expected_stage_id,
            actor,
            new_id(),
            now,
        )
        .map_err(|e| StoreError::Conflict(e.to_string()))?;
        let MoveDecision::Move(m) = decision else {
            tx.rollback().await?;
            return Ok(Vec::new());
        };
        let moved = sqlx::query(
            "UPDATE cards SET stage_id = $2, updated_at = $3 WHERE id = $1 AND stage_id = $4",
        )
        .bind(m.card_id.as_str())
        .bind(m.to.as_str())
        .bind(now)
        .bind(m.from.as_str())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Err(StoreError::Conflict("card moved concurrently".into()));
        }
        write_timeline(&mut tx, self.engine, std::slice::from_ref(&m.timeline), now).await?;
        touch_customers(&mut tx, &[customer_id.as_str().to_string()], now).await?;
        tx.commit().await?;
        Ok(vec![m.event])
    }
}

/// Read, plan, write, in the caller's transaction.
async fn apply_batch_in(
    conn: &mut AnyConnection,
    engine: Engine,
    batch: &[(Option<&str>, &[Action])],
) -> StoreResult<Vec<Vec<DomainEvent>>> {
    let actions: Vec<&[Action]> = batch.iter().map(|(_, a)| *a).collect();
    let known = read_known(conn, &lookups(&actions)).await?;
    let now = now_ms();
    let plan = plan(&actions, &known, now)?;
    let written = write_plan(conn, engine, &plan, now).await?;
    let done: Vec<String> = batch
        .iter()
        .filter_map(|(id, _)| id.map(str::to_string))
        .collect();
    update_where_id_in(
        conn,
        "UPDATE inbound_events SET status = 'done', processed_at = $1, updated_at = $1, last_error = NULL WHERE status = 'pending' AND id IN",
        now,
        &done,
    )
    .await?;
    Ok(plan
        .events
        .into_iter()
        .map(|evs| {
            evs.into_iter()
                .flat_map(|e| match e {
                    PlannedEvent::Ready(ev) => vec![ev],
                    PlannedEvent::Duplicate(i) => written
                        .duplicates
                        .get(i)
                        .cloned()
                        .flatten()
                        .into_iter()
                        .collect(),
                    PlannedEvent::Status(i) => written
                        .statuses
                        .get(i)
                        .cloned()
                        .flatten()
                        .into_iter()
                        .collect(),
                    PlannedEvent::Receipt(i) => {
                        written.receipts.get(i).cloned().unwrap_or_default()
                    }
                })
                .collect()
        })
        .collect())
}

/// `(VALUES ($1, $2), ($3, $4), …) AS k` for `rows` keys of `cols` columns,
/// to join a table's natural-key index against (columns `k.column1…`, the
/// names both SQLite and PostgreSQL give). An `OR` of `(a = $1 AND b = $2)`
/// terms says the same, but PostgreSQL factors the common `kind = 'phone'`
/// out of it and scans every phone identity (bench/README.md).
fn keys_table(cols: usize, rows: usize) -> String {
    format!("(VALUES {}) AS k", values_rows(1, rows, cols, ""))
}

/// A `customer_identities` row's (kind, value).
fn identity_key(r: &AnyRow) -> StoreResult<IdentityKey> {
    Ok((
        closed_of(r, "kind", IdentityKind::parse)?,
        r.try_get("value")?,
    ))
}

/// What the store holds for the keys a batch names: one query per kind.
async fn read_known(conn: &mut AnyConnection, want: &Lookups) -> StoreResult<Known> {
    let mut known = Known::default();
    for chunk in want.identities.chunks(INSERT_CHUNK) {
        let sql = format!(
            "SELECT i.kind, i.value, c.id, c.name, c.phone, c.email, c.wa_id FROM {} \
             JOIN customer_identities i ON i.kind = k.column1 AND i.value = k.column2 \
             JOIN customers c ON c.id = i.customer_id",
            keys_table(2, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (kind, value) in chunk {
            q = q.bind(kind.to_string()).bind(value);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let id: String = r.try_get("id")?;
            known.owners.insert(identity_key(&r)?, id.clone());
            known.customers.insert(
                id,
                KnownCustomer {
                    name: r.try_get("name")?,
                    phone: r.try_get("phone")?,
                    email: r.try_get("email")?,
                    wa_id: r.try_get("wa_id")?,
                },
            );
        }
    }
    for chunk in want.messages.chunks(INSERT_CHUNK) {
        let keys = keys_table(2, chunk.len());
        let sql = format!(
            "SELECT 'message' AS what, m.channel, m.external_id, CAST(NULL AS TEXT) AS status, CAST(0 AS BIGINT) AS occurred_at, \
             CAST(NULL AS BIGINT) AS error_code FROM {keys} JOIN messages m ON m.channel = k.column1 AND m.external_id = k.column2 \
             UNION ALL SELECT 'status', s.channel, s.external_id, s.status, s.occurred_at, s.error_code \
             FROM {keys} JOIN message_statuses s ON s.channel = k.column1 AND s.external_id = k.column2"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (channel, external_id) in chunk {
            q = q.bind(channel).bind(external_id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let what: String = r.try_get("what")?;
            let key = (r.try_get("channel")?, r.try_get("external_id")?);
            if what == "message" {
                known.messages.insert(key);
            } else {
                known.early_statuses.entry(key).or_default().push((
                    r.try_get("status")?,
                    r.try_get("occurred_at")?,
                    r.try_get("error_code")?,
                ));
            }
        }
    }
    for chunk in want.leads.chunks(INSERT_CHUNK) {
        let sql = format!(
            "SELECT l.source, l.external_id FROM {} JOIN leads l ON l.source = k.column1 AND l.external_id = k.column2",
            keys_table(2, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (source, external_id) in chunk {
            q = q.bind(source).bind(external_id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            known
                .leads
                .insert((r.try_get("source")?, r.try_get("external_id")?));
        }
    }
    for chunk in want.conversations.chunks(INSERT_CHUNK) {
        let sql = format!(
            "SELECT c.id, c.channel, c.account_id, c.contact_key FROM {} JOIN conversations c \
             ON c.channel = k.column1 AND c.account_id = k.column2 AND c.contact_key = k.column3",
            keys_table(3, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (channel, account, contact) in chunk {
            q = q.bind(channel).bind(account).bind(contact);
        }
        for r in q.fetch_all(&mut *conn).await? {
            known.conversations.insert(
                (
                    r.try_get("channel")?,
                    r.try_get("account_id")?,
                    r.try_get("contact_key")?,
                ),
                r.try_get("id")?,
            );
        }
    }
    if !want.identities.is_empty() {
        let stage = sqlx::query(
            "SELECT id, name FROM stages WHERE pipeline_id = $1 ORDER BY position LIMIT 1",
        )
        .bind(DEFAULT_PIPELINE_ID)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(s) = stage {
            known.first_stage = Some(StageRef {
                id: id_of(&s, "id", StageId::new)?,
                name: s.try_get("name")?,
            });
        }
    }
    Ok(known)
}

/// Runs one multi-row statement per chunk of `rows`: `head` is everything up
/// to `VALUES`, each row binds `cols` parameters after the `shared` ones
/// (`$1…`), `tail` follows the values (`ON CONFLICT …`, `RETURNING …`).
#[allow(clippy::too_many_arguments)]
async fn insert_rows<R>(
    conn: &mut AnyConnection,
    engine: Engine,
    head: &str,
    row_tail: &str,
    tail: &str,
    shared: &(dyn Fn(AnyQuery) -> AnyQuery + Sync),
    (shared_n, cols): (usize, usize),
    rows: &[R],
    size: impl Fn(&R) -> usize,
    bind: impl Fn(AnyQuery, &R) -> AnyQuery,
) -> StoreResult<Vec<AnyRow>> {
    let mut out = Vec::new();
    for chunk in statement_chunks(rows, engine.statement_bytes(), &size) {
        let sql = format!(
            "{head} VALUES {} {tail}",
            values_rows(shared_n + 1, chunk.len(), cols, row_tail)
        );
        let mut q = shared(sqlx::query(sqlx::AssertSqlSafe(sql)));
        for r in chunk {
            q = bind(q, r);
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// What conditional writes did: which planned events exist.
struct Written {
    duplicates: Vec<Option<DomainEvent>>,
    statuses: Vec<Option<DomainEvent>>,
    receipts: Vec<Vec<DomainEvent>>,
}

fn stale(what: &str) -> StoreError {
    tracing::debug!(
        what,
        "plan went stale under a concurrent writer; planning again"
    );
    StoreError::Retry
}

async fn write_plan(
    conn: &mut AnyConnection,
    engine: Engine,
    p: &Plan,
    now: i64,
) -> StoreResult<Written> {
    let str_len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    insert_rows(
        conn,
        engine,
        "INSERT INTO customers (id, name, phone, email, wa_id, created_at, updated_at)",
        "$1, $1",
        "ON CONFLICT (id) DO UPDATE SET name = COALESCE(customers.name, excluded.name), \
         phone = COALESCE(customers.phone, excluded.phone), email = COALESCE(customers.email, excluded.email), \
         wa_id = COALESCE(customers.wa_id, excluded.wa_id), updated_at = excluded.updated_at",
        &|q| q.bind(now),
        (1, 5),
        &p.customers,
        |c| 64 + str_len(&c.fields.name) + str_len(&c.fields.email),
        |q, c| {
            let f = &c.fields;
            q.bind(c.id.clone())
                .bind(f.name.clone())
                .bind(f.phone.clone())
                .bind(f.email.clone())
                .bind(f.wa_id.clone())
        },
    )
    .await?;
    write_search_tokens(conn, engine, &p.search).await?;
    let claimed: HashSet<IdentityKey> = insert_rows(
        conn,
        engine,
        "INSERT INTO customer_identities (kind, value, customer_id, created_at)",
        "$1",
        "ON CONFLICT (kind, value) DO NOTHING RETURNING kind, value",
        &|q| q.bind(now),
        (1, 3),
        &p.identities,
        |i| 48 + i.value.len(),
        |q, i| {
            q.bind(i.kind.to_string())
                .bind(i.value.clone())
                .bind(i.customer_id.clone())
        },
    )
    .await?
    .iter()
    .map(identity_key)
    .collect::<StoreResult<_>>()?;
    if p.identities
        .iter()
        .any(|i| i.must_claim && !claimed.contains(&(i.kind.clone(), i.value.clone())))
    {
        // Someone else created this person since our read.
        return Err(stale("identity"));
    }
    insert_rows(
        conn,
        engine,
        "INSERT INTO cards (id, customer_id, stage_id, pipeline_id, created_at, updated_at)",
        "$2, $1, $1",
        "ON CONFLICT (customer_id, pipeline_id) DO NOTHING",
        &|q| q.bind(now).bind(DEFAULT_PIPELINE_ID),
        (2, 3),
        &p.cards,
        |_| 96,
        |q, c| {
            q.bind(c.id.clone())
                .bind(c.customer_id.clone())
                .bind(c.stage_id.clone())
        },
    )
    .await?;
    let recorded: HashSet<(String, String)> = insert_rows(
        conn,
        engine,
        "INSERT INTO possible_duplicates (id, customer_id, other_customer_id, reason, status, created_at)",
        "$2, 'open', $1",
        "ON CONFLICT (customer_id, other_customer_id) DO NOTHING RETURNING customer_id, other_customer_id",
        &|q| {
            q.bind(now)
                .bind("phone matches this customer, e-mail matches the other")
        },
        (2, 3),
        &p.duplicates,
        |_| 96,
        |q, d| {
            q.bind(d.id.clone())
                .bind(d.customer_id.clone())
                .bind(d.other_customer_id.clone())
        },
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("customer_id")?, r.try_get("other_customer_id")?)))
    .collect::<StoreResult<_>>()?;
    let conversations = insert_rows(
        conn,
        engine,
        "INSERT INTO conversations (id, customer_id, channel, account_id, contact_key, last_message_at, created_at)",
        "$1",
        "ON CONFLICT (channel, account_id, contact_key) DO UPDATE SET last_message_at = \
         CASE WHEN excluded.last_message_at > conversations.last_message_at THEN excluded.last_message_at ELSE conversations.last_message_at END \
         RETURNING id",
        &|q| q.bind(now),
        (1, 6),
        &p.conversations,
        |c| 96 + c.key.2.len(),
        |q, c| {
            q.bind(c.id.clone())
                .bind(c.customer_id.clone())
                .bind(c.key.0.clone())
                .bind(c.key.1.clone())
                .bind(c.key.2.clone())
                .bind(c.last_message_at)
        },
    )
    .await?;
    let ids: HashSet<String> = conversations
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    if p.conversations.iter().any(|c| !ids.contains(&c.id)) {
        return Err(stale("conversation"));
    }
    let messages = insert_rows(
        conn,
        engine,
        "INSERT INTO messages (id, conversation_id, channel, external_id, direction, kind, body, payload, \
         status, status_rank, status_at, error_code, sent_at, created_at)",
        "$1",
        "ON CONFLICT (channel, external_id) DO NOTHING RETURNING id",
        &|q| q.bind(now),
        (1, 13),
        &p.messages,
        |m| 160 + m.payload.len() + str_len(&m.body),
        |q, m| {
            let s = m.status.as_ref();
            q.bind(m.id.clone())
                .bind(m.conversation_id.clone())
                .bind(m.channel.as_str())
                .bind(m.external_id.clone())
                .bind(m.direction.as_str())
                .bind(m.kind.clone())
                .bind(m.body.clone())
                .bind(m.payload.clone())
                .bind(s.map(|s| s.status.clone()))
                .bind(s.map_or(0, |s| s.rank))
                .bind(s.map(|s| s.at))
                .bind(s.and_then(|s| s.error_code))
                .bind(m.sent_at)
        },
    )
    .await?;
    if messages.len() < p.messages.len() {
        return Err(stale("message"));
    }
    let leads = insert_rows(
        conn,
        engine,
        "INSERT INTO leads (id, customer_id, source, external_id, event_id, received_at, name, phone, email, message, \
         utm_source, utm_medium, utm_campaign, utm_content, utm_term, campaign_id, campaign_name, adset_id, adset_name, \
         ad_id, ad_name, form_id, page_id, ctwa_clid, fbclid, gclid, consent, answers)",
        "",
        "ON CONFLICT (source, external_id) DO NOTHING RETURNING id",
        &|q| q,
        (0, 28),
        &p.leads,
        |l| 512 + l.lead.answers.to_string().len(),
        |q, row| {
            let l = &row.lead;
            let a = &l.attribution;
            q.bind(row.id.clone())
                .bind(row.customer_id.clone())
                .bind(l.source.clone())
                .bind(l.external_id.clone())
                .bind(l.event_id.clone())
                .bind(l.received_at)
                .bind(l.contact.name.clone())
                .bind(l.contact.phone.as_ref().map(|p| p.as_str().to_string()))
                .bind(l.contact.email.clone())
                .bind(l.message.clone())
                .bind(a.utm_source.clone())
                .bind(a.utm_medium.clone())
                .bind(a.utm_campaign.clone())
                .bind(a.utm_content.clone())
                .bind(a.utm_term.clone())
                .bind(a.campaign_id.clone())
                .bind(a.campaign_name.clone())
                .bind(a.adset_id.clone())
                .bind(a.adset_name.clone())
                .bind(a.ad_id.clone())
                .bind(a.ad_name.clone())
                .bind(a.form_id.clone())
                .bind(a.page_id.clone())
                .bind(a.ctwa_clid.clone())
                .bind(a.fbclid.clone())
                .bind(a.gclid.clone())
                .bind(l.consent.map(i64::from))
                .bind(l.answers.to_string())
        },
    )
    .await?;
    if leads.len() < p.leads.len() {
        return Err(stale("lead"));
    }
    let statuses = apply_statuses(conn, engine, &p.statuses, now).await?;
    let mut receipts = Vec::with_capacity(p.receipts.len());
    for r in &p.receipts {
        receipts.push(apply_receipt(conn, r, now).await?);
    }
    write_timeline(conn, engine, &p.timeline, now).await?;
    touch_customers(conn, &p.touched, now).await?;
    let duplicates = p
        .duplicates
        .iter()
        .map(|d| {
            recorded
                .contains(&(d.customer_id.clone(), d.other_customer_id.clone()))
                .then(|| {
                    DomainEvent::new(
                        EventKind::CustomerPossibleDuplicate,
                        Some(&d.customer_id),
                        json!({"other_customer_id": d.other_customer_id}),
                    )
                })
        })
        .collect();
    Ok(Written {
        duplicates,
        statuses,
        receipts,
    })
}

/// Stores every delivery status (once per message and status, even for
/// messages not seen yet), then moves each known message forward only: a
/// `message.status` event for each one that moved.
async fn apply_statuses(
    conn: &mut AnyConnection,
    engine: Engine,
    statuses: &[StatusInput],
    now: i64,
) -> StoreResult<Vec<Option<DomainEvent>>> {
    insert_rows(
        conn,
        engine,
        "INSERT INTO message_statuses (channel, external_id, status, occurred_at, error_code, payload, created_at)",
        "$1",
        "ON CONFLICT (channel, external_id, status) DO NOTHING",
        &|q| q.bind(now),
        (1, 6),
        statuses,
        |s| 96 + s.payload.to_string().len(),
        |q, s| {
            q.bind(s.channel.as_str())
                .bind(s.external_id.clone())
                .bind(s.status.clone())
                .bind(s.occurred_at)
                .bind(s.error_code)
                .bind(s.payload.to_string())
        },
    )
    .await?;
    let mut out = Vec::with_capacity(statuses.len());
    for st in statuses {
        let Some(rank) = status_rank(&st.status) else {
            out.push(None);
            continue;
        };
        let moved = sqlx::query(
            "UPDATE messages SET status = $3, status_rank = $4, status_at = $5, error_code = COALESCE($6, error_code) \
             WHERE channel = $1 AND external_id = $2 AND status_rank < $4 \
             RETURNING id, conversation_id, (SELECT customer_id FROM conversations WHERE conversations.id = messages.conversation_id) AS customer_id",
        )
        .bind(st.channel.as_str())
        .bind(&st.external_id)
        .bind(&st.status)
        .bind(rank)
        .bind(st.occurred_at)
        .bind(st.error_code)
        .fetch_optional(&mut *conn)
        .await?;
        out.push(match moved {
            Some(row) => {
                let message_id: String = row.try_get("id")?;
                let conversation_id: String = row.try_get("conversation_id")?;
                let customer_id: Option<String> = row.try_get("customer_id")?;
                Some(DomainEvent::new(
                    EventKind::MessageStatus,
                    customer_id.as_deref(),
                    json!({"message_id": message_id, "conversation_id": conversation_id, "status": st.status, "error_code": st.error_code}),
                ))
            }
            None => None,
        });
    }
    Ok(out)
}

/// Moves every outbound message of the receipt's thread sent up to its
/// watermark forward to its status (never back): one `message.status` event
/// per message that moved. Each covered message that has not failed gets
/// the receipt's status in its history once, as a WhatsApp status would
/// write it, even when the message is already past it (a read receipt that
/// came before the delivery one).
async fn apply_receipt(
    conn: &mut AnyConnection,
    r: &ReceiptInput,
    now: i64,
) -> StoreResult<Vec<DomainEvent>> {
    let rank = r.status.rank();
    let payload = json!({"watermark": r.up_to}).to_string();
    // The WHERE clause also keeps SQLite from reading ON CONFLICT as a join.
    sqlx::query(
        "INSERT INTO message_statuses (channel, external_id, status, occurred_at, error_code, payload, created_at) \
         SELECT m.channel, m.external_id, $1, $2, NULL, $3, $4 FROM messages m \
         WHERE m.conversation_id IN (SELECT id FROM conversations WHERE channel = $5 AND account_id = $6 AND contact_key = $7) \
         AND m.direction = 'outbound' AND m.sent_at <= $8 AND m.status_rank < $9 \
         ON CONFLICT (channel, external_id, status) DO NOTHING",
    )
    .bind(r.status.as_str())
    .bind(r.occurred_at)
    .bind(payload)
    .bind(now)
    .bind(r.channel.as_str())
    .bind(&r.account_id)
    .bind(&r.contact_key)
    .bind(r.up_to)
    .bind(MessageStatus::Failed.rank())
    .execute(&mut *conn)
    .await?;
    let moved = sqlx::query(
        "UPDATE messages SET status = $1, status_rank = $2, status_at = $3 \
         WHERE conversation_id IN (SELECT id FROM conversations WHERE channel = $4 AND account_id = $5 AND contact_key = $6) \
         AND direction = 'outbound' AND sent_at <= $7 AND status_rank < $2 \
         RETURNING id, conversation_id, (SELECT customer_id FROM conversations WHERE conversations.id = messages.conversation_id) AS customer_id",
    )
    .bind(r.status.as_str())
    .bind(rank)
    .bind(r.occurred_at)
    .bind(r.channel.as_str())
    .bind(&r.account_id)
    .bind(&r.contact_key)
    .bind(r.up_to)
    .fetch_all(&mut *conn)
    .await?;
    moved
        .iter()
        .map(|row| {
            let message_id: String = row.try_get("id")?;
            let conversation_id: String = row.try_get("conversation_id")?;
            let customer_id: Option<String> = row.try_get("customer_id")?;
            Ok(DomainEvent::new(
                EventKind::MessageStatus,
                customer_id.as_deref(),
                json!({"message_id": message_id, "conversation_id": conversation_id, "status": r.status, "error_code": null}),
            ))
        })
        .collect()
}

pub(crate) async fn write_timeline(
    conn: &mut AnyConnection,
    engine: Engine,
    rows: &[TimelineRow],
    now: i64,
) -> StoreResult<()> {
    insert_rows(
        conn,
        engine,
        "INSERT INTO timeline (id, customer_id, kind, natural_key, summary, data, occurred_at, created_at)",
        "$1",
        "ON CONFLICT (kind, natural_key) DO NOTHING",
        &|q| q.bind(now),
        (1, 7),
        rows,
        |t| 96 + t.data.len() + t.natural_key.len() + t.summary.as_ref().map_or(0, String::len),
        |q, t| {
            q.bind(new_id())
                .bind(t.customer_id.clone())
                .bind(t.kind)
                .bind(t.natural_key.clone())
                .bind(t.summary.clone())
                .bind(t.data.clone())
                .bind(t.occurred_at)
        },
    )
    .await?;
    Ok(())
}

/// Search tokens, `(token, customer_id)`; a token a customer has is kept.
pub(crate) async fn write_search_tokens(
    conn: &mut AnyConnection,
    engine: Engine,
    rows: &[(String, String)],
) -> StoreResult<()> {
    insert_rows(
        conn,
        engine,
        "INSERT INTO customer_search (token, customer_id)",
        "",
        "ON CONFLICT (token, customer_id) DO NOTHING",
        &|q| q,
        (0, 2),
        rows,
        |(t, _)| 32 + t.len(),
        |q, (t, c)| q.bind(t.clone()).bind(c.clone()),
    )
    .await?;
    Ok(())
}

/// Marks customers active now.
async fn touch_customers(conn: &mut AnyConnection, ids: &[String], now: i64) -> StoreResult<()> {
    update_where_id_in(
        conn,
        "UPDATE customers SET updated_at = $1 WHERE id IN",
        now,
        ids,
    )
    .await
}

/// `{head} ($2, …)` with `$1` = `now`, a chunk of ids at a time.
async fn update_where_id_in(
    conn: &mut AnyConnection,
    head: &str,
    now: i64,
    ids: &[String],
) -> StoreResult<()> {
    for chunk in ids.chunks(INSERT_CHUNK) {
        let sql = format!("{head} ({})", placeholders(2, chunk.len()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        for id in chunk {
            q = q.bind(id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
