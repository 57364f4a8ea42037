//! Scheduler leases (one replica fires each tick) and backfill cursors.

use sqlx::Row;

use super::{Store, StoreResult};
use crm_domain::util::now_ms;

impl Store {
    /// Takes or renews the lease `name` for `holder`; true when `holder` has it.
    /// Another holder's lease is taken over only once it has expired.
    pub async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> StoreResult<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO scheduler_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE scheduler_leases.holder = excluded.holder OR scheduler_leases.expires_at < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease up at shutdown so a standby takes over at once.
    pub async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM scheduler_leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unix seconds up to which a Lead Ads form has been reconciled (0 = never).
    pub async fn lead_form_cursor(&self, form_id: &str) -> StoreResult<i64> {
        let row = sqlx::query("SELECT backfilled_until FROM lead_forms WHERE form_id = $1")
            .bind(form_id)
            .fetch_optional(self.reader())
            .await?;
        Ok(match row {
            Some(r) => r.try_get("backfilled_until")?,
            None => 0,
        })
    }

    pub async fn set_lead_form_cursor(&self, form_id: &str, until: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO lead_forms (form_id, backfilled_until, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (form_id) DO UPDATE SET backfilled_until = excluded.backfilled_until",
        )
        .bind(form_id)
        .bind(until)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
