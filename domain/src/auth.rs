//! Accounts, roles and permissions. Checks live here, not only in the UI.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Manager,
    Agent,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "manager" => Some(Role::Manager),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
        }
    }
}

/// What a request is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Post leads to `/intake/leads`.
    IntakeLeads,
    ReadCustomers,
    MoveCards,
    /// Inspect and retry inbound events.
    OperateIntake,
    /// Subscribe to the live event stream.
    StreamEvents,
    /// Read `/metrics`.
    ScrapeMetrics,
}

/// What a token may be used for. A web form or partner embeds an intake
/// token in pages anyone can read, and a metrics scraper's token sits in a
/// monitoring config: neither should open the customer data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Everything the token's role allows.
    Full,
    /// `POST /intake/leads` only.
    Intake,
    /// `GET /metrics` only.
    Metrics,
}

impl TokenScope {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Some(Self::Full),
            "intake" => Some(Self::Intake),
            "metrics" => Some(Self::Metrics),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Intake => "intake",
            Self::Metrics => "metrics",
        }
    }
}

/// Who is calling: a user's token or a service token (no user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: String,
    pub user_id: Option<String>,
    pub role: Role,
    pub scope: TokenScope,
}

impl Principal {
    pub fn actor(&self) -> String {
        match &self.user_id {
            Some(u) => format!("user:{u}"),
            None => format!("token:{}", self.token_id),
        }
    }

    /// Whether this caller may do `p`: its token's scope first, then its role.
    pub fn may(&self, p: Permission) -> bool {
        match self.scope {
            TokenScope::Intake => p == Permission::IntakeLeads,
            TokenScope::Metrics => p == Permission::ScrapeMetrics,
            TokenScope::Full => allows(self.role, p),
        }
    }
}

/// What a role allows, for a token of full scope.
pub fn allows(role: Role, p: Permission) -> bool {
    match p {
        Permission::IntakeLeads
        | Permission::ReadCustomers
        | Permission::MoveCards
        | Permission::StreamEvents => true,
        Permission::OperateIntake => matches!(role, Role::Admin | Role::Manager),
        Permission::ScrapeMetrics => role == Role::Admin,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing failed")]
    Hash(#[source] argon2::password_hash::Error),
    #[error("random source failed")]
    Random(#[source] getrandom::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Argon2id with a fresh salt; slow on purpose, so call it off the async runtime.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.chars().count() < 8 {
        return Err(AuthError::Invalid(
            "password must have at least 8 characters".into(),
        ));
    }
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(AuthError::Hash)
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A new API token: `crm_` + 64 hex chars (256 random bits). Only its SHA-256
/// is stored; with that much entropy a slow hash buys nothing and would cost
/// every request.
pub fn generate_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(AuthError::Random)?;
    Ok(format!("crm_{}", crate::util::lower_hex(&bytes)))
}

pub fn token_hash(token: &str) -> String {
    crate::util::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn passwords_round_trip_and_short_ones_are_refused() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("crm_") && a.len() == 68);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn only_admins_and_managers_operate_intake() {
        assert!(allows(Role::Admin, Permission::OperateIntake));
        assert!(allows(Role::Manager, Permission::OperateIntake));
        assert!(!allows(Role::Agent, Permission::OperateIntake));
        assert!(allows(Role::Agent, Permission::ReadCustomers));
        assert_eq!(Role::parse(" Admin "), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn scoped_tokens_do_only_their_one_thing() {
        let p = |role, scope| Principal {
            token_id: "t".into(),
            user_id: None,
            role,
            scope,
        };
        let intake = p(Role::Admin, TokenScope::Intake);
        assert!(intake.may(Permission::IntakeLeads));
        for other in [
            Permission::ReadCustomers,
            Permission::MoveCards,
            Permission::OperateIntake,
            Permission::StreamEvents,
            Permission::ScrapeMetrics,
        ] {
            assert!(!intake.may(other), "{other:?}");
        }
        let metrics = p(Role::Admin, TokenScope::Metrics);
        assert!(metrics.may(Permission::ScrapeMetrics));
        assert!(!metrics.may(Permission::ReadCustomers));
        assert!(!metrics.may(Permission::IntakeLeads));
        assert!(p(Role::Admin, TokenScope::Full).may(Permission::ScrapeMetrics));
        assert!(!p(Role::Agent, TokenScope::Full).may(Permission::ScrapeMetrics));
        assert!(!p(Role::Manager, TokenScope::Full).may(Permission::ScrapeMetrics));
        assert_eq!(TokenScope::parse(" Intake "), Some(TokenScope::Intake));
        assert_eq!(TokenScope::parse("all"), None);
    }
}
