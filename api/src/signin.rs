//! Signing in and out, first-run setup and password changes: the rules every
//! way in (the dashboard's forms, the CLI) shares, with throttling and the
//! audit log. Handlers stay thin: they parse a form and call these.

use std::sync::OnceLock;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, header};
use crm_domain::audit::{AuditAction, AuditRecord};
use crm_domain::auth::{AuthError, hash_password, hash_unchecked, verify_password};
use crm_domain::email::{mask_email, normalize_email};
use crm_domain::ids::UserId;
use crm_domain::password::{self, WeakPassword};
use crm_domain::session::throttle_wait;
use crm_store::{NewSession, NewUser, Origin, StoreError, admin_role};

use crate::AppState;
use crate::auth::SESSION_COOKIE;

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown e-mail, wrong password and disabled account alike: the
    /// answer never tells which.
    #[error("e-mail or password is not right")]
    Invalid,
    #[error("too many failed sign-ins; try again in {} minutes", crm_domain::session::wait_minutes(*wait_ms))]
    Throttled { wait_ms: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password check failed")]
    Hash(#[source] AuthError),
    #[error("password check did not finish")]
    Join(#[source] tokio::task::JoinError),
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error(transparent)]
    Weak(#[from] WeakPassword),
    #[error("the two passwords differ")]
    Mismatch,
    #[error("the current password is not right")]
    WrongCurrent,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed")]
    Hash(#[source] AuthError),
    #[error("password hashing did not finish")]
    Join(#[source] tokio::task::JoinError),
}

/// The request's address and browser, for sessions, throttling and audit.
pub fn origin_of(headers: &HeaderMap, peer: Option<&ConnectInfo<std::net::SocketAddr>>) -> Origin {
    Origin {
        ip: peer.map(|c| c.0.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// [`origin_of`] as an extractor (never fails: a request without a peer
/// address, as in-process tests make, has none).
#[derive(Debug, Clone, Default)]
pub struct RequestOrigin(pub Origin);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>();
        Ok(RequestOrigin(origin_of(&parts.headers, peer)))
    }
}

/// A hash to verify against when the e-mail is unknown, so that answer
/// costs what a wrong password costs.
fn dummy_hash() -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash_unchecked("not a password anyone has").ok())
        .as_deref()
}

async fn verify_off_runtime(password: String, phc: Option<String>) -> Result<bool, SignInError> {
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify_password(&password, &phc),
        None => {
            if let Some(d) = dummy_hash() {
                verify_password(&password, d);
            }
            false
        }
    })
    .await
    .map_err(SignInError::Join)
}

/// Hashes a new password off the async runtime after the policy check.
pub async fn hash_new_password(password: &str, personal: &[&str]) -> Result<String, PasswordError> {
    password::check(password, personal)?;
    let pw = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(PasswordError::Join)?
        .map_err(|e| match e {
            AuthError::Weak(w) => PasswordError::Weak(w),
            other => PasswordError::Hash(other),
        })
}

/// Signs a user in: checks throttling for the account and the address,
/// verifies the password, rotates the session (ending `replaces`), records
/// the outcome. Returns the user and the new session.
pub async fn sign_in(
    st: &AppState,
    email: &str,
    password: &str,
    origin: &Origin,
    replaces: Option<&str>,
) -> Result<(UserId, NewSession), SignInError> {
    let email = normalize_email(email).unwrap_or_else(|| email.trim().to_lowercase());
    let policy = st.config.throttle_policy();
    let account_key = format!("account:{email}");
    let ip_key = origin.ip.as_ref().map(|ip| format!("ip:{ip}"));
    let now = crm_domain::util::now_ms();
    let mut wait = throttle_wait(
        &st.store
            .login_failures(&account_key, policy.per_account, policy.window_ms)
            .await?,
        policy.per_account,
        policy.window_ms,
        now,
    );
    if let Some(k) = &ip_key {
        let ip_wait = throttle_wait(
            &st.store
                .login_failures(k, policy.per_ip, policy.window_ms)
                .await?,
            policy.per_ip,
            policy.window_ms,
            now,
        );
        wait = wait.max(ip_wait);
    }
    if let Some(wait_ms) = wait {
        audit(
            st,
            AuditRecord::new(AuditAction::SignInThrottled, "anonymous")
                .ip(origin.ip.clone())
                .detail(serde_json::json!({"email": mask_email(&email), "wait_ms": wait_ms})),
        )
        .await;
        return Err(SignInError::Throttled { wait_ms });
    }
    let creds = st.store.credentials(&email).await?;
    let ok = verify_off_runtime(
        password.to_string(),
        creds.as_ref().map(|c| c.password_hash.clone()),
    )
    .await?;
    let user = match creds {
        Some(c) if ok && c.active => c.user_id,
        _ => {
            let mut keys = vec![account_key];
            keys.extend(ip_key);
            st.store.record_login_failure(&keys).await?;
            audit(
                st,
                AuditRecord::new(AuditAction::SignInFailed, "anonymous")
                    .ip(origin.ip.clone())
                    .detail(serde_json::json!({"email": mask_email(&email)})),
            )
            .await;
            return Err(SignInError::Invalid);
        }
    };
    st.store
        .clear_login_failures(&account_key, policy.window_ms)
        .await?;
    let session = st.store.create_session(&user, replaces, origin).await?;
    audit(
        st,
        AuditRecord::new(AuditAction::SignIn, format!("user:{user}"))
            .target(format!("user:{user}"))
            .ip(origin.ip.clone())
            .detail(serde_json::json!({"session": "new", "rotated": replaces.is_some()})),
    )
    .await;
    Ok((user, session))
}

/// Creates the first admin with the setup code and signs them in.
pub async fn complete_setup(
    st: &AppState,
    code: &str,
    name: &str,
    email: &str,
    password: &str,
    origin: &Origin,
) -> Result<(UserId, NewSession), SetupError> {
    let email = normalize_email(email).ok_or(SetupError::Email)?;
    let hash = hash_new_password(password, &[&email, name]).await?;
    let role = admin_role();
    let user = st
        .store
        .complete_setup(
            code,
            NewUser {
                email: &email,
                name: Some(name.trim()).filter(|n| !n.is_empty()),
                password_hash: &hash,
                role: &role,
                must_change_password: false,
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => SetupError::Done,
            StoreError::Invalid(_) => SetupError::Code,
            other => SetupError::Store(other),
        })?;
    audit(
        st,
        AuditRecord::new(AuditAction::SetupCompleted, format!("user:{user}"))
            .target(format!("user:{user}"))
            .ip(origin.ip.clone()),
    )
    .await;
    let session = st
        .store
        .create_session(&user, None, origin)
        .await
        .map_err(SetupError::Store)?;
    Ok((user, session))
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("setup is already complete; sign in instead")]
    Done,
    #[error("the setup code is not right; it is printed in the terminal where crm started")]
    Code,
    #[error("that is not a valid e-mail address")]
    Email,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(StoreError),
}

/// Changes the signed-in user's own password after checking the current
/// one; every other session of theirs ends, and this one is rotated.
pub async fn change_password(
    st: &AppState,
    user: &UserId,
    current: &str,
    new: &str,
    confirm: &str,
    session_cookie: &str,
    origin: &Origin,
) -> Result<NewSession, PasswordError> {
    if new != confirm {
        return Err(PasswordError::Mismatch);
    }
    let phc = st.store.password_hash(user).await?;
    let ok = verify_off_runtime(current.to_string(), Some(phc))
        .await
        .map_err(|e| match e {
            SignInError::Join(j) => PasswordError::Join(j),
            _ => PasswordError::WrongCurrent,
        })?;
    if !ok {
        return Err(PasswordError::WrongCurrent);
    }
    let me = st.store.user(user).await?;
    let hash = hash_new_password(new, &[&me.email, me.name.as_deref().unwrap_or_default()]).await?;
    st.store.set_password(user, &hash, false, None).await?;
    let session = st
        .store
        .create_session(user, Some(session_cookie), origin)
        .await?;
    audit(
        st,
        AuditRecord::new(AuditAction::PasswordChanged, format!("user:{user}"))
            .target(format!("user:{user}"))
            .ip(origin.ip.clone()),
    )
    .await;
    Ok(session)
}

/// Writes an audit entry; a failure to write it is logged, never a reason
/// to fail what already happened.
pub async fn audit(st: &AppState, record: AuditRecord) {
    if let Err(e) = st.store.audit(&record).await {
        tracing::error!(error = %crm_domain::util::error_chain(&e), action = %record.action, "audit entry not written");
    }
}

/// The `Set-Cookie` value for a new session: HttpOnly, SameSite=Lax,
/// `Secure` behind https, living as long as the session may.
pub fn session_cookie(st: &AppState, value: &str) -> HeaderValue {
    let secure = if st.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let max_age = st.config.session_max_hours * 3600;
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("crm_session=; Path=/; Max-Age=0"))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_session_cookie(st: &AppState) -> HeaderValue {
    let secure = if st.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("crm_session=; Path=/; Max-Age=0"))
}
