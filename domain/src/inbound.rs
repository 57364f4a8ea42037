//! What an inbound event is and where it stands: closed sets, stored as text
//! and converted at the store boundary only.

/// Declares a closed set stored as lowercase text, with its parse and print.
macro_rules! closed_set {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use closed_set;

closed_set!(
    /// Where an inbound event stands.
    InboundStatus {
        /// Waiting for (another) processing attempt.
        Pending = "pending",
        Done = "done",
        /// Stored, but nothing in it concerns us.
        Ignored = "ignored",
        /// Signed but not JSON: kept for inspection, never processed.
        Invalid = "invalid",
        /// Out of attempts, or failed in a way no retry can fix: a person
        /// looks and retries it.
        Dead = "dead",
    }
);

closed_set!(
    /// Who sent an inbound event.
    EventSource {
        /// A signed Meta webhook (WhatsApp, Messenger, Instagram, Lead Ads).
        Meta = "meta",
        /// `POST /intake/leads` (web forms, partners).
        Intake = "intake",
        /// The scheduler's Lead Ads reconciliation.
        Backfill = "backfill",
    }
);

closed_set!(
    /// How a processed event ended.
    Processed {
        Done = "done",
        Ignored = "ignored",
    }
);

impl From<Processed> for InboundStatus {
    fn from(p: Processed) -> Self {
        match p {
            Processed::Done => InboundStatus::Done,
            Processed::Ignored => InboundStatus::Ignored,
        }
    }
}

impl InboundStatus {
    /// Only a dead event can be put back in the queue by hand (an invalid
    /// one would fail the same way again).
    pub fn can_retry(self) -> bool {
        self == InboundStatus::Dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_sets_round_trip_their_text() {
        for s in InboundStatus::ALL {
            assert_eq!(InboundStatus::parse(s.as_str()), Some(*s));
            assert_eq!(
                serde_json::to_string(s).ok(),
                Some(format!("\"{}\"", s.as_str()))
            );
        }
        for s in EventSource::ALL {
            assert_eq!(EventSource::parse(s.as_str()), Some(*s));
        }
        assert_eq!(InboundStatus::parse("failed"), None);
        assert_eq!(InboundStatus::parse("Pending"), None);
        assert!(InboundStatus::Dead.can_retry());
        assert!(!InboundStatus::Invalid.can_retry());
        assert!(!InboundStatus::Pending.can_retry());
    }
}
