//! Schema migrations and the seed data every install starts with.
//!
//! Our own small runner rather than `sqlx::migrate!`: the SQL differs per
//! dialect folder, apalis keeps its own migration table in the same SQLite file
//! (a shared `_sqlx_migrations` table breaks both), and several `crm` processes
//! starting at once must not apply a migration twice: each one is applied in a
//! transaction that first claims its version row.

use super::ingest::write_search_tokens;
use super::{Engine, Store, StoreError, StoreResult};
use crm_domain::search::customer_tokens;
use crm_domain::util::now_ms;
use sqlx::Row;

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "intake_spine",
        sqlite: include_str!("../../migrations/sqlite/0001_intake_spine.sql"),
        postgres: include_str!("../../migrations/postgres/0001_intake_spine.sql"),
    },
    Migration {
        version: 2,
        name: "inbound_events_lean",
        sqlite: include_str!("../../migrations/sqlite/0002_inbound_events_lean.sql"),
        postgres: include_str!("../../migrations/postgres/0002_inbound_events_lean.sql"),
    },
    Migration {
        version: 3,
        name: "customer_search",
        sqlite: include_str!("../../migrations/sqlite/0003_customer_search.sql"),
        postgres: include_str!("../../migrations/postgres/0003_customer_search.sql"),
    },
    Migration {
        version: 4,
        name: "token_scopes",
        sqlite: include_str!("../../migrations/sqlite/0004_token_scopes.sql"),
        postgres: include_str!("../../migrations/postgres/0004_token_scopes.sql"),
    },
    Migration {
        version: 5,
        name: "staff_access",
        sqlite: include_str!("../../migrations/sqlite/0005_staff_access.sql"),
        postgres: include_str!("../../migrations/postgres/0005_staff_access.sql"),
    },
];

/// The migration that created `customer_search`: customers that existed
/// before it get their tokens when it is applied.
const SEARCH_MIGRATION: i64 = 3;

/// The default pipeline's stages, in order. Seeded once; afterwards they are
/// ordinary data that admins rename, reorder or extend.
pub const DEFAULT_STAGES: &[&str] = &[
    "Potansiyel",
    "Görüşülüyor",
    "Randevu",
    "Kapora",
    "Satış Tamamlandı",
    "Takip Edilecek",
];
pub use crm_domain::plan::DEFAULT_PIPELINE_ID;

impl Store {
    /// Applies pending migrations and seeds the default pipeline. Safe to run
    /// from several processes at once and on every start.
    pub async fn migrate(&self) -> StoreResult<Vec<i64>> {
        let create = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";
        if let Err(e) = sqlx::query(create).execute(&self.writer).await {
            // Two PostgreSQL sessions creating the table at once: the loser sees
            // a unique violation on the catalog; the table exists now.
            if !StoreError::from(e).is_unique_violation() {
                sqlx::query(create).execute(&self.writer).await?;
            }
        }
        let mut applied = Vec::new();
        for m in MIGRATIONS {
            let mut tx = self.begin_write().await?;
            let claimed = sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                tx.rollback().await?;
                continue;
            }
            let sql = match self.engine {
                Engine::Sqlite => m.sqlite,
                Engine::Postgres => m.postgres,
            };
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            tx.commit().await?;
            applied.push(m.version);
        }
        self.seed_default_pipeline().await?;
        self.seed_roles().await?;
        if applied.contains(&SEARCH_MIGRATION) {
            self.index_all_customers().await?;
        }
        Ok(applied)
    }

    /// Gives every customer its search tokens (customers created before the
    /// search index existed), a chunk of customers per transaction.
    pub async fn index_all_customers(&self) -> StoreResult<u64> {
        let mut after = String::new();
        let mut indexed = 0u64;
        loop {
            let rows = sqlx::query(
                "SELECT id, name, email, phone FROM customers WHERE id > $1 ORDER BY id LIMIT 500",
            )
            .bind(&after)
            .fetch_all(self.reader())
            .await?;
            let Some(last) = rows.last() else {
                return Ok(indexed);
            };
            after = last.try_get("id")?;
            let mut tokens = Vec::new();
            for r in &rows {
                let id: String = r.try_get("id")?;
                let name: Option<String> = r.try_get("name")?;
                let email: Option<String> = r.try_get("email")?;
                let phone: Option<String> = r.try_get("phone")?;
                for t in customer_tokens(name.as_deref(), email.as_deref(), phone.as_deref()) {
                    tokens.push((t, id.clone()));
                }
            }
            let mut tx = self.begin_write().await?;
            write_search_tokens(&mut tx, self.engine, &tokens).await?;
            tx.commit().await?;
            indexed += rows.len() as u64;
        }
    }

    /// The seeded roles exist on every start; an admin's later edits of
    /// them are kept, except that `admin` always holds every grant.
    async fn seed_roles(&self) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        for (id, name, grants) in crm_domain::access::seeded::roles() {
            let grants = serde_json::to_string(&grants)
                .map_err(|e| StoreError::Invariant(format!("role grants do not serialise: {e}")))?;
            let sql = if crm_domain::access::seeded::is_admin(&id) {
                "INSERT INTO roles (id, name, grants, builtin, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4) ON CONFLICT (id) DO UPDATE SET grants = excluded.grants"
            } else {
                "INSERT INTO roles (id, name, grants, builtin, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4) ON CONFLICT (id) DO NOTHING"
            };
            sqlx::query(sql)
                .bind(id.as_str())
                .bind(name)
                .bind(grants)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn seed_default_pipeline(&self) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO pipelines (id, name, is_default, created_at) VALUES ($1, $2, 1, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(DEFAULT_PIPELINE_ID)
        .bind("Satış")
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            for (i, name) in DEFAULT_STAGES.iter().enumerate() {
                let position = i64::try_from(i).unwrap_or(i64::MAX);
                sqlx::query(
                    "INSERT INTO stages (id, pipeline_id, name, position, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                )
                .bind(format!("st_default_{}", i + 1))
                .bind(DEFAULT_PIPELINE_ID)
                .bind(*name)
                .bind(position)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
