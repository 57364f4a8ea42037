//! Turning parsed inbound signals into customers, leads, conversations,
//! messages, cards and timeline entries. Every write is keyed by a natural key
//! and every state change is conditional, so running any of these twice has no
//! second effect.

use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::migrate::DEFAULT_PIPELINE_ID;
use super::{Store, StoreError, StoreResult};
use crate::identity::{MatchDecision, decide_match, phone_match_keys};
use crate::model::{Action, ContactInput, DomainEvent, LeadInput, MessageInput, StatusInput};
use crate::rules::status_rank;
use crate::util::{new_id, now_ms};
use crate::with_write_retry;

/// Who an inbound signal turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub customer_id: String,
    pub created: bool,
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
        with_write_retry!(self, |tx| {
            let mut events = Vec::new();
            let mut result = Ok(());
            for a in actions {
                result = apply_action_in(&mut tx, a, &mut events).await;
                if result.is_err() {
                    break;
                }
            }
            match result {
                Ok(()) => mark_done_in(&mut tx, event_id).await.map(|_| events),
                Err(e) => Err(e),
            }
        })
    }

    /// Group commit for workers: several events' actions and `done` marks in
    /// one transaction. All or nothing; on error the caller falls back to
    /// `apply_event` per event, which isolates the culprit.
    pub async fn apply_events(
        &self,
        batch: &[(String, Vec<Action>)],
    ) -> StoreResult<Vec<Vec<DomainEvent>>> {
        with_write_retry!(self, |tx| {
            let mut all = Vec::with_capacity(batch.len());
            let mut result = Ok(());
            'events: for (event_id, actions) in batch {
                let mut events = Vec::new();
                for a in actions {
                    result = apply_action_in(&mut tx, a, &mut events).await;
                    if result.is_err() {
                        break 'events;
                    }
                }
                result = mark_done_in(&mut tx, event_id).await;
                if result.is_err() {
                    break;
                }
                all.push(events);
            }
            result.map(|_| all)
        })
    }

    /// One action in its own transaction.
    pub async fn apply_action(&self, action: &Action) -> StoreResult<Vec<DomainEvent>> {
        with_write_retry!(self, |tx| {
            let mut events = Vec::new();
            apply_action_in(&mut tx, action, &mut events)
                .await
                .map(|_| events)
        })
    }

    pub async fn apply_lead(&self, lead: &LeadInput) -> StoreResult<Vec<DomainEvent>> {
        with_write_retry!(self, |tx| {
            let mut events = Vec::new();
            apply_lead_in(&mut tx, lead, &mut events)
                .await
                .map(|_| events)
        })
    }

    pub async fn apply_message(&self, msg: &MessageInput) -> StoreResult<Vec<DomainEvent>> {
        with_write_retry!(self, |tx| {
            let mut events = Vec::new();
            apply_message_in(&mut tx, msg, &mut events)
                .await
                .map(|_| events)
        })
    }

    pub async fn apply_status(&self, st: &StatusInput) -> StoreResult<Vec<DomainEvent>> {
        with_write_retry!(self, |tx| {
            let mut events = Vec::new();
            apply_status_in(&mut tx, st, &mut events)
                .await
                .map(|_| events)
        })
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
        insert_timeline(
            &mut tx,
            customer_id,
            "card.moved",
            &new_id(),
            Some(&format!("Moved to {stage_name}")),
            &data,
            now,
        )
        .await?;
        sqlx::query("UPDATE customers SET updated_at = $2 WHERE id = $1")
            .bind(customer_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut ev = DomainEvent::new("card.moved", Some(customer_id), data);
        ev.pipeline_id = Some(pipeline_id);
        Ok(vec![ev])
    }
}

async fn mark_done_in(conn: &mut AnyConnection, event_id: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE inbound_events SET status = 'done', processed_at = $2, updated_at = $2, last_error = NULL WHERE id = $1 AND status = 'pending'",
    )
    .bind(event_id)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn apply_action_in(
    conn: &mut AnyConnection,
    action: &Action,
    events: &mut Vec<DomainEvent>,
) -> StoreResult<()> {
    match action {
        Action::Lead(l) => apply_lead_in(conn, l, events).await.map(|_| ()),
        Action::Message(m) => apply_message_in(conn, m, events).await,
        Action::Status(s) => apply_status_in(conn, s, events).await,
    }
}

fn identity_keys(c: &ContactInput) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    if let Some((kind, value)) = &c.channel_identity {
        keys.push((kind.clone(), value.clone()));
    }
    if let Some(p) = &c.phone {
        for k in phone_match_keys(p) {
            keys.push(("phone".to_string(), k));
        }
    }
    if let Some(e) = &c.email {
        keys.push(("email".to_string(), e.clone()));
    }
    keys
}

async fn find_identity(
    conn: &mut AnyConnection,
    kind: &str,
    value: &str,
) -> StoreResult<Option<String>> {
    let row =
        sqlx::query("SELECT customer_id FROM customer_identities WHERE kind = $1 AND value = $2")
            .bind(kind)
            .bind(value)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("customer_id")?),
        None => None,
    })
}

/// Finds the customer an inbound contact belongs to, or creates one (with its
/// card on the default pipeline's first stage). Phone and e-mail pointing at
/// two different customers attach to the phone match and record a possible
/// duplicate for a person to review; nothing is merged silently.
pub(crate) async fn resolve_customer(
    conn: &mut AnyConnection,
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
    let mut by_phone = None;
    let mut by_email = None;
    let mut by_channel = None;
    for (kind, value) in &keys {
        let slot = match kind.as_str() {
            "phone" => &mut by_phone,
            "email" => &mut by_email,
            _ => &mut by_channel,
        };
        if slot.is_none() {
            *slot = find_identity(conn, kind, value).await?;
        }
    }
    let phone_text = c.phone.as_ref().map(|p| p.as_str().to_string());
    match decide_match(by_phone, by_email, by_channel) {
        MatchDecision::New => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO customers (id, name, phone, email, wa_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(&id)
            .bind(c.name.as_deref())
            .bind(phone_text.as_deref())
            .bind(c.email.as_deref())
            .bind(c.wa_id.as_deref())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            for (kind, value) in &keys {
                let claimed = insert_identity(conn, kind, value, &id, now).await?;
                if !claimed {
                    // Someone else created this person since our lookup.
                    return Err(StoreError::Retry);
                }
            }
            let stage = sqlx::query(
                "SELECT id, name FROM stages WHERE pipeline_id = $1 ORDER BY position LIMIT 1",
            )
            .bind(DEFAULT_PIPELINE_ID)
            .fetch_optional(&mut *conn)
            .await?;
            let mut stage_json = serde_json::Value::Null;
            if let Some(stage) = stage {
                let stage_id: String = stage.try_get("id")?;
                let stage_name: String = stage.try_get("name")?;
                sqlx::query(
                    "INSERT INTO cards (id, customer_id, pipeline_id, stage_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (customer_id, pipeline_id) DO NOTHING",
                )
                .bind(new_id())
                .bind(&id)
                .bind(DEFAULT_PIPELINE_ID)
                .bind(&stage_id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                stage_json = json!({"id": stage_id, "name": stage_name});
            }
            let data = json!({"name": c.name, "stage": stage_json});
            insert_timeline(
                conn,
                &id,
                "customer.created",
                &id,
                Some("Customer created"),
                &data,
                now,
            )
            .await?;
            let mut ev = DomainEvent::new("customer.created", Some(&id), data);
            ev.pipeline_id = Some(DEFAULT_PIPELINE_ID.to_string());
            events.push(ev);
            Ok(Resolved {
                customer_id: id,
                created: true,
            })
        }
        MatchDecision::Existing(id) => {
            enrich_customer(conn, &id, c, phone_text.as_deref(), &keys, now).await?;
            Ok(Resolved {
                customer_id: id,
                created: false,
            })
        }
        MatchDecision::ConflictUsePhone {
            phone_match,
            email_match,
        } => {
            enrich_customer(conn, &phone_match, c, phone_text.as_deref(), &keys, now).await?;
            let recorded = sqlx::query(
                "INSERT INTO possible_duplicates (id, customer_id, other_customer_id, reason, status, created_at) VALUES ($1, $2, $3, $4, 'open', $5) ON CONFLICT (customer_id, other_customer_id) DO NOTHING",
            )
            .bind(new_id())
            .bind(&phone_match)
            .bind(&email_match)
            .bind("phone matches this customer, e-mail matches the other")
            .bind(now)
            .execute(&mut *conn)
            .await?;
            if recorded.rows_affected() == 1 {
                let data = json!({"other_customer_id": email_match});
                events.push(DomainEvent::new(
                    "customer.possible_duplicate",
                    Some(&phone_match),
                    data,
                ));
            }
            Ok(Resolved {
                customer_id: phone_match,
                created: false,
            })
        }
    }
}

async fn insert_identity(
    conn: &mut AnyConnection,
    kind: &str,
    value: &str,
    customer_id: &str,
    now: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO customer_identities (kind, value, customer_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING",
    )
    .bind(kind)
    .bind(value)
    .bind(customer_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Fills what we did not know about a returning customer; never overwrites
/// what staff or an earlier lead recorded.
async fn enrich_customer(
    conn: &mut AnyConnection,
    id: &str,
    c: &ContactInput,
    phone: Option<&str>,
    keys: &[(String, String)],
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE customers SET name = COALESCE(name, $2), phone = COALESCE(phone, $3), email = COALESCE(email, $4), wa_id = COALESCE(wa_id, $5), updated_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(c.name.as_deref())
    .bind(phone)
    .bind(c.email.as_deref())
    .bind(c.wa_id.as_deref())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for (kind, value) in keys {
        // A key already owned by another customer stays theirs (that case is
        // what possible_duplicates records); ours are added.
        insert_identity(conn, kind, value, id, now).await?;
    }
    Ok(())
}

pub(crate) async fn insert_timeline(
    conn: &mut AnyConnection,
    customer_id: &str,
    kind: &str,
    natural_key: &str,
    summary: Option<&str>,
    data: &serde_json::Value,
    occurred_at: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO timeline (id, customer_id, kind, natural_key, summary, data, occurred_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kind, natural_key) DO NOTHING",
    )
    .bind(new_id())
    .bind(customer_id)
    .bind(kind)
    .bind(natural_key)
    .bind(summary)
    .bind(data.to_string())
    .bind(occurred_at)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn apply_lead_in(
    conn: &mut AnyConnection,
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
    let who = resolve_customer(conn, &lead.contact, now, events).await?;
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
    if who.created {
        insert_timeline(
            conn,
            &who.customer_id,
            "lead.received",
            &natural,
            Some(&format!("New lead via {}", lead.source)),
            &data,
            lead.received_at,
        )
        .await?;
    } else {
        insert_timeline(
            conn,
            &who.customer_id,
            "lead.reapplied",
            &natural,
            Some(&format!("Re-application via {}", lead.source)),
            &data,
            lead.received_at,
        )
        .await?;
    }
    events.push(DomainEvent::new(
        "lead.received",
        Some(&who.customer_id),
        json!({"lead_id": id, "source": lead.source, "returning": !who.created}),
    ));
    Ok(Some(id))
}

async fn apply_message_in(
    conn: &mut AnyConnection,
    msg: &MessageInput,
    events: &mut Vec<DomainEvent>,
) -> StoreResult<()> {
    let existing = sqlx::query("SELECT id FROM messages WHERE channel = $1 AND external_id = $2")
        .bind(&msg.channel)
        .bind(&msg.external_id)
        .fetch_optional(&mut *conn)
        .await?;
    if existing.is_some() {
        return Ok(());
    }
    let now = now_ms();
    let who = resolve_customer(conn, &msg.contact, now, events).await?;
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
    let inserted = sqlx::query(
        "INSERT INTO messages (id, conversation_id, channel, external_id, direction, kind, body, payload, status, status_rank, sent_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, 0, $9, $10) ON CONFLICT (channel, external_id) DO NOTHING",
    )
    .bind(&id)
    .bind(&conversation_id)
    .bind(&msg.channel)
    .bind(&msg.external_id)
    .bind(&msg.direction)
    .bind(&msg.kind)
    .bind(msg.body.as_deref())
    .bind(msg.payload.to_string())
    .bind(msg.sent_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::Retry);
    }
    // Statuses that arrived before their message (out-of-order webhooks).
    let early = sqlx::query(
        "SELECT status, occurred_at, error_code FROM message_statuses WHERE channel = $1 AND external_id = $2",
    )
    .bind(&msg.channel)
    .bind(&msg.external_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut best: Option<(i64, String, i64, Option<i64>)> = None;
    for r in &early {
        let s: String = r.try_get("status")?;
        if let Some(rank) = status_rank(&s)
            && best.as_ref().is_none_or(|b| rank > b.0)
        {
            best = Some((rank, s, r.try_get("occurred_at")?, r.try_get("error_code")?));
        }
    }
    if let Some((rank, s, at, code)) = best {
        sqlx::query("UPDATE messages SET status = $2, status_rank = $3, status_at = $4, error_code = $5 WHERE id = $1")
            .bind(&id)
            .bind(s)
            .bind(rank)
            .bind(at)
            .bind(code)
            .execute(&mut *conn)
            .await?;
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
    insert_timeline(
        conn,
        &who.customer_id,
        kind,
        &natural,
        summary.as_deref(),
        &data,
        msg.sent_at,
    )
    .await?;
    events.push(DomainEvent::new(kind, Some(&who.customer_id), data));
    if let Some(lead) = &msg.referral_lead {
        Box::pin(apply_lead_in(conn, lead, events)).await?;
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
         WHERE channel = $1 AND external_id = $2 AND status_rank < $4 RETURNING id, conversation_id",
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
        let cust = sqlx::query("SELECT customer_id FROM conversations WHERE id = $1")
            .bind(&conversation_id)
            .fetch_optional(&mut *conn)
            .await?;
        let customer_id: Option<String> = match cust {
            Some(r) => Some(r.try_get("customer_id")?),
            None => None,
        };
        events.push(DomainEvent::new(
            "message.status",
            customer_id.as_deref(),
            json!({"message_id": message_id, "conversation_id": conversation_id, "status": st.status, "error_code": st.error_code}),
        ));
    }
    Ok(())
}
