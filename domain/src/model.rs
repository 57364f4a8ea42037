//! Model types: what workers hand to the store, what the API returns, and the
//! domain events published after commit.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{
    ConversationId, CustomerId, EventId, LeadId, MessageId, PipelineId, StageId, TimelineId, UserId,
};
use crate::inbound::{EventSource, InboundStatus, closed_set};
use crate::phone::PhoneE164;
use crate::rules::MessageStatus;

closed_set!(
    /// Where a conversation happens.
    Channel {
        WhatsApp = "whatsapp",
        Messenger = "messenger",
        Instagram = "instagram",
    }
);

closed_set!(
    /// Which way a message went.
    Direction {
        /// From the customer to us.
        Inbound = "inbound",
        /// From us (or our page, echoed back) to the customer.
        Outbound = "outbound",
    }
);

/// What a customer identity is (`customer_identities.kind`), a closed set
/// stored as text and converted at the store boundary only. Unlike the
/// `closed_set!` enums, Messenger and Instagram kinds carry the page or
/// account their ids are scoped to: one person has another PSID on another page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    /// A phone number, in every form it may match by (`phone_match_keys`).
    Phone,
    /// A normalised e-mail address.
    Email,
    /// A WhatsApp business-scoped user id (BSUID).
    WaUser,
    /// A Lead Ads leadgen id: the key of a lead with neither phone nor e-mail.
    MetaLead,
    /// A Messenger PSID, stored as `messenger:{page_id}`.
    Messenger { page_id: String },
    /// An Instagram IGSID, stored as `instagram:{account_id}`.
    Instagram { account_id: String },
}

impl IdentityKind {
    /// The kind its stored text names; None for text we never write.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "phone" => Some(IdentityKind::Phone),
            "email" => Some(IdentityKind::Email),
            "wa_user" => Some(IdentityKind::WaUser),
            "meta_lead" => Some(IdentityKind::MetaLead),
            _ => match s.split_once(':')? {
                ("messenger", page_id) => Some(IdentityKind::Messenger {
                    page_id: page_id.to_string(),
                }),
                ("instagram", account_id) => Some(IdentityKind::Instagram {
                    account_id: account_id.to_string(),
                }),
                _ => None,
            },
        }
    }
}

/// The stored text.
impl std::fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityKind::Phone => f.write_str("phone"),
            IdentityKind::Email => f.write_str("email"),
            IdentityKind::WaUser => f.write_str("wa_user"),
            IdentityKind::MetaLead => f.write_str("meta_lead"),
            IdentityKind::Messenger { page_id } => write!(f, "messenger:{page_id}"),
            IdentityKind::Instagram { account_id } => write!(f, "instagram:{account_id}"),
        }
    }
}

/// How we know who someone is, as far as one inbound signal tells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactInput {
    pub name: Option<String>,
    pub phone: Option<PhoneE164>,
    pub email: Option<String>,
    /// WhatsApp id as sent by Meta (digits); kept on the customer.
    pub wa_id: Option<String>,
    /// An identity of the channel's own (BSUID, PSID, IGSID, a phone-less
    /// lead's leadgen id) and its value.
    pub channel_identity: Option<(IdentityKind, String)>,
}

/// Campaign attribution carried by a lead, named as at intake and at Meta.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_content: Option<String>,
    pub utm_term: Option<String>,
    pub campaign_id: Option<String>,
    pub campaign_name: Option<String>,
    pub adset_id: Option<String>,
    pub adset_name: Option<String>,
    pub ad_id: Option<String>,
    pub ad_name: Option<String>,
    pub form_id: Option<String>,
    pub page_id: Option<String>,
    pub ctwa_clid: Option<String>,
    pub fbclid: Option<String>,
    pub gclid: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeadInput {
    /// `web_form`, `meta_lead_ads`, `whatsapp_ctwa`, `instagram_ad`, … or a partner name.
    pub source: String,
    /// The lead's natural key within its source (leadgen id, wamid, intake key).
    pub external_id: String,
    pub event_id: Option<String>,
    pub received_at: i64,
    pub contact: ContactInput,
    pub message: Option<String>,
    pub attribution: Attribution,
    pub consent: Option<bool>,
    pub answers: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageInput {
    pub channel: Channel,
    /// Our side of the thread: WhatsApp phone_number_id, Page id, IG account id.
    pub account_id: String,
    /// Their side of the thread: wa_id / BSUID, PSID, IGSID.
    pub contact_key: String,
    pub external_id: String,
    pub direction: Direction,
    pub kind: String,
    pub body: Option<String>,
    pub payload: Value,
    pub sent_at: i64,
    pub contact: ContactInput,
    /// A click-to-chat ad referral on this message becomes a lead with attribution.
    pub referral_lead: Option<LeadInput>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusInput {
    pub channel: Channel,
    pub external_id: String,
    pub status: String,
    pub occurred_at: i64,
    pub error_code: Option<i64>,
    pub payload: Value,
}

/// A Messenger/Instagram receipt without message ids: every outbound message
/// of the conversation sent up to `up_to` (ms) is delivered or read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptInput {
    pub channel: Channel,
    pub account_id: String,
    pub contact_key: String,
    /// `Delivered` or `Read`.
    pub status: MessageStatus,
    pub up_to: i64,
    pub occurred_at: i64,
}

/// One effect an inbound event asks for. Short-lived and few per event, so
/// the size difference between variants costs nothing worth a box.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Action {
    Lead(LeadInput),
    Message(MessageInput),
    Status(StatusInput),
    Receipt(ReceiptInput),
}

closed_set!(
    /// What a domain event says happened.
    EventKind {
        CustomerCreated = "customer.created",
        CustomerPossibleDuplicate = "customer.possible_duplicate",
        LeadReceived = "lead.received",
        MessageReceived = "message.received",
        MessageSent = "message.sent",
        MessageStatus = "message.status",
        CardMoved = "card.moved",
        /// A customer's owner or assignees changed (an edit or a handover).
        CustomerAssigned = "customer.assigned",
        /// The stream may have missed events (the bus reconnected): reload.
        StreamGap = "stream.gap",
    }
);

/// A change other parts of the system (dashboards, other api nodes) hear about
/// after its transaction commits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub kind: EventKind,
    pub customer_id: Option<CustomerId>,
    pub pipeline_id: Option<PipelineId>,
    pub data: Value,
    pub at: i64,
}

impl DomainEvent {
    pub fn new(kind: EventKind, customer_id: Option<&str>, data: Value) -> Self {
        Self {
            kind,
            customer_id: customer_id.map(CustomerId::new),
            pipeline_id: None,
            data,
            at: crate::util::now_ms(),
        }
    }

    /// The routing key on the bus: `customer.created` stays as it is so
    /// subscribers can bind `customer.#`, `card.#`, `#`.
    pub fn routing_key(&self) -> &'static str {
        self.kind.as_str()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageRef {
    pub id: StageId,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustomerSummary {
    pub id: CustomerId,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub wa_id: Option<String>,
    pub owner_id: Option<UserId>,
    pub stage: Option<StageRef>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeadView {
    pub id: LeadId,
    pub source: String,
    pub external_id: String,
    pub received_at: i64,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub message: Option<String>,
    #[serde(flatten)]
    pub attribution: Attribution,
    pub consent: Option<bool>,
    pub answers: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PossibleDuplicate {
    pub customer_id: CustomerId,
    pub reason: String,
    pub status: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustomerDetail {
    #[serde(flatten)]
    pub customer: CustomerSummary,
    pub leads: Vec<LeadView>,
    pub possible_duplicates: Vec<PossibleDuplicate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimelineEntry {
    pub id: TimelineId,
    pub kind: String,
    pub summary: Option<String>,
    pub data: Value,
    pub occurred_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConversationView {
    pub id: ConversationId,
    pub customer_id: CustomerId,
    pub channel: Channel,
    pub account_id: String,
    pub contact_key: String,
    pub created_at: i64,
    pub last_message_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageView {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub channel: Channel,
    pub external_id: String,
    pub direction: Direction,
    pub kind: String,
    pub body: Option<String>,
    pub payload: Value,
    pub status: Option<MessageStatus>,
    pub status_at: Option<i64>,
    pub error_code: Option<i64>,
    pub sent_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageView {
    pub id: StageId,
    pub name: String,
    pub position: i64,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PipelineView {
    pub id: PipelineId,
    pub name: String,
    pub is_default: bool,
    pub stages: Vec<StageView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InboundEventView {
    pub id: EventId,
    pub source: EventSource,
    pub status: InboundStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
    pub content_type: Option<String>,
    pub size: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_kinds_round_trip_their_stored_text() {
        let kinds = [
            IdentityKind::Phone,
            IdentityKind::Email,
            IdentityKind::WaUser,
            IdentityKind::MetaLead,
            IdentityKind::Messenger {
                page_id: "104938271650432".into(),
            },
            IdentityKind::Instagram {
                account_id: "17841400000000001".into(),
            },
        ];
        for k in kinds {
            assert_eq!(IdentityKind::parse(&k.to_string()), Some(k));
        }
        assert_eq!(
            IdentityKind::Messenger {
                page_id: "104938271650432".into()
            }
            .to_string(),
            "messenger:104938271650432"
        );
        for never_written in ["fax", "Phone", "whatsapp:418", "messenger", "wa_id"] {
            assert_eq!(IdentityKind::parse(never_written), None, "{never_written}");
        }
    }
}
