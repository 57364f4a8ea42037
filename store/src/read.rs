//! What the JSON API and dashboard read: customers, timeline, conversations,
//! messages, pipelines. Keyset pagination throughout so deep pages stay cheap
//! at a million customers.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::migrate::DEFAULT_PIPELINE_ID;
use super::people::scope_condition;
use super::{Store, StoreError, StoreResult, closed_of, id_of, opt_closed_of};
use crm_domain::access::CustomerScope;
use crm_domain::ids::{
    ConversationId, CustomerId, LeadId, MessageId, PipelineId, StageId, TimelineId, UserId,
};
use crm_domain::model::{
    Attribution, ConversationView, CustomerDetail, CustomerSummary, LeadView, MessageView,
    PipelineView, PossibleDuplicate, StageRef, StageView, TimelineEntry,
};
use crm_domain::model::{Channel, Direction};
use crm_domain::phone::{PhoneE164, phone_match_keys};
use crm_domain::rules::MessageStatus;
use crm_domain::search::{prefix_end, query_terms};

#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub phone: Option<PhoneE164>,
    pub email: Option<String>,
    pub q: Option<String>,
    pub stage_id: Option<String>,
    pub source: Option<String>,
    pub cursor: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

const CUSTOMER_SELECT: &str = concat!(
    "SELECT c.id, c.name, c.phone, c.email, c.wa_id, c.owner_id, c.created_at, c.updated_at, s.id AS stage_id, s.name AS stage_name \
     FROM customers c LEFT JOIN cards k ON k.customer_id = c.id AND k.pipeline_id = '",
    crm_domain::default_pipeline_id!(),
    "' LEFT JOIN stages s ON s.id = k.stage_id"
);

fn customer_row(r: &AnyRow) -> StoreResult<CustomerSummary> {
    let stage_id: Option<String> = r.try_get("stage_id")?;
    let stage_name: Option<String> = r.try_get("stage_name")?;
    Ok(CustomerSummary {
        id: id_of(r, "id", CustomerId::new)?,
        name: r.try_get("name")?,
        phone: r.try_get("phone")?,
        email: r.try_get("email")?,
        wa_id: r.try_get("wa_id")?,
        owner_id: r.try_get::<Option<String>, _>("owner_id")?.map(UserId::new),
        stage: match (stage_id, stage_name) {
            (Some(id), Some(name)) => Some(StageRef {
                id: StageId::new(id),
                name,
            }),
            _ => None,
        },
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Cursor = "<created_at>.<id>" of the last item: stable under inserts.
fn parse_cursor(c: &str) -> StoreResult<(i64, String)> {
    let (at, id) = c
        .split_once('.')
        .ok_or_else(|| StoreError::Invalid("malformed cursor".into()))?;
    let at = at
        .parse()
        .map_err(|_| StoreError::Invalid("malformed cursor".into()))?;
    Ok((at, id.to_string()))
}

fn json_text(r: &AnyRow, col: &str) -> StoreResult<Value> {
    let s: String = r.try_get(col)?;
    Ok(serde_json::from_str(&s).unwrap_or(Value::String(s)))
}

impl Store {
    /// Customers matching `f` among those `scope` lets the caller see: the
    /// scope is part of the query, never a filter after fetching.
    pub async fn list_customers(
        &self,
        scope: &CustomerScope,
        f: &CustomerFilter,
    ) -> StoreResult<Page<CustomerSummary>> {
        // Built from fixed fragments only; every value is a bound parameter.
        enum Arg {
            Text(String),
            Int(i64),
        }
        let (visible, scope_args) = scope_condition(scope, 1);
        let mut sql = format!("{CUSTOMER_SELECT} WHERE {visible}");
        let mut args: Vec<Arg> = scope_args.into_iter().map(Arg::Text).collect();
        let mut arg = |sql: &mut String, frag: &str, v: Arg| {
            args.push(v);
            sql.push_str(&frag.replace('?', &format!("${}", args.len())));
        };
        if let Some(p) = &f.phone {
            sql.push_str(" AND c.id IN (SELECT customer_id FROM customer_identities WHERE kind = 'phone' AND (1 = 0");
            for k in phone_match_keys(p) {
                arg(&mut sql, " OR value = ?", Arg::Text(k));
            }
            sql.push_str("))");
        }
        if let Some(e) = &f.email {
            arg(
                &mut sql,
                " AND c.id IN (SELECT customer_id FROM customer_identities WHERE kind = 'email' AND value = ?)",
                Arg::Text(e.clone()),
            );
        }
        if let Some(q) = &f.q {
            // Every term must start a token of the customer (index range
            // scans; see core::search). Nothing searchable finds nothing.
            let terms = query_terms(q);
            if terms.is_empty() {
                sql.push_str(" AND 1 = 0");
            }
            for alternatives in terms {
                sql.push_str(" AND c.id IN (SELECT customer_id FROM customer_search WHERE 1 = 0");
                for prefix in alternatives {
                    let end = prefix_end(&prefix);
                    arg(&mut sql, " OR (token >= ?", Arg::Text(prefix));
                    arg(&mut sql, " AND token < ?)", Arg::Text(end));
                }
                sql.push(')');
            }
        }
        if let Some(s) = &f.stage_id {
            arg(&mut sql, " AND k.stage_id = ?", Arg::Text(s.clone()));
        }
        if let Some(s) = &f.source {
            arg(
                &mut sql,
                " AND EXISTS (SELECT 1 FROM leads l WHERE l.customer_id = c.id AND l.source = ?)",
                Arg::Text(s.clone()),
            );
        }
        if let Some(c) = &f.cursor {
            let (at, id) = parse_cursor(c)?;
            arg(&mut sql, " AND (c.created_at < ?", Arg::Int(at));
            arg(&mut sql, " OR (c.created_at = ?", Arg::Int(at));
            arg(&mut sql, " AND c.id < ?))", Arg::Text(id));
        }
        arg(
            &mut sql,
            " ORDER BY c.created_at DESC, c.id DESC LIMIT ?",
            Arg::Int(f.limit + 1),
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in args {
            query = match a {
                Arg::Text(t) => query.bind(t),
                Arg::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(self.reader()).await?;
        let mut items = rows
            .iter()
            .map(customer_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if items.len() as i64 > f.limit {
            items.truncate(usize::try_from(f.limit).unwrap_or(0));
            items.last().map(|c| format!("{}.{}", c.created_at, c.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn customer(&self, id: &CustomerId) -> StoreResult<CustomerSummary> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CUSTOMER_SELECT} WHERE c.id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reader())
        .await?
        .ok_or(StoreError::NotFound)?;
        customer_row(&row)
    }

    /// The customer, their leads and possible duplicates as of one moment:
    /// read in one snapshot, so a lead and the duplicate flag it raised
    /// (written together) are seen together.
    pub async fn customer_detail(&self, id: &CustomerId) -> StoreResult<CustomerDetail> {
        let mut tx = self.read_snapshot().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CUSTOMER_SELECT} WHERE c.id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let customer = customer_row(&row)?;
        let rows = sqlx::query(
            "SELECT id, source, external_id, received_at, name, phone, email, message, utm_source, utm_medium, utm_campaign, utm_content, utm_term, \
             campaign_id, campaign_name, adset_id, adset_name, ad_id, ad_name, form_id, page_id, ctwa_clid, fbclid, gclid, consent, answers \
             FROM leads WHERE customer_id = $1 ORDER BY received_at DESC, id DESC",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let leads = rows
            .iter()
            .map(|r| {
                Ok(LeadView {
                    id: id_of(r, "id", LeadId::new)?,
                    source: r.try_get("source")?,
                    external_id: r.try_get("external_id")?,
                    received_at: r.try_get("received_at")?,
                    name: r.try_get("name")?,
                    phone: r.try_get("phone")?,
                    email: r.try_get("email")?,
                    message: r.try_get("message")?,
                    attribution: Attribution {
                        utm_source: r.try_get("utm_source")?,
                        utm_medium: r.try_get("utm_medium")?,
                        utm_campaign: r.try_get("utm_campaign")?,
                        utm_content: r.try_get("utm_content")?,
                        utm_term: r.try_get("utm_term")?,
                        campaign_id: r.try_get("campaign_id")?,
                        campaign_name: r.try_get("campaign_name")?,
                        adset_id: r.try_get("adset_id")?,
                        adset_name: r.try_get("adset_name")?,
                        ad_id: r.try_get("ad_id")?,
                        ad_name: r.try_get("ad_name")?,
                        form_id: r.try_get("form_id")?,
                        page_id: r.try_get("page_id")?,
                        ctwa_clid: r.try_get("ctwa_clid")?,
                        fbclid: r.try_get("fbclid")?,
                        gclid: r.try_get("gclid")?,
                    },
                    consent: r.try_get::<Option<i64>, _>("consent")?.map(|v| v != 0),
                    answers: json_text(r, "answers")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let rows = sqlx::query(
            "SELECT CASE WHEN customer_id = $1 THEN other_customer_id ELSE customer_id END AS other, reason, status, created_at \
             FROM possible_duplicates WHERE customer_id = $1 OR other_customer_id = $1 ORDER BY created_at",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let possible_duplicates = rows
            .iter()
            .map(|r| {
                Ok(PossibleDuplicate {
                    customer_id: id_of(r, "other", CustomerId::new)?,
                    reason: r.try_get("reason")?,
                    status: r.try_get("status")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await?;
        Ok(CustomerDetail {
            customer,
            leads,
            possible_duplicates,
        })
    }

    pub async fn timeline(
        &self,
        customer_id: &CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<TimelineEntry>> {
        self.customer(customer_id).await?;
        let rows = sqlx::query(
            "SELECT id, kind, summary, data, occurred_at FROM timeline WHERE customer_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2",
        )
        .bind(customer_id.as_str())
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TimelineEntry {
                    id: id_of(r, "id", TimelineId::new)?,
                    kind: r.try_get("kind")?,
                    summary: r.try_get("summary")?,
                    data: json_text(r, "data")?,
                    occurred_at: r.try_get("occurred_at")?,
                })
            })
            .collect()
    }

    pub async fn conversations(
        &self,
        customer_id: &CustomerId,
    ) -> StoreResult<Vec<ConversationView>> {
        self.customer(customer_id).await?;
        let rows = sqlx::query(
            "SELECT id, customer_id, channel, account_id, contact_key, created_at, last_message_at FROM conversations WHERE customer_id = $1 ORDER BY last_message_at DESC",
        )
        .bind(customer_id.as_str())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ConversationView {
                    id: id_of(r, "id", ConversationId::new)?,
                    customer_id: id_of(r, "customer_id", CustomerId::new)?,
                    channel: closed_of(r, "channel", Channel::parse)?,
                    account_id: r.try_get("account_id")?,
                    contact_key: r.try_get("contact_key")?,
                    created_at: r.try_get("created_at")?,
                    last_message_at: r.try_get("last_message_at")?,
                })
            })
            .collect()
    }

    /// A message's delivery history, `(status, occurred_at)` in the order
    /// the statuses happened (a status is kept once, even if sent again).
    pub async fn message_status_history(
        &self,
        channel: &str,
        external_id: &str,
    ) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT status, occurred_at FROM message_statuses WHERE channel = $1 AND external_id = $2 \
             ORDER BY occurred_at, status",
        )
        .bind(channel)
        .bind(external_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("occurred_at")?)))
            .collect()
    }

    /// Oldest first, as a chat reads; `before` pages backwards by message id.
    /// The customer a conversation belongs to.
    pub async fn conversation_customer(&self, id: &ConversationId) -> StoreResult<CustomerId> {
        let row = sqlx::query("SELECT customer_id FROM conversations WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        id_of(&row, "customer_id", CustomerId::new)
    }

    pub async fn messages(
        &self,
        conversation_id: &ConversationId,
        limit: i64,
    ) -> StoreResult<Vec<MessageView>> {
        let exists = sqlx::query("SELECT id FROM conversations WHERE id = $1")
            .bind(conversation_id.as_str())
            .fetch_optional(self.reader())
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let rows = sqlx::query(
            "SELECT id, conversation_id, channel, external_id, direction, kind, body, payload, status, status_at, error_code, sent_at \
             FROM messages WHERE conversation_id = $1 ORDER BY sent_at DESC, id DESC LIMIT $2",
        )
        .bind(conversation_id.as_str())
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(MessageView {
                    id: id_of(r, "id", MessageId::new)?,
                    conversation_id: id_of(r, "conversation_id", ConversationId::new)?,
                    channel: closed_of(r, "channel", Channel::parse)?,
                    external_id: r.try_get("external_id")?,
                    direction: closed_of(r, "direction", Direction::parse)?,
                    kind: r.try_get("kind")?,
                    body: r.try_get("body")?,
                    payload: json_text(r, "payload")?,
                    status: opt_closed_of(r, "status", MessageStatus::parse)?,
                    status_at: r.try_get("status_at")?,
                    error_code: r.try_get("error_code")?,
                    sent_at: r.try_get("sent_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    pub async fn pipelines(&self) -> StoreResult<Vec<PipelineView>> {
        let rows = sqlx::query(
            "SELECT id, name, is_default FROM pipelines ORDER BY is_default DESC, created_at",
        )
        .fetch_all(self.reader())
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let id: String = r.try_get("id")?;
            let stages = sqlx::query(
                "SELECT s.id, s.name, s.position, (SELECT COUNT(*) FROM cards k WHERE k.stage_id = s.id) AS n FROM stages s WHERE s.pipeline_id = $1 ORDER BY s.position",
            )
            .bind(&id)
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(|s| {
                Ok(StageView {
                    id: id_of(s, "id", StageId::new)?,
                    name: s.try_get("name")?,
                    position: s.try_get("position")?,
                    count: s.try_get("n")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
            out.push(PipelineView {
                id: PipelineId::new(id),
                name: r.try_get("name")?,
                is_default: r.try_get::<i64, _>("is_default")? != 0,
                stages,
            });
        }
        Ok(out)
    }

    pub fn default_pipeline_id(&self) -> &'static str {
        DEFAULT_PIPELINE_ID
    }

    /// Counts for metrics/tests: customers, leads, messages, timeline entries.
    pub async fn totals(&self) -> StoreResult<Vec<(String, i64)>> {
        let mut out = Vec::new();
        for (name, sql) in [
            ("customers", "SELECT COUNT(*) AS n FROM customers"),
            ("leads", "SELECT COUNT(*) AS n FROM leads"),
            ("messages", "SELECT COUNT(*) AS n FROM messages"),
            ("timeline", "SELECT COUNT(*) AS n FROM timeline"),
            ("cards", "SELECT COUNT(*) AS n FROM cards"),
        ] {
            let r = sqlx::query(sql).fetch_one(self.reader()).await?;
            out.push((name.to_string(), r.try_get("n")?));
        }
        Ok(out)
    }
}
