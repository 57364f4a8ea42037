//! The security audit log: written beside the change it records, read by
//! admins with filters, newest first, keyset-paged.

use sqlx::Row;

use super::{Page, Store, StoreError, StoreResult, closed_of, id_of};
use crm_domain::audit::{AuditAction, AuditRecord};
use crm_domain::ids::AuditId;
use crm_domain::util::now_ms;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub id: AuditId,
    pub at: i64,
    pub action: AuditAction,
    pub actor: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<AuditAction>,
    /// `user:<id>` and the like: entries by that actor or about that target.
    pub who: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub cursor: Option<String>,
    pub limit: i64,
}

impl Store {
    pub async fn audit(&self, r: &AuditRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO audit_log (id, at, action, actor, target, ip, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(AuditId::generate().as_str())
        .bind(now_ms())
        .bind(r.action.as_str())
        .bind(&r.actor)
        .bind(r.target.as_deref())
        .bind(r.ip.as_deref())
        .bind(&r.detail)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn audit_entries(&self, f: &AuditFilter) -> StoreResult<Page<AuditEntry>> {
        let mut sql = String::from(
            "SELECT id, at, action, actor, target, ip, detail FROM audit_log WHERE 1 = 1",
        );
        let mut text: Vec<(usize, String)> = Vec::new();
        let mut ints: Vec<(usize, i64)> = Vec::new();
        let mut n = 0usize;
        let mut next = || {
            n += 1;
            n
        };
        if let Some(a) = f.action {
            let i = next();
            sql.push_str(&format!(" AND action = ${i}"));
            text.push((i, a.as_str().to_string()));
        }
        if let Some(w) = &f.who {
            let i = next();
            sql.push_str(&format!(" AND (actor = ${i} OR target = ${i})"));
            text.push((i, w.clone()));
        }
        if let Some(s) = f.since {
            let i = next();
            sql.push_str(&format!(" AND at >= ${i}"));
            ints.push((i, s));
        }
        if let Some(u) = f.until {
            let i = next();
            sql.push_str(&format!(" AND at < ${i}"));
            ints.push((i, u));
        }
        if let Some(c) = &f.cursor {
            let (at, id) = c
                .split_once('.')
                .and_then(|(a, id)| Some((a.parse::<i64>().ok()?, id.to_string())))
                .ok_or_else(|| StoreError::Invalid("malformed cursor".into()))?;
            let (i, j) = (next(), next());
            sql.push_str(&format!(" AND (at < ${i} OR (at = ${i} AND id < ${j}))"));
            ints.push((i, at));
            text.push((j, id));
        }
        let i = next();
        sql.push_str(&format!(" ORDER BY at DESC, id DESC LIMIT ${i}"));
        ints.push((i, f.limit + 1));
        // Bind in placeholder order.
        let mut binds: Vec<(usize, Result<i64, String>)> = text
            .into_iter()
            .map(|(i, t)| (i, Err(t)))
            .chain(ints.into_iter().map(|(i, v)| (i, Ok(v))))
            .collect();
        binds.sort_by_key(|(i, _)| *i);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (_, b) in binds {
            q = match b {
                Ok(v) => q.bind(v),
                Err(t) => q.bind(t),
            };
        }
        let rows = q.fetch_all(self.reader()).await?;
        let mut items = rows
            .iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEntry {
                    id: id_of(r, "id", AuditId::new)?,
                    at: r.try_get("at")?,
                    action: closed_of(r, "action", AuditAction::parse)?,
                    actor: r.try_get("actor")?,
                    target: r.try_get("target")?,
                    ip: r.try_get("ip")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let limit = usize::try_from(f.limit).unwrap_or(0);
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|e| format!("{}.{}", e.at, e.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
