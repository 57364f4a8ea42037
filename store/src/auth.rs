//! Users and API tokens.

use sqlx::Row;

use super::{Store, StoreError, StoreResult};
use crm_domain::auth::{Principal, Role, generate_token, token_hash};
use crm_domain::util::{new_id, now_ms};

impl Store {
    /// Creates a user from an already-hashed password; a taken e-mail is a conflict.
    pub async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
    ) -> StoreResult<String> {
        let id = new_id();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO users (id, email, password_hash, role, active, created_at) VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&id)
        .bind(email)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "a user with e-mail {email} already exists"
            )));
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Returns (user id, role) of an active user.
    pub async fn user_by_email(&self, email: &str) -> StoreResult<(String, Role)> {
        let row = sqlx::query("SELECT id, role FROM users WHERE email = $1 AND active = 1")
            .bind(email)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        let role: String = row.try_get("role")?;
        Ok((
            row.try_get("id")?,
            Role::parse(&role).unwrap_or(Role::Agent),
        ))
    }

    /// Mints a token; returns (token id, the token itself — shown once, stored hashed).
    pub async fn create_token(
        &self,
        name: &str,
        user: Option<(&str, Role)>,
    ) -> StoreResult<(String, String)> {
        let token = generate_token().map_err(|e| StoreError::Invalid(e.to_string()))?;
        let id = new_id();
        let (user_id, role) = match user {
            Some((u, r)) => (Some(u), r),
            None => (None, Role::Admin),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, name, token_hash, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(role.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((id, token))
    }

    /// The principal behind a bearer token, if it is live and its user active.
    pub async fn authenticate_token(&self, token: &str) -> StoreResult<Option<Principal>> {
        let row = sqlx::query(
            "SELECT t.id, t.user_id, t.role, u.role AS user_role, u.active FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(token_hash(token))
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user_id: Option<String> = row.try_get("user_id")?;
        let role_text: String = match &user_id {
            Some(_) => {
                let active: Option<i64> = row.try_get("active")?;
                if active != Some(1) {
                    return Ok(None);
                }
                row.try_get::<Option<String>, _>("user_role")?
                    .unwrap_or_default()
            }
            None => row.try_get("role")?,
        };
        Ok(Some(Principal {
            token_id: row.try_get("id")?,
            user_id,
            role: Role::parse(&role_text).unwrap_or(Role::Agent),
        }))
    }

    pub async fn count_users(&self) -> StoreResult<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(self.reader())
            .await?;
        Ok(r.try_get("n")?)
    }
}
