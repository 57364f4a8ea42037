//! Sign-in sessions, failed sign-ins, one-time reset links and the first-run
//! setup code. Secrets are stored as their SHA-256 only; what a row means
//! (expired, throttled) is decided by `crm_domain::session`.

use sqlx::Row;

use super::{Store, StoreError, StoreResult, id_of};
use crate::auth::stored_grants;
use crm_domain::access::Actor;
use crm_domain::auth::{random_secret, token_hash};
use crm_domain::ids::{RoleId, UserId};
use crm_domain::session::{SessionPolicy, SessionVerdict};
use crm_domain::util::now_ms;

/// A signed-in session as a request sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub user_id: UserId,
    pub csrf: String,
    pub actor: Actor,
    pub must_change_password: bool,
}

/// A new session: the cookie value (shown to the browser only) and its CSRF
/// token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub cookie: String,
    pub csrf: String,
}

/// Where a request came from, as a session and the audit log keep it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Store {
    /// Starts a session for `user`; when `replaces` names the session the
    /// browser had, that one ends (the id is rotated at sign-in and at any
    /// change of privilege).
    pub async fn create_session(
        &self,
        user: &UserId,
        replaces: Option<&str>,
        origin: &Origin,
    ) -> StoreResult<NewSession> {
        let cookie = random_secret().map_err(StoreError::Random)?;
        let csrf = random_secret().map_err(StoreError::Random)?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        if let Some(old) = replaces {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(token_hash(old))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf, created_at, last_seen_at, ip, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6)",
        )
        .bind(token_hash(&cookie))
        .bind(user.as_str())
        .bind(&csrf)
        .bind(now)
        .bind(origin.ip.as_deref())
        .bind(origin.user_agent.as_deref().map(|a| a.chars().take(200).collect::<String>()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(NewSession { cookie, csrf })
    }

    /// The live session behind a cookie, with its user's actor; an expired
    /// session is deleted and a disabled user's is not found.
    pub async fn session(
        &self,
        cookie: &str,
        policy: &SessionPolicy,
    ) -> StoreResult<Option<SessionInfo>> {
        let hash = token_hash(cookie);
        let row = sqlx::query(
            "SELECT s.user_id, s.csrf, s.created_at, s.last_seen_at, u.role, u.must_change_password, r.grants FROM sessions s \
             JOIN users u ON u.id = s.user_id JOIN roles r ON r.id = u.role WHERE s.id_hash = $1 AND u.active = 1",
        )
        .bind(&hash)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let now = now_ms();
        let created: i64 = row.try_get("created_at")?;
        let seen: i64 = row.try_get("last_seen_at")?;
        match policy.check(created, seen, now) {
            SessionVerdict::Expired => {
                self.end_session(cookie).await?;
                return Ok(None);
            }
            SessionVerdict::Alive { touch: true } => {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1")
                    .bind(&hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            SessionVerdict::Alive { touch: false } => {}
        }
        let user = id_of(&row, "user_id", UserId::new)?;
        let grants: String = row.try_get("grants")?;
        let must: i64 = row.try_get("must_change_password")?;
        let actor = self
            .actor_from(
                user.clone(),
                id_of(&row, "role", RoleId::new)?,
                stored_grants(&grants)?,
            )
            .await?;
        Ok(Some(SessionInfo {
            user_id: user,
            csrf: row.try_get("csrf")?,
            actor,
            must_change_password: must == 1,
        }))
    }

    pub async fn end_session(&self, cookie: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(token_hash(cookie))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends every session of `user` ("sign out everywhere"); returns how many.
    pub async fn end_sessions_of(&self, user: &UserId) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Records a failed sign-in against each key (`account:…`, `ip:…`).
    pub async fn record_login_failure(&self, keys: &[String]) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        for k in keys {
            sqlx::query("INSERT INTO login_failures (key, at) VALUES ($1, $2)")
                .bind(k)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` failures of `key` within `window_ms`, newest first.
    pub async fn login_failures(
        &self,
        key: &str,
        limit: usize,
        window_ms: i64,
    ) -> StoreResult<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT at FROM login_failures WHERE key = $1 AND at > $2 ORDER BY at DESC LIMIT $3",
        )
        .bind(key)
        .bind(now_ms() - window_ms)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("at")?)).collect()
    }

    /// Forgets an account's failures after it signs in, and failures older
    /// than `window_ms` of every key.
    pub async fn clear_login_failures(&self, key: &str, window_ms: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM login_failures WHERE key = $1 OR at < $2")
            .bind(key)
            .bind(now_ms() - window_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Issues a one-time reset link's secret for `user`, valid `valid_ms`;
    /// earlier unused links of the user stop working.
    pub async fn issue_password_reset(&self, user: &UserId, valid_ms: i64) -> StoreResult<String> {
        let secret = random_secret().map_err(StoreError::Random)?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash(&secret))
        .bind(user.as_str())
        .bind(now)
        .bind(now + valid_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// The active user a reset link is for, while it is unused and fresh.
    pub async fn password_reset_user(&self, secret: &str) -> StoreResult<Option<UserId>> {
        let row = sqlx::query(
            "SELECT p.user_id FROM password_resets p JOIN users u ON u.id = p.user_id \
             WHERE p.token_hash = $1 AND p.used_at IS NULL AND p.expires_at > $2 AND u.active = 1",
        )
        .bind(token_hash(secret))
        .bind(now_ms())
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| id_of(&r, "user_id", UserId::new)).transpose()
    }

    /// Uses a reset link: sets the password and ends every session, once.
    /// `None` when the link is used, expired or unknown.
    pub async fn use_password_reset(
        &self,
        secret: &str,
        password_hash: &str,
    ) -> StoreResult<Option<UserId>> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
        )
        .bind(token_hash(secret))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user = id_of(&row, "user_id", UserId::new)?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, must_change_password = 0, updated_at = $3 WHERE id = $1 AND active = 1",
        )
        .bind(user.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    /// While no user exists, mints a setup code for this process to print;
    /// `None` once someone has signed up.
    pub async fn issue_setup_code(&self) -> StoreResult<Option<String>> {
        if self.count_users().await? > 0 {
            return Ok(None);
        }
        let code = random_secret().map_err(StoreError::Random)?;
        // Short enough to type from a terminal, still 64 random bits.
        let code: String = code.chars().take(16).collect();
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO setup_codes (code_hash, created_at) VALUES ($1, $2)")
            .bind(token_hash(&code))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(code))
    }

    /// Creates the first admin with a setup code: refused (`Conflict`) once a
    /// user exists, (`Invalid`) with a wrong code. Every code is spent, so
    /// of two setups racing one wins.
    pub async fn complete_setup(
        &self,
        code: &str,
        user: crate::auth::NewUser<'_>,
    ) -> StoreResult<UserId> {
        let mut tx = self.begin_write().await?;
        let known = sqlx::query("SELECT code_hash FROM setup_codes WHERE code_hash = $1")
            .bind(token_hash(code.trim()))
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        let spent = sqlx::query("DELETE FROM setup_codes")
            .execute(&mut *tx)
            .await?;
        let users: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if users > 0 {
            return Err(StoreError::Conflict("setup is already complete".into()));
        }
        if !known || spent.rows_affected() == 0 {
            return Err(StoreError::Invalid("the setup code is not right".into()));
        }
        tx.commit().await?;
        // The codes are spent: a second setup now fails on the code, and a
        // crash here leaves no user and a restart prints a new code.
        self.create_user(user).await
    }

    pub async fn setup_pending(&self) -> StoreResult<bool> {
        Ok(self.count_users().await? == 0)
    }
}
