//! Users, their roles and teams as an [`Actor`], and API tokens.

use std::collections::BTreeSet;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, StoreResult, id_of, stored};
use crm_domain::access::{Actor, DataScope, Grants};
use crm_domain::auth::{Principal, TokenScope, generate_token, token_hash};
use crm_domain::ids::{RoleId, TeamId, TokenId, UserId};
use crm_domain::util::{new_id, now_ms};

/// A token as listed: never the token itself, which only its creator saw.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenView {
    pub id: TokenId,
    pub name: String,
    pub user_id: Option<UserId>,
    pub user_email: Option<String>,
    pub role: RoleId,
    pub scope: TokenScope,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A team as a user's row lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TeamRef {
    pub id: TeamId,
    pub name: String,
}

/// A staff member as the users page and `/api/v1/users` show them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub role_id: RoleId,
    pub role_name: String,
    pub active: bool,
    pub teams: Vec<TeamRef>,
    pub language: Option<String>,
    pub theme: String,
    pub time_zone: String,
    pub must_change_password: bool,
    pub created_at: i64,
}

impl UserView {
    /// The name to show: the user's name, or their e-mail without a name.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&self.email)
    }
}

/// A user with what signing in needs: the password hash stays in the store.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user_id: UserId,
    pub password_hash: String,
    pub active: bool,
}

/// A new user as the CLI, setup and the users page create them.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub password_hash: &'a str,
    pub role: &'a RoleId,
    pub must_change_password: bool,
}

const USER_SELECT: &str = "SELECT u.id, u.email, u.name, u.role, r.name AS role_name, u.active, u.language, u.theme, u.time_zone, \
     u.must_change_password, u.created_at FROM users u JOIN roles r ON r.id = u.role";

fn user_row(r: &AnyRow) -> StoreResult<UserView> {
    let active: i64 = r.try_get("active")?;
    let must: i64 = r.try_get("must_change_password")?;
    Ok(UserView {
        id: id_of(r, "id", UserId::new)?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role_id: id_of(r, "role", RoleId::new)?,
        role_name: r.try_get("role_name")?,
        active: active == 1,
        teams: Vec::new(),
        language: r.try_get("language")?,
        theme: r.try_get("theme")?,
        time_zone: r.try_get("time_zone")?,
        must_change_password: must == 1,
        created_at: r.try_get("created_at")?,
    })
}

/// Grants read back from a role row; JSON we cannot read is a broken
/// invariant, never an empty (or a full) grant.
pub(crate) fn stored_grants(text: &str) -> StoreResult<Grants> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Invariant(format!("unreadable role grants: {e}")))
}

impl Store {
    /// Creates a user from an already-hashed password; a taken e-mail is a
    /// conflict, an unknown role a client mistake.
    pub async fn create_user(&self, u: NewUser<'_>) -> StoreResult<UserId> {
        let id = UserId::generate();
        let mut tx = self.begin_write().await?;
        if sqlx::query("SELECT id FROM roles WHERE id = $1")
            .bind(u.role.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .is_none()
        {
            return Err(StoreError::Invalid(format!("no role {}", u.role)));
        }
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, role, active, must_change_password, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7) ON CONFLICT (email) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(u.email)
        .bind(u.name)
        .bind(u.password_hash)
        .bind(u.role.as_str())
        .bind(i64::from(u.must_change_password))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "a user with e-mail {} already exists",
                u.email
            )));
        }
        tx.commit().await?;
        Ok(id)
    }

    /// An active user's id and role by e-mail.
    pub async fn user_by_email(&self, email: &str) -> StoreResult<(UserId, RoleId)> {
        let row = sqlx::query("SELECT id, role FROM users WHERE email = $1 AND active = 1")
            .bind(email)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok((
            id_of(&row, "id", UserId::new)?,
            id_of(&row, "role", RoleId::new)?,
        ))
    }

    /// What a sign-in checks, for any user (a disabled one answers the same
    /// way as a wrong password, so the caller must look at `active`).
    pub async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>> {
        let row = sqlx::query("SELECT id, password_hash, active FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| {
            let active: i64 = r.try_get("active")?;
            Ok(Credentials {
                user_id: id_of(&r, "id", UserId::new)?,
                password_hash: r.try_get("password_hash")?,
                active: active == 1,
            })
        })
        .transpose()
    }

    pub async fn password_hash(&self, user: &UserId) -> StoreResult<String> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(user.as_str())
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(row.try_get("password_hash")?)
    }

    pub async fn user(&self, id: &UserId) -> StoreResult<UserView> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{USER_SELECT} WHERE u.id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(self.reader())
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut u = user_row(&row)?;
        u.teams = self.teams_of(id).await?;
        Ok(u)
    }

    pub async fn user_by_email_view(&self, email: &str) -> StoreResult<UserView> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{USER_SELECT} WHERE u.email = $1"
        )))
        .bind(email)
        .fetch_optional(self.reader())
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut u = user_row(&row)?;
        u.teams = self.teams_of(&u.id).await?;
        Ok(u)
    }

    /// Every user, active first, then by e-mail; with their teams.
    pub async fn list_users(&self) -> StoreResult<Vec<UserView>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{USER_SELECT} ORDER BY u.active DESC, u.email"
        )))
        .fetch_all(self.reader())
        .await?;
        let mut users = rows.iter().map(user_row).collect::<StoreResult<Vec<_>>>()?;
        let memberships = sqlx::query(
            "SELECT m.user_id, t.id, t.name FROM team_members m JOIN teams t ON t.id = m.team_id ORDER BY t.name",
        )
        .fetch_all(self.reader())
        .await?;
        for m in &memberships {
            let user: String = m.try_get("user_id")?;
            if let Some(u) = users.iter_mut().find(|u| u.id == user.as_str()) {
                u.teams.push(TeamRef {
                    id: id_of(m, "id", TeamId::new)?,
                    name: m.try_get("name")?,
                });
            }
        }
        Ok(users)
    }

    pub async fn teams_of(&self, user: &UserId) -> StoreResult<Vec<TeamRef>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = $1 ORDER BY t.name",
        )
        .bind(user.as_str())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TeamRef {
                    id: id_of(r, "id", TeamId::new)?,
                    name: r.try_get("name")?,
                })
            })
            .collect()
    }

    /// The actor a user acts as: their role's grants and their teammates
    /// (read only when a grant is scoped to the team). `None` for a user
    /// who is disabled or does not exist.
    pub async fn actor(&self, user: &UserId) -> StoreResult<Option<Actor>> {
        let row = sqlx::query(
            "SELECT u.role, r.grants FROM users u JOIN roles r ON r.id = u.role WHERE u.id = $1 AND u.active = 1",
        )
        .bind(user.as_str())
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let grants: String = row.try_get("grants")?;
        self.actor_from(
            user.clone(),
            id_of(&row, "role", RoleId::new)?,
            stored_grants(&grants)?,
        )
        .await
        .map(Some)
    }

    pub(crate) async fn actor_from(
        &self,
        user: UserId,
        role: RoleId,
        grants: Grants,
    ) -> StoreResult<Actor> {
        let teammates = if grants.modules.values().any(|g| g.scope == DataScope::Team) {
            self.teammates(&user).await?
        } else {
            BTreeSet::new()
        };
        Ok(Actor {
            user: Some(user),
            role,
            grants,
            teammates,
        })
    }

    /// Everyone who shares a team with `user`, `user` included.
    pub async fn teammates(&self, user: &UserId) -> StoreResult<BTreeSet<UserId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT b.user_id FROM team_members a JOIN team_members b ON b.team_id = a.team_id WHERE a.user_id = $1",
        )
        .bind(user.as_str())
        .fetch_all(self.reader())
        .await?;
        let mut set = rows
            .iter()
            .map(|r| id_of(r, "user_id", UserId::new))
            .collect::<StoreResult<BTreeSet<_>>>()?;
        set.insert(user.clone());
        Ok(set)
    }

    /// Disables a user by e-mail (the CLI): see [`Store::set_user_active`].
    pub async fn disable_user(&self, email: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        self.set_user_active(&id_of(&row, "id", UserId::new)?, false)
            .await
    }

    /// Disables or re-enables a user. Disabling ends every session of theirs
    /// and stops their tokens at once (tokens are checked against the user's
    /// `active` flag on every request). False when it was already so.
    pub async fn set_user_active(&self, user: &UserId, active: bool) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET active = $2, updated_at = $3 WHERE id = $1 AND active <> $2",
        )
        .bind(user.as_str())
        .bind(i64::from(active))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if !active {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
        }
        changed_or_found(
            tx,
            done.rows_affected(),
            "SELECT id FROM users WHERE id = $1",
            user.as_str(),
        )
        .await
    }

    /// Changes a user's role, name or e-mail; `None` leaves a field as it is.
    pub async fn update_user(
        &self,
        user: &UserId,
        name: Option<&str>,
        role: Option<&RoleId>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if let Some(role) = role
            && sqlx::query("SELECT id FROM roles WHERE id = $1")
                .bind(role.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_none()
        {
            return Err(StoreError::Invalid(format!("no role {role}")));
        }
        let done = sqlx::query(
            "UPDATE users SET name = COALESCE($2, name), role = COALESCE($3, role), updated_at = $4 WHERE id = $1",
        )
        .bind(user.as_str())
        .bind(name)
        .bind(role.map(RoleId::as_str))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores a new password hash; `temporary` makes the user choose their
    /// own at next sign-in. Every session of the user but `keep` ends.
    pub async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        temporary: bool,
        keep_session: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, must_change_password = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(user.as_str())
        .bind(password_hash)
        .bind(i64::from(temporary))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user.as_str())
            .bind(keep_session.map(token_hash).unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's language, theme and time zone (validated by the caller).
    pub async fn set_preferences(
        &self,
        user: &UserId,
        language: Option<&str>,
        theme: &str,
        time_zone: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET language = $2, theme = $3, time_zone = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(user.as_str())
        .bind(language)
        .bind(theme)
        .bind(time_zone)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Mints a token; returns (token id, the token itself — shown once,
    /// stored hashed). A user's token acts as its user (their role as it is
    /// at each request); without a user it is a service token: admin at full
    /// scope, or only what its scope names.
    pub async fn create_token(
        &self,
        name: &str,
        user: Option<&UserId>,
        scope: TokenScope,
    ) -> StoreResult<(TokenId, String)> {
        let token = generate_token().map_err(StoreError::Random)?;
        let id = TokenId::new(new_id());
        let mut tx = self.begin_write().await?;
        let role = match user {
            Some(u) => {
                let row = sqlx::query("SELECT role FROM users WHERE id = $1 AND active = 1")
                    .bind(u.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                row.try_get::<String, _>("role")?
            }
            None => crm_domain::access::seeded::ADMIN.to_string(),
        };
        sqlx::query(
            "INSERT INTO api_tokens (id, name, token_hash, user_id, role, scope, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.as_str())
        .bind(name)
        .bind(token_hash(&token))
        .bind(user.map(UserId::as_str))
        .bind(role)
        .bind(scope.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((id, token))
    }

    /// Tokens, newest first (revoked ones too, marked): every token, or only
    /// `owner`'s.
    pub async fn list_tokens(&self, owner: Option<&UserId>) -> StoreResult<Vec<TokenView>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.user_id, u.email, t.role, u.role AS user_role, t.scope, t.created_at, t.revoked_at \
             FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE ($1 IS NULL OR t.user_id = $1) \
             ORDER BY t.created_at DESC, t.id DESC",
        )
        .bind(owner.map(UserId::as_str))
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
                let user_id: Option<String> = r.try_get("user_id")?;
                Ok(TokenView {
                    id: id_of(r, "id", TokenId::new)?,
                    name: r.try_get("name")?,
                    user_id: user_id.map(UserId::new),
                    user_email: r.try_get("email")?,
                    role: RoleId::new(role),
                    scope: stored(&scope, TokenScope::parse, "token scope")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a token by id (only `owner`'s when given: one's own tokens);
    /// false when it was revoked already.
    pub async fn revoke_token(&self, id: &TokenId, owner: Option<&UserId>) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if let Some(owner) = owner {
            let row = sqlx::query("SELECT user_id FROM api_tokens WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let holder: Option<String> = row.try_get("user_id")?;
            if holder.as_deref() != Some(owner.as_str()) {
                // Someone else's token does not exist for this caller.
                return Err(StoreError::NotFound);
            }
        }
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        changed_or_found(
            tx,
            done.rows_affected(),
            "SELECT id FROM api_tokens WHERE id = $1",
            id.as_str(),
        )
        .await
    }

    /// The principal behind a bearer token, if it is live and its user
    /// active. A user's token acts with the user's current role: a role
    /// change or a disabled user takes effect on the next request.
    pub async fn authenticate_token(&self, token: &str) -> StoreResult<Option<Principal>> {
        let row = sqlx::query(
            "SELECT t.id, t.user_id, t.scope, u.role AS user_role, u.active, r.grants FROM api_tokens t \
             LEFT JOIN users u ON u.id = t.user_id LEFT JOIN roles r ON r.id = u.role \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(token_hash(token))
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token_id = id_of(&row, "id", TokenId::new)?;
        let scope: String = row.try_get("scope")?;
        let scope = stored(&scope, TokenScope::parse, "token scope")?;
        let user_id: Option<String> = row.try_get("user_id")?;
        let actor = match user_id {
            None => Actor::service(),
            Some(user) => {
                let active: Option<i64> = row.try_get("active")?;
                if active != Some(1) {
                    return Ok(None);
                }
                let role: Option<String> = row.try_get("user_role")?;
                let grants: Option<String> = row.try_get("grants")?;
                let (Some(role), Some(grants)) = (role, grants) else {
                    return Err(StoreError::Invariant(format!("user {user} has no role")));
                };
                self.actor_from(
                    UserId::new(user),
                    RoleId::new(role),
                    stored_grants(&grants)?,
                )
                .await?
            }
        };
        Ok(Some(Principal {
            token: Some(token_id),
            scope,
            actor,
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
pub(crate) async fn changed_or_found(
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
    Ok(changed >= 1)
}
