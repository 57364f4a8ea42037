//! Ids as types: a customer id cannot be passed where a stage id is meant.
//! Each is text (a ULID for the ids we mint; seeded rows such as the default
//! pipeline have readable ids), stored as TEXT and converted at the store
//! boundary only.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest id accepted from a caller (a path segment or a JSON field): ULIDs
/// are 26 characters, seeded ids shorter still.
pub const MAX_ID_LEN: usize = 64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh id (a ULID).
            pub fn generate() -> Self {
                Self(crate::util::new_id())
            }

            /// An id as stored or as a caller wrote it; whether it names
            /// anything is for the store to say.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }

            /// Whether a caller-supplied id is worth a lookup: non-empty,
            /// short, printable ASCII.
            pub fn is_plausible(&self) -> bool {
                !self.0.is_empty()
                    && self.0.len() <= MAX_ID_LEN
                    && self.0.bytes().all(|b| b.is_ascii_graphic())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// A customer: one person however many channels they came through.
    CustomerId
);
id_type!(
    /// A sales pipeline.
    PipelineId
);
id_type!(
    /// A stage of a pipeline.
    StageId
);
id_type!(
    /// A customer's card on a pipeline.
    CardId
);
id_type!(
    /// A staff member's account.
    UserId
);
id_type!(
    /// An API token (its id, never the token).
    TokenId
);
id_type!(
    /// A stored inbound event (a webhook delivery, an intake post).
    EventId
);
id_type!(
    /// A lead: one application of a customer.
    LeadId
);
id_type!(
    /// A conversation on one channel.
    ConversationId
);
id_type!(
    /// A message of a conversation.
    MessageId
);
id_type!(
    /// A timeline entry.
    TimelineId
);

id_type!(
    /// A role: a matrix of module × action with a data scope per module.
    RoleId
);
id_type!(
    /// A team (department); a team has a lead.
    TeamId
);
id_type!(
    /// An entry of the security audit log.
    AuditId
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_are_text_on_the_wire_and_plausible_only_when_short_and_printable() {
        let id = CustomerId::generate();
        assert_eq!(id.as_str().len(), 26);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: CustomerId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(id.is_plausible());
        assert!(StageId::new("st_default_1").is_plausible());
        assert!(!StageId::new("").is_plausible());
        assert!(!StageId::new("a b").is_plausible());
        assert!(!StageId::new("x".repeat(MAX_ID_LEN + 1)).is_plausible());
        assert_eq!(PipelineId::new("pl_default"), "pl_default");
    }
}
