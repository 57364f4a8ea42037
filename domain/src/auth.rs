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
}

/// Who is calling: a user's token or a service token (no user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: String,
    pub user_id: Option<String>,
    pub role: Role,
}

impl Principal {
    pub fn actor(&self) -> String {
        match &self.user_id {
            Some(u) => format!("user:{u}"),
            None => format!("token:{}", self.token_id),
        }
    }
}

pub fn allows(role: Role, p: Permission) -> bool {
    match p {
        Permission::IntakeLeads
        | Permission::ReadCustomers
        | Permission::MoveCards
        | Permission::StreamEvents => true,
        Permission::OperateIntake => matches!(role, Role::Admin | Role::Manager),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("random source failed: {0}")]
    Random(String),
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
        .map_err(|e| AuthError::Hash(e.to_string()))
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
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
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
}
