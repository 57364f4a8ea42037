//! Turning parsed inbound signals into customers, leads, conversations,
//! messages, cards and timeline entries. Every write is keyed by a natural key
//! and every state change is conditional, so running any of these twice has no
//! second effect.
//!
//! Round trips are what an event costs (each statement waits on the database),
//! so each step asks one question: one query finds every identity of a contact
//! with its customer, one finds a message or its early statuses, and writes
//! that nothing later in the transaction reads (timeline entries, `done`
//! marks, activity times) are collected and written once per transaction.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::migrate::DEFAULT_PIPELINE_ID;
use super::{
    Engine, INSERT_CHUNK, Store, StoreError, StoreResult, placeholders, statement_chunks,
    values_rows,
};
use crate::identity::{KnownCustomer, MatchDecision, decide_match, fields_to_fill, pick_matches};
use crate::model::{
    Action, ContactInput, DomainEvent, LeadInput, MessageInput, StageRef, StatusInput,
};
use crate::rules::{best_status, status_rank};
use crate::util::{new_id, now_ms};
use crate::with_write_retry;

/// Who an inbound signal turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub customer_id: String,
    pub created: bool,
}

struct TimelineRow {
    customer_id: String,
    kind: &'static str,
    natural_key: String,
    summary: Option<String>,
    data: String,
    occurred_at: i64,
}

/// Writes nothing later in the same transaction reads, collected while it runs
/// and written with one multi-row statement each by `flush`, just before the
/// commit. Also memoises what is read once per transaction.
#[derive(Default)]
pub(crate) struct Deferred {
    timeline: Vec<TimelineRow>,
    done: Vec<String>,
    touched: Vec<String>,
    first_stage: Option<Option<StageRef>>,
}

impl Deferred {
    fn timeline(
        &mut self,
        customer_id: &str,
        kind: &'static str,
        natural_key: String,
        summary: Option<String>,
        data: &serde_json::Value,
        occurred_at: i64,
    ) {
        self.timeline.push(TimelineRow {
            customer_id: customer_id.to_string(),
            kind,
            natural_key,
            summary,
            data: data.to_string(),
            occurred_at,
        });
    }

    /// The first stage of the default pipeline, read once per transaction.
    async fn first_stage(&mut self, conn: &mut AnyConnection) -> StoreResult<Option<StageRef>> {
        if let Some(stage) = &self.first_stage {
            return Ok(stage.clone());
        }
        let row = sqlx::query(
            "SELECT id, name FROM stages WHERE pipeline_id = $1 ORDER BY position LIMIT 1",
        )
        .bind(DEFAULT_PIPELINE_ID)
        .fetch_optional(&mut *conn)
        .await?;
        let stage = match row {
            Some(r) => Some(StageRef {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
            }),
            None => None,
        };
        self.first_stage = Some(stage.clone());
        Ok(stage)
    }

    pub(crate) async fn flush(self, conn: &mut AnyConnection, engine: Engine) -> StoreResult<()> {
        let now = now_ms();
        let size = |t: &TimelineRow| {
            t.data.len() + t.natural_key.len() + t.summary.as_ref().map_or(0, String::len) + 96
        };
        for chunk in statement_chunks(&self.timeline, engine.statement_bytes(), size) {
            let sql = format!(
                "INSERT INTO timeline (id, customer_id, kind, natural_key, summary, data, occurred_at, created_at) \
                 VALUES {} ON CONFLICT (kind, natural_key) DO NOTHING",
                values_rows(2, chunk.len(), 7, "$1")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            for t in chunk {
                q = q
                    .bind(new_id())
                    .bind(&t.customer_id)
                    .bind(t.kind)
                    .bind(&t.natural_key)
                    .bind(t.summary.as_deref())
                    .bind(&t.data)
                    .bind(t.occurred_at);
            }
            q.execute(&mut *conn).await?;
        }
        update_where_id_in(
            conn,
            "UPDATE inbound_events SET status = 'done', processed_at = $1, updated_at = $1, last_error = NULL WHERE status = 'pending' AND id IN",
            now,
            &self.done,
        )
        .await?;
        let mut touched = self.touched;
        touched.sort_unstable();
        touched.dedup();
        update_where_id_in(
            conn,
            "UPDATE customers SET updated_at = $1 WHERE id IN",
            now,
            &touched,
        )
        .await
    }
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

impl Store {
    /// Applies every action of one inbound event and marks the event done, in
    /// one transaction: one commit per event on the hot path. A failure rolls
    /// all of it back; the caller then applies item by item to isolate it.
    pub async fn apply_event(
        &self,
        event_id: &str,
        actions: &[Action],
    ) -> StoreResult<Vec<DomainEvent>> {
        let mut all = self
            .apply_events(&[(event_id.to_string(), actions.to_vec())], None)
            .await?;
        Ok(all.pop().unwrap_or_default())
    }

    /// Group commit for workers: several events' actions and `done` marks in
    /// one transaction, all or nothing; on error the caller falls back to
    /// `apply_event` per event, which isolates the culprit. With a `budget`,
    /// no further event starts once the transaction has run that long while
    /// another transaction waits to write (intake, on SQLite's single
    /// writer): the result then covers a prefix of `batch`, at least one event.
    pub async fn apply_events(
        &self,
        batch: &[(String, Vec<Action>)],
        budget: Option<Duration>,
    ) -> StoreResult<Vec<Vec<DomainEvent>>> {
        with_write_retry!(self, |tx| {
            let started = Instant::now();
            let mut deferred = Deferred::default();
            let mut all = Vec::with_capacity(batch.len());
            let mut result = Ok(());
            'events: for (event_id, actions) in batch {
                if !all.is_empty()
                    && budget.is_some_and(|b| started.elapsed() >= b)
                    && self.write_wanted()
                {
                    break;
                }
                let mut events = Vec::new();
                for a in actions {
                    result = apply_action_in(&mut tx, &mut deferred, a, &mut events).await;
                    if result.is_err() {
                        break 'events;
                    }
                }
                deferred.done.push(event_id.clone());
                all.push(events);
            }
            match result {
                Ok(()) => deferred.flush(&mut tx, self.engine).await.map(|_| all),
                Err(e) => Err(e),
            }
        })
    }

    /// One action in its own transaction.
    pub async fn apply_action(&self, action: &Action) -> StoreResult<Vec<DomainEvent>> {
        with_write_retry!(self, |tx| {
            let mut deferred = Deferred::default();
            let mut events = Vec::new();
            match apply_action_in(&mut tx, &mut deferred, action, &mut events).await {
                Ok(()) => deferred.flush(&mut tx, self.engine).await.map(|_| events),
                Err(e) => Err(e),
            }
        })
    }

    pub async fn apply_lead(&self, lead: &LeadInput) -> StoreResult<Vec<DomainEvent>> {
        self.apply_action(&Action::Lead(lead.clone())).await
    }

    pub async fn apply_message(&self, msg: &MessageInput) -> StoreResult<Vec<DomainEvent>> {
        self.apply_action(&Action::Message(msg.clone())).await
    }

    pub async fn apply_status(&self, st: &StatusInput) -> StoreResult<Vec<DomainEvent>> {
        self.apply_action(&Action::Status(st.clone())).await
    }

    /// Moves a customer's card on the default pipeline. With `expected_stage_id`
    /// the move only happens from that stage (optimistic concurrency).
    pub async fn move_card(
        &self,
        customer_id: &str,
        stage_id: &str,
        expected_stage_id: Option<&str>,
        actor: &str,
    ) -> StoreResult<Vec<DomainEvent>> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let stage = sqlx::query("SELECT pipeline_id, name FROM stages WHERE id = $1")
            .bind(stage_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("unknown stage {stage_id}")))?;
        let pipeline_id: String = stage.try_get("pipeline_id")?;
        let stage_name: String = stage.try_get("name")?;
        let card = sqlx::query(
            "SELECT id, stage_id FROM cards WHERE customer_id = $1 AND pipeline_id = $2",
        )
        .bind(customer_id)
        .bind(&pipeline_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(card) = card else {
            let exists = sqlx::query("SELECT id FROM customers WHERE id = $1")
                .bind(customer_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound);
            }
            return Err(StoreError::Invalid(
                "customer has no card on that pipeline".into(),
            ));
        };
        let card_id: String = card.try_get("id")?;
        let from: String = card.try_get("stage_id")?;
        if let Some(expected) = expected_stage_id
            && expected != from
        {
            return Err(StoreError::Conflict(format!(
                "card is in stage {from}, not {expected}"
            )));
        }
        if from == stage_id {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        let moved = sqlx::query(
            "UPDATE cards SET stage_id = $2, updated_at = $3 WHERE id = $1 AND stage_id = $4",
        )
        .bind(&card_id)
        .bind(stage_id)
        .bind(now)
        .bind(&from)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Err(StoreError::Conflict("card moved concurrently".into()));
        }
        let data = json!({"card_id": card_id, "from_stage_id": from, "to_stage_id": stage_id, "to_stage_name": stage_name, "by": actor});
        let mut deferred = Deferred::default();
        deferred.timeline(
            customer_id,
            "card.moved",
            new_id(),
            Some(format!("Moved to {stage_name}")),
            &data,
            now,
        );
        deferred.touched.push(customer_id.to_string());
        deferred.flush(&mut tx, self.engine).await?;
        tx.commit().await?;
        let mut ev = DomainEvent::new("card.moved", Some(customer_id), data);
        ev.pipeline_id = Some(pipeline_id);
        Ok(vec![ev])
    }
}

async fn apply_action_in(
    conn: &mut AnyConnection,
    deferred: &mut Deferred,
    action: &Action,
    events: &mut Vec<DomainEvent>,
) -> StoreResult<()> {
    match action {
        Action::Lead(l) => apply_lead_in(conn, deferred, l, events).await.map(|_| ()),
        Action::Message(m) => apply_message_in(conn, deferred, m, events).await,
        Action::Status(s) => apply_status_in(conn, s, events).await,
    }
}

/// Every natural key of a contact, most specific first, each once.
fn identity_keys(c: &ContactInput) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    if let Some((kind, value)) = &c.channel_identity {
        keys.push((kind.clone(), value.clone()));
    }
    if let Some(p) = &c.phone {
        for k in crate::identity::phone_match_keys(p) {
            keys.push(("phone".to_string(), k));
        }
    }
    if let Some(e) = &c.email {
        keys.push(("email".to_string(), e.clone()));
    }
    let mut seen = HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    keys
}

/// The customers these keys already belong to, in one query: owner by key,
/// and what each owner's record holds (to tell whether it needs filling).
async fn find_identities(
    conn: &mut AnyConnection,
    keys: &[(String, String)],
) -> StoreResult<(
    HashMap<(String, String), String>,
    HashMap<String, KnownCustomer>,
)> {
    let terms: Vec<String> = (0..keys.len())
        .map(|i| format!("(i.kind = ${} AND i.value = ${})", 2 * i + 1, 2 * i + 2))
        .collect();
    let sql = format!(
        "SELECT i.kind, i.value, c.id, c.name, c.phone, c.email, c.wa_id FROM customer_identities i \
         JOIN customers c ON c.id = i.customer_id WHERE {}",
        terms.join(" OR ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (kind, value) in keys {
        q = q.bind(kind).bind(value);
    }
    let mut owners = HashMap::new();
    let mut customers = HashMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        let id: String = r.try_get("id")?;
        owners.insert((r.try_get("kind")?, r.try_get("value")?), id.clone());
        customers.insert(
            id,
            KnownCustomer {
                name: r.try_get("name")?,
                phone: r.try_get("phone")?,
                email: r.try_get("email")?,
                wa_id: r.try_get("wa_id")?,
            },
        );
    }
    Ok((owners, customers))
}

/// Claims identity keys for a customer; returns the keys it got (a key
/// already owned stays with its owner).
async fn insert_identities(
    conn: &mut AnyConnection,
    keys: &[&(String, String)],
    customer_id: &str,
    now: i64,
) -> StoreResult<usize> {
    if keys.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "INSERT INTO customer_identities (kind, value, customer_id, created_at) VALUES {} \
         ON CONFLICT (kind, value) DO NOTHING RETURNING kind",
        values_rows(3, keys.len(), 2, "$1, $2")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(customer_id)
        .bind(now);
    for (kind, value) in keys {
        q = q.bind(kind).bind(value);
    }
    Ok(q.fetch_all(&mut *conn).await?.len())
}

/// Creates a customer, or fills the empty fields of an existing one (what
/// staff or an earlier lead recorded is never overwritten) and marks it active.
async fn upsert_customer(
    conn: &mut AnyConnection,
    id: &str,
    c: &ContactInput,
    phone: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO customers (id, name, phone, email, wa_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (id) DO UPDATE SET name = COALESCE(customers.name, excluded.name), phone = COALESCE(customers.phone, excluded.phone), \
         email = COALESCE(customers.email, excluded.email), wa_id = COALESCE(customers.wa_id, excluded.wa_id), updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(c.name.as_deref())
    .bind(phone)
    .bind(c.email.as_deref())
    .bind(c.wa_id.as_deref())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Finds the customer an inbound contact belongs to, or creates one (with its
/// card on the default pipeline's first stage). Phone and e-mail pointing at
/// two different customers attach to the phone match and record a possible
/// duplicate for a person to review; nothing is merged silently.
async fn resolve_customer(
    conn: &mut AnyConnection,
    deferred: &mut Deferred,
    c: &ContactInput,
    now: i64,
    events: &mut Vec<DomainEvent>,
) -> StoreResult<Resolved> {
    let keys = identity_keys(c);
    if keys.is_empty() {
        return Err(StoreError::Invalid(
            "contact has no phone, e-mail or channel id".into(),
        ));
    }
    let (owners, known) = find_identities(conn, &keys).await?;
    let (by_phone, by_email, by_channel) = pick_matches(&keys, &owners);
    let phone_text = c.phone.as_ref().map(|p| p.as_str().to_string());
    let (customer_id, email_match) = match decide_match(by_phone, by_email, by_channel) {
        MatchDecision::New => {
            let id = new_id();
            upsert_customer(conn, &id, c, phone_text.as_deref(), now).await?;
            let all: Vec<&(String, String)> = keys.iter().collect();
            if insert_identities(conn, &all, &id, now).await? < all.len() {
                // Someone else created this person since our lookup.
                return Err(StoreError::Retry);
            }
            let mut stage_json = serde_json::Value::Null;
            if let Some(stage) = deferred.first_stage(conn).await? {
                sqlx::query(
                    "INSERT INTO cards (id, customer_id, pipeline_id, stage_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (customer_id, pipeline_id) DO NOTHING",
                )
                .bind(new_id())
                .bind(&id)
                .bind(DEFAULT_PIPELINE_ID)
                .bind(&stage.id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                stage_json = json!({"id": stage.id, "name": stage.name});
            }
            let data = json!({"name": c.name, "stage": stage_json});
            deferred.timeline(
                &id,
                "customer.created",
                id.clone(),
                Some("Customer created".into()),
                &data,
                now,
            );
            let mut ev = DomainEvent::new("customer.created", Some(&id), data);
            ev.pipeline_id = Some(DEFAULT_PIPELINE_ID.to_string());
            events.push(ev);
            return Ok(Resolved {
                customer_id: id,
                created: true,
            });
        }
        MatchDecision::Existing(id) => (id, None),
        MatchDecision::ConflictUsePhone {
            phone_match,
            email_match,
        } => (phone_match, Some(email_match)),
    };
    // A returning customer: fill what we did not know (never overwrite what
    // staff or an earlier lead recorded) and add the keys nobody owns yet.
    let filled = known
        .get(&customer_id)
        .is_none_or(|k| fields_to_fill(k, c, phone_text.as_deref()));
    if filled {
        upsert_customer(conn, &customer_id, c, phone_text.as_deref(), now).await?;
    } else {
        deferred.touched.push(customer_id.clone());
    }
    let unowned: Vec<&(String, String)> =
        keys.iter().filter(|k| !owners.contains_key(*k)).collect();
    insert_identities(conn, &unowned, &customer_id, now).await?;
    if let Some(email_match) = email_match {
        let recorded = sqlx::query(
            "INSERT INTO possible_duplicates (id, customer_id, other_customer_id, reason, status, created_at) VALUES ($1, $2, $3, $4, 'open', $5) ON CONFLICT (customer_id, other_customer_id) DO NOTHING",
        )
        .bind(new_id())
        .bind(&customer_id)
        .bind(&email_match)
        .bind("phone matches this customer, e-mail matches the other")
        .bind(now)
        .execute(&mut *conn)
        .await?;
        if recorded.rows_affected() == 1 {
            let data = json!({"other_customer_id": email_match});
            events.push(DomainEvent::new(
                "customer.possible_duplicate",
                Some(&customer_id),
                data,
            ));
        }
    }
    Ok(Resolved {
        customer_id,
        created: false,
    })
}

async fn apply_lead_in(
    conn: &mut AnyConnection,
    deferred: &mut Deferred,
    lead: &LeadInput,
    events: &mut Vec<DomainEvent>,
) -> StoreResult<Option<String>> {
    let existing = sqlx::query("SELECT id FROM leads WHERE source = $1 AND external_id = $2")
        .bind(&lead.source)
        .bind(&lead.external_id)
        .fetch_optional(&mut *conn)
        .await?;
    if existing.is_some() {
        return Ok(None);
    }
    let now = now_ms();
    let who = resolve_customer(conn, deferred, &lead.contact, now, events).await?;
    let id = new_id();
    let a = &lead.attribution;
    let inserted = sqlx::query(
        "INSERT INTO leads (id, customer_id, source, external_id, event_id, received_at, name, phone, email, message, \
         utm_source, utm_medium, utm_campaign, utm_content, utm_term, campaign_id, campaign_name, adset_id, adset_name, \
         ad_id, ad_name, form_id, page_id, ctwa_clid, fbclid, gclid, consent, answers) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28) \
         ON CONFLICT (source, external_id) DO NOTHING",
    )
    .bind(&id)
    .bind(&who.customer_id)
    .bind(&lead.source)
    .bind(&lead.external_id)
    .bind(lead.event_id.as_deref())
    .bind(lead.received_at)
    .bind(lead.contact.name.as_deref())
    .bind(lead.contact.phone.as_ref().map(|p| p.as_str()))
    .bind(lead.contact.email.as_deref())
    .bind(lead.message.as_deref())
    .bind(a.utm_source.as_deref())
    .bind(a.utm_medium.as_deref())
    .bind(a.utm_campaign.as_deref())
    .bind(a.utm_content.as_deref())
    .bind(a.utm_term.as_deref())
    .bind(a.campaign_id.as_deref())
    .bind(a.campaign_name.as_deref())
    .bind(a.adset_id.as_deref())
    .bind(a.adset_name.as_deref())
    .bind(a.ad_id.as_deref())
    .bind(a.ad_name.as_deref())
    .bind(a.form_id.as_deref())
    .bind(a.page_id.as_deref())
    .bind(a.ctwa_clid.as_deref())
    .bind(a.fbclid.as_deref())
    .bind(a.gclid.as_deref())
    .bind(lead.consent.map(i64::from))
    .bind(lead.answers.to_string())
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Retry);
    }
    let natural = format!("{}:{}", lead.source, lead.external_id);
    let data = json!({"lead_id": id, "source": lead.source, "campaign_id": a.campaign_id, "utm_campaign": a.utm_campaign, "ad_id": a.ad_id});
    let (kind, summary) = if who.created {
        ("lead.received", format!("New lead via {}", lead.source))
    } else {
        (
            "lead.reapplied",
            format!("Re-application via {}", lead.source),
        )
    };
    deferred.timeline(
        &who.customer_id,
        kind,
        natural,
        Some(summary),
        &data,
        lead.received_at,
    );
    events.push(DomainEvent::new(
        "lead.received",
        Some(&who.customer_id),
        json!({"lead_id": id, "source": lead.source, "returning": !who.created}),
    ));
    Ok(Some(id))
}

async fn apply_message_in(
    conn: &mut AnyConnection,
    deferred: &mut Deferred,
    msg: &MessageInput,
    events: &mut Vec<DomainEvent>,
) -> StoreResult<()> {
    // One question: is the message known, and which statuses came before it
    // (out-of-order webhooks)?
    let seen = sqlx::query(
        "SELECT 'message' AS what, id AS status, CAST(0 AS BIGINT) AS occurred_at, CAST(NULL AS BIGINT) AS error_code \
         FROM messages WHERE channel = $1 AND external_id = $2 \
         UNION ALL SELECT 'status', status, occurred_at, error_code FROM message_statuses WHERE channel = $1 AND external_id = $2",
    )
    .bind(&msg.channel)
    .bind(&msg.external_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut early = Vec::with_capacity(seen.len());
    for r in &seen {
        let what: String = r.try_get("what")?;
        if what == "message" {
            return Ok(());
        }
        early.push((
            r.try_get::<String, _>("status")?,
            r.try_get::<i64, _>("occurred_at")?,
            r.try_get::<Option<i64>, _>("error_code")?,
        ));
    }
    let now = now_ms();
    let who = resolve_customer(conn, deferred, &msg.contact, now, events).await?;
    let conv = sqlx::query(
        "INSERT INTO conversations (id, customer_id, channel, account_id, contact_key, created_at, last_message_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (channel, account_id, contact_key) DO UPDATE SET last_message_at = \
         CASE WHEN excluded.last_message_at > conversations.last_message_at THEN excluded.last_message_at ELSE conversations.last_message_at END \
         RETURNING id",
    )
    .bind(new_id())
    .bind(&who.customer_id)
    .bind(&msg.channel)
    .bind(&msg.account_id)
    .bind(&msg.contact_key)
    .bind(now)
    .bind(msg.sent_at)
    .fetch_one(&mut *conn)
    .await?;
    let conversation_id: String = conv.try_get("id")?;
    let id = new_id();
    let status = best_status(&early);
    let inserted = sqlx::query(
        "INSERT INTO messages (id, conversation_id, channel, external_id, direction, kind, body, payload, status, status_rank, status_at, error_code, sent_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (channel, external_id) DO NOTHING",
    )
    .bind(&id)
    .bind(&conversation_id)
    .bind(&msg.channel)
    .bind(&msg.external_id)
    .bind(&msg.direction)
    .bind(&msg.kind)
    .bind(msg.body.as_deref())
    .bind(msg.payload.to_string())
    .bind(status.as_ref().map(|s| s.status.as_str()))
    .bind(status.as_ref().map_or(0, |s| s.rank))
    .bind(status.as_ref().map(|s| s.at))
    .bind(status.as_ref().and_then(|s| s.error_code))
    .bind(msg.sent_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Retry);
    }
    let kind = if msg.direction == "outbound" {
        "message.sent"
    } else {
        "message.received"
    };
    let natural = format!("{}:{}", msg.channel, msg.external_id);
    let data = json!({"message_id": id, "external_id": msg.external_id, "conversation_id": conversation_id, "channel": msg.channel, "kind": msg.kind, "body": msg.body});
    let summary = msg
        .body
        .as_deref()
        .map(|b| b.chars().take(140).collect::<String>());
    deferred.timeline(&who.customer_id, kind, natural, summary, &data, msg.sent_at);
    events.push(DomainEvent::new(kind, Some(&who.customer_id), data));
    if let Some(lead) = &msg.referral_lead {
        Box::pin(apply_lead_in(conn, deferred, lead, events)).await?;
    }
    Ok(())
}

async fn apply_status_in(
    conn: &mut AnyConnection,
    st: &StatusInput,
    events: &mut Vec<DomainEvent>,
) -> StoreResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO message_statuses (channel, external_id, status, occurred_at, error_code, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (channel, external_id, status) DO NOTHING",
    )
    .bind(&st.channel)
    .bind(&st.external_id)
    .bind(&st.status)
    .bind(st.occurred_at)
    .bind(st.error_code)
    .bind(st.payload.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let Some(rank) = status_rank(&st.status) else {
        return Ok(());
    };
    let moved = sqlx::query(
        "UPDATE messages SET status = $3, status_rank = $4, status_at = $5, error_code = COALESCE($6, error_code) \
         WHERE channel = $1 AND external_id = $2 AND status_rank < $4 \
         RETURNING id, conversation_id, (SELECT customer_id FROM conversations WHERE conversations.id = messages.conversation_id) AS customer_id",
    )
    .bind(&st.channel)
    .bind(&st.external_id)
    .bind(&st.status)
    .bind(rank)
    .bind(st.occurred_at)
    .bind(st.error_code)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = moved {
        let message_id: String = row.try_get("id")?;
        let conversation_id: String = row.try_get("conversation_id")?;
        let customer_id: Option<String> = row.try_get("customer_id")?;
        events.push(DomainEvent::new(
            "message.status",
            customer_id.as_deref(),
            json!({"message_id": message_id, "conversation_id": conversation_id, "status": st.status, "error_code": st.error_code}),
        ));
    }
    Ok(())
}
