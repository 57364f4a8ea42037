//! Users and API tokens.

use sqlx::Row;

use super::{Store, StoreError, StoreResult};
use crm_domain::auth::{Principal, Role, TokenScope, generate_token, token_hash};
use crm_domain::util::{new_id, now_ms};

/// A token as listed: never the token itself, which only its creator saw.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub user_id: Option<String>,
    pub user_email: Option<String>,
    pub role: Role,
    pub scope: TokenScope,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

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
        Ok((row.try_get("id")?, stored_role(&role)?))
    }

    /// Disables a user: every token of theirs stops working at once (tokens
    /// are checked against the user's `active` flag on every request).
    /// Returns false when the user was already disabled.
    pub async fn disable_user(&self, email: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET active = 0 WHERE email = $1 AND active = 1")
            .bind(email)
            .execute(&mut *tx)
            .await?;
        changed_or_found(
            tx,
            done.rows_affected(),
            "SELECT id FROM users WHERE email = $1",
            email,
        )
        .await
    }

    /// Mints a token; returns (token id, the token itself — shown once, stored
    /// hashed). Without a user it is a service token: an admin one at full
    /// scope, or one that can only do what its scope names.
    pub async fn create_token(
        &self,
        name: &str,
        user: Option<(&str, Role)>,
        scope: TokenScope,
    ) -> StoreResult<(String, String)> {
        let token = generate_token().map_err(StoreError::Random)?;
        let id = new_id();
        let (user_id, role) = match user {
            Some((u, r)) => (Some(u), r),
            None => (None, Role::Admin),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, name, token_hash, user_id, role, scope, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(name)
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(role.as_str())
        .bind(scope.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((id, token))
    }

    /// Every token, newest first (revoked ones too, marked).
    pub async fn list_tokens(&self) -> StoreResult<Vec<TokenView>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.user_id, u.email, t.role, u.role AS user_role, t.scope, t.created_at, t.revoked_at \
             FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id ORDER BY t.created_at DESC, t.id DESC",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let role: Option<String> = r.try_get("user_role")?;
                let role = match role {
                    Some(role) => role,
                    None => r.try_get("role")?,
                };
                let scope: String = r.try_get("scope")?;
                Ok(TokenView {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    user_id: r.try_get("user_id")?,
                    user_email: r.try_get("email")?,
                    role: stored_role(&role)?,
                    scope: stored_scope(&scope)?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a token by id; false when it was revoked already.
    pub async fn revoke_token(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        changed_or_found(
            tx,
            done.rows_affected(),
            "SELECT id FROM api_tokens WHERE id = $1",
            id,
        )
        .await
    }

    /// The principal behind a bearer token, if it is live and its user active.
    pub async fn authenticate_token(&self, token: &str) -> StoreResult<Option<Principal>> {
        let row = sqlx::query(
            "SELECT t.id, t.user_id, t.role, t.scope, u.role AS user_role, u.active FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id \
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
        let scope: String = row.try_get("scope")?;
        Ok(Some(Principal {
            token_id: row.try_get("id")?,
            user_id,
            role: stored_role(&role_text)?,
            scope: stored_scope(&scope)?,
        }))
    }

    pub async fn count_users(&self) -> StoreResult<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(self.reader())
            .await?;
        Ok(r.try_get("n")?)
    }
}

/// After a conditional update of one row (`changed` rows): true when it
/// changed, false when it was already so, `NotFound` when no row has `key`
/// (`exists` selects it). Commits the transaction.
async fn changed_or_found(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    changed: u64,
    exists: &'static str,
    key: &str,
) -> StoreResult<bool> {
    if changed == 0
        && sqlx::query(exists)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?
            .is_none()
    {
        return Err(StoreError::NotFound);
    }
    tx.commit().await?;
    Ok(changed == 1)
}

/// A role read back from the database; one we never write is a broken
/// invariant, not a reason to grant some default.
fn stored_role(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Invariant(format!("unknown stored role {s:?}")))
}

fn stored_scope(s: &str) -> StoreResult<TokenScope> {
    TokenScope::parse(s)
        .ok_or_else(|| StoreError::Invariant(format!("unknown stored token scope {s:?}")))
}
