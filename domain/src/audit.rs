//! The security audit log's words: what happened, closed. An entry names who
//! did it, to what, from where; it never holds a password, a token or a
//! full phone number (details are built from ids and masked values only).

use crate::inbound::closed_set;

closed_set!(
    /// A security event.
    AuditAction {
        SetupCompleted = "setup.completed",
        SignIn = "sign_in",
        SignInFailed = "sign_in.failed",
        SignInThrottled = "sign_in.throttled",
        SignOut = "sign_out",
        SignOutEverywhere = "sign_out.everywhere",
        PasswordChanged = "password.changed",
        PasswordReset = "password.reset",
        PasswordResetIssued = "password.reset_issued",
        TemporaryPasswordSet = "password.temporary_set",
        UserCreated = "user.created",
        UserUpdated = "user.updated",
        UserDisabled = "user.disabled",
        UserEnabled = "user.enabled",
        UserOffboarded = "user.offboarded",
        RoleCreated = "role.created",
        RoleUpdated = "role.updated",
        TeamCreated = "team.created",
        TeamUpdated = "team.updated",
        TokenCreated = "token.created",
        TokenRevoked = "token.revoked",
        CustomersExported = "customers.exported",
    }
);

/// One line of the log as it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub action: AuditAction,
    /// `user:<id>`, `token:<id>`, or `anonymous` (a failed sign-in).
    pub actor: String,
    /// What it was done to: `user:<id>`, `role:<id>`, `token:<id>` …
    pub target: Option<String>,
    pub ip: Option<String>,
    /// Extra facts as JSON text: ids, masked values, counts.
    pub detail: String,
}

impl AuditRecord {
    pub fn new(action: AuditAction, actor: impl Into<String>) -> Self {
        AuditRecord {
            action,
            actor: actor.into(),
            target: None,
            ip: None,
            detail: "{}".to_string(),
        }
    }

    #[must_use]
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    #[must_use]
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }

    #[must_use]
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail.to_string();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_as_text() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
        }
        let r = AuditRecord::new(AuditAction::SignIn, "user:u1")
            .target("user:u1")
            .ip(Some("127.0.0.1".into()))
            .detail(serde_json::json!({"session": "rotated"}));
        assert_eq!(r.detail, r#"{"session":"rotated"}"#);
    }
}
