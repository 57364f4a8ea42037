//! Callers, tokens and passwords: who a request acts as and what its token
//! allows; the role matrix itself is in [`crate::access`].

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use serde::{Deserialize, Serialize};

use crate::access::{Action, Actor, Module};
use crate::ids::{TokenId, UserId};

/// What a route of the intake spine needs, named by what it does; each is a
/// module × action of the caller's role (see [`Permission::needs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Post leads to `/intake/leads`.
    IntakeLeads,
    ReadCustomers,
    MoveCards,
    /// Inspect and retry inbound events.
    OperateIntake,
    /// Subscribe to the live event stream (each event is then checked
    /// against its customer).
    StreamEvents,
    /// Read `/metrics`.
    ScrapeMetrics,
}

impl Permission {
    /// The grants that allow it: any one of them will do.
    pub fn needs(self) -> &'static [(Module, Action)] {
        match self {
            Permission::IntakeLeads => &[(Module::Customers, Action::Create)],
            Permission::ReadCustomers => &[(Module::Customers, Action::View)],
            Permission::MoveCards => &[(Module::Pipeline, Action::Edit)],
            Permission::OperateIntake => &[(Module::Settings, Action::Edit)],
            Permission::StreamEvents => &[
                (Module::Pipeline, Action::View),
                (Module::Customers, Action::View),
                (Module::Inbox, Action::View),
            ],
            Permission::ScrapeMetrics => &[(Module::Settings, Action::Manage)],
        }
    }
}

/// What a token may be used for. A web form or partner embeds an intake
/// token in pages anyone can read, and a metrics scraper's token sits in a
/// monitoring config: neither should open the customer data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Everything the token's user (or, for a service token, an admin) may do.
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

/// Who is calling: a signed-in user (no token), a user's token, or a
/// service token (no user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token: Option<TokenId>,
    pub scope: TokenScope,
    pub actor: Actor,
}

impl Principal {
    /// A browser session of a user: everything their role allows.
    pub fn session(actor: Actor) -> Self {
        Principal {
            token: None,
            scope: TokenScope::Full,
            actor,
        }
    }

    pub fn user(&self) -> Option<&UserId> {
        self.actor.user.as_ref()
    }

    /// How the audit log and the timeline name this caller.
    pub fn actor_label(&self) -> String {
        match (&self.actor.user, &self.token) {
            (Some(u), _) => format!("user:{u}"),
            (None, Some(t)) => format!("token:{t}"),
            (None, None) => "system".to_string(),
        }
    }

    /// Whether this caller may do `p`: its token's scope first, then its role.
    pub fn may(&self, p: Permission) -> bool {
        match self.scope {
            TokenScope::Intake => p == Permission::IntakeLeads,
            TokenScope::Metrics => p == Permission::ScrapeMetrics,
            TokenScope::Full => p
                .needs()
                .iter()
                .any(|(m, a)| self.actor.grants.allows(*m, *a)),
        }
    }

    /// Whether this caller may do `action` in `module` at all (a narrow
    /// token never may: its one route asks [`Principal::may`]).
    pub fn may_do(&self, module: Module, action: Action) -> bool {
        self.scope == TokenScope::Full && self.actor.grants.allows(module, action)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing failed")]
    Hash(#[source] argon2::password_hash::Error),
    #[error("argon2 parameters refused")]
    Params(#[source] argon2::Error),
    #[error("random source failed")]
    Random(#[source] getrandom::Error),
    #[error(transparent)]
    Weak(#[from] crate::password::WeakPassword),
}

/// Argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane)
/// stated here rather than trusted to the crate's defaults.
fn argon2() -> Result<argon2::Argon2<'static>, AuthError> {
    let params = argon2::Params::new(19 * 1024, 2, 1, None).map_err(AuthError::Params)?;
    Ok(argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ))
}

/// Hashes a new password after checking it against the policy; slow on
/// purpose, so call it off the async runtime.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    crate::password::check(password, &[])?;
    hash_unchecked(password)
}

/// Hashes without the policy: for the dummy hash that makes a login for an
/// unknown e-mail cost as much as a wrong password.
pub fn hash_unchecked(password: &str) -> Result<String, AuthError> {
    argon2()?
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(AuthError::Hash)
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(a) = argon2() else { return false };
    match PasswordHash::new(phc) {
        Ok(h) => a.verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// 256 random bits as lowercase hex: session ids, CSRF tokens, reset links,
/// setup codes are all made of these.
pub fn random_secret() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(AuthError::Random)?;
    Ok(crate::util::lower_hex(&bytes))
}

/// A new API token: `crm_` + 64 hex chars (256 random bits). Only its SHA-256
/// is stored; with that much entropy a slow hash buys nothing and would cost
/// every request.
pub fn generate_token() -> Result<String, AuthError> {
    Ok(format!("crm_{}", random_secret()?))
}

/// What is stored of a token, a session id or a reset link: its SHA-256.
pub fn token_hash(token: &str) -> String {
    crate::util::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::access::{Grants, seeded};
    use crate::ids::RoleId;

    #[test]
    fn passwords_round_trip_and_weak_ones_are_refused() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(matches!(hash_password("short"), Err(AuthError::Weak(_))));
        assert!(matches!(
            hash_password("password123"),
            Err(AuthError::Weak(_))
        ));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("crm_") && a.len() == 68);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), a);
        assert_eq!(random_secret().unwrap().len(), 64);
    }

    fn of_role(role: &str) -> Principal {
        let grants = seeded::roles()
            .into_iter()
            .find(|(id, _, _)| id == role)
            .map(|(_, _, g)| g)
            .unwrap();
        Principal::session(Actor {
            user: Some(UserId::new("u")),
            role: RoleId::new(role),
            grants,
            teammates: Default::default(),
        })
    }

    #[test]
    fn only_admins_and_managers_operate_intake() {
        assert!(of_role(seeded::ADMIN).may(Permission::OperateIntake));
        assert!(of_role(seeded::MANAGER).may(Permission::OperateIntake));
        assert!(!of_role(seeded::SALES).may(Permission::OperateIntake));
        assert!(of_role(seeded::SALES).may(Permission::ReadCustomers));
        assert!(of_role(seeded::SALES).may(Permission::IntakeLeads));
        assert!(!of_role(seeded::MANAGER).may(Permission::ScrapeMetrics));
        let nothing = Principal::session(Actor {
            grants: Grants::default(),
            ..of_role(seeded::SALES).actor
        });
        assert!(!nothing.may(Permission::StreamEvents));
    }

    #[test]
    fn scoped_tokens_do_only_their_one_thing() {
        let p = |scope| Principal {
            token: Some(TokenId::new("t")),
            scope,
            actor: Actor::service(),
        };
        let intake = p(TokenScope::Intake);
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
        assert!(!intake.may_do(Module::Customers, Action::View));
        let metrics = p(TokenScope::Metrics);
        assert!(metrics.may(Permission::ScrapeMetrics));
        assert!(!metrics.may(Permission::ReadCustomers));
        assert!(!metrics.may(Permission::IntakeLeads));
        assert!(p(TokenScope::Full).may(Permission::ScrapeMetrics));
        assert_eq!(p(TokenScope::Full).actor_label(), "token:t");
        assert_eq!(TokenScope::parse(" Intake "), Some(TokenScope::Intake));
        assert_eq!(TokenScope::parse("all"), None);
    }
}
