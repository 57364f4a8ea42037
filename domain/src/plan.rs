//! Planning a batch of inbound events: what rows to write, as a pure function
//! of the events and of what the store already holds for their natural keys.
//!
//! The store reads, for a whole batch at once, the owners of every identity
//! key, the messages, early statuses, leads and conversations the batch
//! names, and the first stage of the default pipeline ([`Known`]). [`plan`]
//! then walks the events in order exactly as one-by-one processing would —
//! dedupe, customer creation, card, conversation, message, lead, timeline —
//! keeping what earlier events of the batch created in view of later ones,
//! and returns the rows ([`Plan`]) the store writes with one multi-row
//! statement per table. Round trips per batch stay constant instead of
//! growing with every event.
//!
//! Writes are still keyed and conditional: if another writer created one of
//! the planned keys meanwhile (PostgreSQL), the store sees fewer rows than
//! planned, rolls back and plans again from fresh reads.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::ids::PipelineId;
use crate::matching::{KnownCustomer, MatchDecision, decide_match, fields_to_fill, pick_matches};
use crate::model::{
    Action, Channel, ContactInput, Direction, DomainEvent, EventKind, IdentityKind, LeadInput,
    MessageInput, ReceiptInput, StageRef, StatusInput,
};
use crate::phone::phone_match_keys;
use crate::rules::{EarlyStatus, best_status};
use crate::search::customer_tokens;
use crate::util::new_id;

/// (kind, value) of a customer identity: `(Phone, "905321234567")`.
pub type IdentityKey = (IdentityKind, String);
/// (channel, external_id) of a message or delivery status.
pub type MessageKey = (String, String);
/// (source, external_id) of a lead.
pub type LeadKey = (String, String);
/// (channel, account_id, contact_key) of a conversation.
pub type ConversationKey = (String, String, String);

/// The pipeline every new customer's card starts on.
pub const DEFAULT_PIPELINE_ID: &str = crate::default_pipeline_id!();

/// What the store holds for the natural keys a batch names.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Identity key → the customer it belongs to.
    pub owners: HashMap<IdentityKey, String>,
    /// What each of those customers' records holds.
    pub customers: HashMap<String, KnownCustomer>,
    pub messages: HashSet<MessageKey>,
    /// Statuses stored for messages not seen yet: `(status, occurred_at, error_code)`.
    pub early_statuses: HashMap<MessageKey, Vec<(String, i64, Option<i64>)>>,
    pub leads: HashSet<LeadKey>,
    /// Conversation key → its id.
    pub conversations: HashMap<ConversationKey, String>,
    pub first_stage: Option<StageRef>,
}

/// The natural keys a batch names: what to read before planning it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookups {
    pub identities: Vec<IdentityKey>,
    pub messages: Vec<MessageKey>,
    pub leads: Vec<LeadKey>,
    pub conversations: Vec<ConversationKey>,
}

/// A customer to create, or whose empty fields to fill (never overwriting).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRow {
    pub id: String,
    pub fields: KnownCustomer,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IdentityRow {
    pub kind: IdentityKind,
    pub value: String,
    pub customer_id: String,
    /// A new customer's key: if someone else owns it by write time, the
    /// plan is stale and the batch is planned again.
    pub must_claim: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CardRow {
    pub id: String,
    pub customer_id: String,
    pub stage_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateRow {
    pub id: String,
    pub customer_id: String,
    pub other_customer_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    /// The id it has, or the one it gets if it is new.
    pub id: String,
    pub customer_id: String,
    pub key: ConversationKey,
    pub last_message_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub id: String,
    pub conversation_id: String,
    pub channel: Channel,
    pub external_id: String,
    pub direction: Direction,
    pub kind: String,
    pub body: Option<String>,
    pub payload: String,
    pub status: Option<EarlyStatus>,
    pub sent_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeadRow {
    pub id: String,
    pub customer_id: String,
    pub lead: LeadInput,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub customer_id: String,
    pub kind: &'static str,
    pub natural_key: String,
    pub summary: Option<String>,
    pub data: String,
    pub occurred_at: i64,
}

/// A domain event of the plan; some exist only if a conditional write
/// changed something, which the store learns when it writes.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedEvent {
    Ready(DomainEvent),
    /// `customer.possible_duplicate`, if `duplicates[i]` was not recorded before.
    Duplicate(usize),
    /// `message.status`, if `statuses[i]` moved its message forward.
    Status(usize),
    /// `message.status` for each message `receipts[i]` moved forward.
    Receipt(usize),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub customers: Vec<CustomerRow>,
    pub identities: Vec<IdentityRow>,
    pub cards: Vec<CardRow>,
    pub duplicates: Vec<DuplicateRow>,
    pub conversations: Vec<ConversationRow>,
    pub messages: Vec<MessageRow>,
    pub leads: Vec<LeadRow>,
    /// Applied in order after the messages are written.
    pub statuses: Vec<StatusInput>,
    /// Applied after the statuses.
    pub receipts: Vec<ReceiptInput>,
    pub timeline: Vec<TimelineRow>,
    /// `(token, customer_id)` for every created or filled customer.
    pub search: Vec<(String, String)>,
    /// Existing customers whose activity time moves to now.
    pub touched: Vec<String>,
    /// Per event of the batch, in order.
    pub events: Vec<Vec<PlannedEvent>>,
}

/// Why a batch cannot be planned: the caller isolates the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("contact has no phone, e-mail or channel id")]
    NoIdentity,
}

/// Every natural key of a contact, most specific first, each once.
pub fn identity_keys(c: &ContactInput) -> Vec<IdentityKey> {
    let mut keys = Vec::new();
    if let Some((kind, value)) = &c.channel_identity {
        keys.push((kind.clone(), value.clone()));
    }
    if let Some(p) = &c.phone {
        for k in phone_match_keys(p) {
            keys.push((IdentityKind::Phone, k));
        }
    }
    if let Some(e) = &c.email {
        keys.push((IdentityKind::Email, e.clone()));
    }
    let mut seen = HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    keys
}

fn conversation_key(m: &MessageInput) -> ConversationKey {
    (
        m.channel.as_str().to_string(),
        m.account_id.clone(),
        m.contact_key.clone(),
    )
}

/// The keys to read before planning `batch`.
pub fn lookups(batch: &[&[Action]]) -> Lookups {
    fn lead(l: &LeadInput, out: &mut Lookups) {
        out.leads.push((l.source.clone(), l.external_id.clone()));
        out.identities.extend(identity_keys(&l.contact));
    }
    let mut out = Lookups::default();
    for actions in batch {
        for a in *actions {
            match a {
                Action::Lead(l) => lead(l, &mut out),
                Action::Message(m) => {
                    out.messages
                        .push((m.channel.as_str().to_string(), m.external_id.clone()));
                    out.identities.extend(identity_keys(&m.contact));
                    out.conversations.push(conversation_key(m));
                    if let Some(l) = &m.referral_lead {
                        lead(l, &mut out);
                    }
                }
                Action::Status(_) | Action::Receipt(_) => {}
            }
        }
    }
    dedup(&mut out.identities);
    dedup(&mut out.messages);
    dedup(&mut out.leads);
    dedup(&mut out.conversations);
    out
}

fn dedup<T: Clone + Eq + std::hash::Hash>(v: &mut Vec<T>) {
    let mut seen = HashSet::new();
    v.retain(|k| seen.insert(k.clone()));
}

/// Plans `batch` (each element one event's actions) against `known`.
pub fn plan(batch: &[&[Action]], known: &Known, now: i64) -> Result<Plan, PlanError> {
    let mut p = Planner {
        known,
        now,
        plan: Plan::default(),
        owners: HashMap::new(),
        customers: HashMap::new(),
        customer_row: HashMap::new(),
        messages: HashSet::new(),
        statuses_seen: HashMap::new(),
        leads: HashSet::new(),
        conversation_row: HashMap::new(),
        duplicates: HashSet::new(),
    };
    for actions in batch {
        let mut events = Vec::new();
        for a in *actions {
            match a {
                Action::Lead(l) => p.lead(l, &mut events)?,
                Action::Message(m) => p.message(m, &mut events)?,
                Action::Status(s) => p.status(s, &mut events),
                Action::Receipt(r) => {
                    events.push(PlannedEvent::Receipt(p.plan.receipts.len()));
                    p.plan.receipts.push(r.clone());
                }
            }
        }
        p.plan.events.push(events);
    }
    let mut plan = p.plan;
    for row in &plan.customers {
        let f = p.customers.get(&row.id).unwrap_or(&row.fields);
        for token in customer_tokens(f.name.as_deref(), f.email.as_deref(), f.phone.as_deref()) {
            plan.search.push((token, row.id.clone()));
        }
    }
    dedup(&mut plan.touched);
    Ok(plan)
}

struct Planner<'k> {
    known: &'k Known,
    now: i64,
    plan: Plan,
    /// Identity keys claimed earlier in this batch.
    owners: HashMap<IdentityKey, String>,
    /// Customers as this batch leaves them (created or filled).
    customers: HashMap<String, KnownCustomer>,
    /// Index into `plan.customers` by customer id.
    customer_row: HashMap<String, usize>,
    messages: HashSet<MessageKey>,
    /// Statuses met earlier in this batch, for messages that come later.
    statuses_seen: HashMap<MessageKey, Vec<(String, i64, Option<i64>)>>,
    leads: HashSet<LeadKey>,
    /// Index into `plan.conversations` by key.
    conversation_row: HashMap<ConversationKey, usize>,
    duplicates: HashSet<(String, String)>,
}

/// Who an inbound signal turned out to be.
struct Resolved {
    customer_id: String,
    created: bool,
}

impl Planner<'_> {
    fn owner(&self, key: &IdentityKey) -> Option<&String> {
        self.owners.get(key).or_else(|| self.known.owners.get(key))
    }

    fn customer(&self, id: &str) -> Option<&KnownCustomer> {
        self.customers
            .get(id)
            .or_else(|| self.known.customers.get(id))
    }

    /// Records a customer insert or fill, merged with earlier ones of the
    /// batch for the same customer (the first value for a field wins, as it
    /// would one event at a time).
    fn upsert_customer(&mut self, id: &str, c: &ContactInput, phone: Option<&str>) {
        let mut record = self.customer(id).cloned().unwrap_or_default();
        record.fill_from(c, phone);
        self.customers.insert(id.to_string(), record);
        let row = self
            .customer_row
            .get(id)
            .and_then(|&i| self.plan.customers.get_mut(i));
        match row {
            Some(row) => {
                row.fields.fill_from(c, phone);
            }
            None => {
                self.customer_row
                    .insert(id.to_string(), self.plan.customers.len());
                self.plan.customers.push(CustomerRow {
                    id: id.to_string(),
                    fields: KnownCustomer::from_contact(c, phone),
                });
            }
        }
    }

    fn claim(&mut self, key: &IdentityKey, customer_id: &str, must_claim: bool) {
        self.owners.insert(key.clone(), customer_id.to_string());
        self.plan.identities.push(IdentityRow {
            kind: key.0.clone(),
            value: key.1.clone(),
            customer_id: customer_id.to_string(),
            must_claim,
        });
    }

    fn timeline(
        &mut self,
        customer_id: &str,
        kind: &'static str,
        natural_key: String,
        summary: Option<String>,
        data: &Value,
        occurred_at: i64,
    ) {
        self.plan.timeline.push(TimelineRow {
            customer_id: customer_id.to_string(),
            kind,
            natural_key,
            summary,
            data: data.to_string(),
            occurred_at,
        });
    }

    /// Finds the customer a contact belongs to, or creates one with its card
    /// on the default pipeline's first stage. Phone and e-mail pointing at
    /// two different customers attach to the phone match and record a
    /// possible duplicate for a person to review; nothing is merged silently.
    fn resolve(
        &mut self,
        c: &ContactInput,
        events: &mut Vec<PlannedEvent>,
    ) -> Result<Resolved, PlanError> {
        let keys = identity_keys(c);
        if keys.is_empty() {
            return Err(PlanError::NoIdentity);
        }
        let owners: HashMap<IdentityKey, String> = keys
            .iter()
            .filter_map(|k| self.owner(k).map(|o| (k.clone(), o.clone())))
            .collect();
        let (by_phone, by_email, by_channel) = pick_matches(&keys, &owners);
        let phone = c.phone.as_ref().map(|p| p.as_str().to_string());
        let (customer_id, email_match) = match decide_match(by_phone, by_email, by_channel) {
            MatchDecision::New => {
                let id = new_id();
                self.upsert_customer(&id, c, phone.as_deref());
                for k in &keys {
                    self.claim(k, &id, true);
                }
                let mut stage_json = Value::Null;
                if let Some(stage) = &self.known.first_stage {
                    self.plan.cards.push(CardRow {
                        id: new_id(),
                        customer_id: id.clone(),
                        stage_id: stage.id.as_str().to_string(),
                    });
                    stage_json = json!({"id": stage.id, "name": stage.name});
                }
                let data = json!({"name": c.name, "stage": stage_json});
                self.timeline(
                    &id,
                    "customer.created",
                    id.clone(),
                    Some("Customer created".into()),
                    &data,
                    self.now,
                );
                let mut ev = DomainEvent::new(EventKind::CustomerCreated, Some(&id), data);
                ev.pipeline_id = Some(PipelineId::new(DEFAULT_PIPELINE_ID));
                events.push(PlannedEvent::Ready(ev));
                return Ok(Resolved {
                    customer_id: id,
                    created: true,
                });
            }
            MatchDecision::Existing(id) => (id, None),
            MatchDecision::ConflictUsePhone {
                phone_match,
                email_match,
            } => (phone_match, Some(email_match)),
        };
        // A returning customer: fill what we did not know and add the keys
        // nobody owns yet.
        let fills = self
            .customer(&customer_id)
            .is_none_or(|k| fields_to_fill(k, c, phone.as_deref()));
        if fills {
            self.upsert_customer(&customer_id, c, phone.as_deref());
        } else {
            self.plan.touched.push(customer_id.clone());
        }
        for k in keys.iter().filter(|k| !owners.contains_key(*k)) {
            self.claim(k, &customer_id, false);
        }
        if let Some(other) = email_match
            && self.duplicates.insert((customer_id.clone(), other.clone()))
        {
            events.push(PlannedEvent::Duplicate(self.plan.duplicates.len()));
            self.plan.duplicates.push(DuplicateRow {
                id: new_id(),
                customer_id: customer_id.clone(),
                other_customer_id: other,
            });
        }
        Ok(Resolved {
            customer_id,
            created: false,
        })
    }

    fn lead(&mut self, lead: &LeadInput, events: &mut Vec<PlannedEvent>) -> Result<(), PlanError> {
        let key = (lead.source.clone(), lead.external_id.clone());
        if self.known.leads.contains(&key) || !self.leads.insert(key) {
            return Ok(());
        }
        let who = self.resolve(&lead.contact, events)?;
        let id = new_id();
        let a = &lead.attribution;
        let natural = format!("{}:{}", lead.source, lead.external_id);
        let data = json!({"lead_id": id, "source": lead.source, "campaign_id": a.campaign_id, "utm_campaign": a.utm_campaign, "ad_id": a.ad_id});
        let (kind, summary) = if who.created {
            ("lead.received", format!("New lead via {}", lead.source))
        } else {
            (
                "lead.reapplied",
                format!("Re-application via {}", lead.source),
            )
        };
        self.timeline(
            &who.customer_id,
            kind,
            natural,
            Some(summary),
            &data,
            lead.received_at,
        );
        events.push(PlannedEvent::Ready(DomainEvent::new(
            EventKind::LeadReceived,
            Some(&who.customer_id),
            json!({"lead_id": id, "source": lead.source, "returning": !who.created}),
        )));
        self.plan.leads.push(LeadRow {
            id,
            customer_id: who.customer_id,
            lead: lead.clone(),
        });
        Ok(())
    }

    fn message(
        &mut self,
        msg: &MessageInput,
        events: &mut Vec<PlannedEvent>,
    ) -> Result<(), PlanError> {
        let key = (msg.channel.as_str().to_string(), msg.external_id.clone());
        if self.known.messages.contains(&key) || !self.messages.insert(key.clone()) {
            return Ok(());
        }
        let who = self.resolve(&msg.contact, events)?;
        let conv_key = conversation_key(msg);
        let conversation_id = match self.conversation_row.get(&conv_key) {
            Some(&i) => match self.plan.conversations.get_mut(i) {
                Some(row) => {
                    row.last_message_at = row.last_message_at.max(msg.sent_at);
                    row.id.clone()
                }
                None => new_id(),
            },
            None => {
                let id = self
                    .known
                    .conversations
                    .get(&conv_key)
                    .cloned()
                    .unwrap_or_else(new_id);
                self.conversation_row
                    .insert(conv_key.clone(), self.plan.conversations.len());
                self.plan.conversations.push(ConversationRow {
                    id: id.clone(),
                    customer_id: who.customer_id.clone(),
                    key: conv_key,
                    last_message_at: msg.sent_at,
                });
                id
            }
        };
        let mut early = self
            .known
            .early_statuses
            .get(&key)
            .cloned()
            .unwrap_or_default();
        early.extend(self.statuses_seen.get(&key).cloned().unwrap_or_default());
        let id = new_id();
        let (kind, event) = if msg.direction == Direction::Outbound {
            ("message.sent", EventKind::MessageSent)
        } else {
            ("message.received", EventKind::MessageReceived)
        };
        let data = json!({"message_id": id, "external_id": msg.external_id, "conversation_id": conversation_id, "channel": msg.channel, "kind": msg.kind, "body": msg.body});
        let summary = msg
            .body
            .as_deref()
            .map(|b| b.chars().take(140).collect::<String>());
        self.timeline(
            &who.customer_id,
            kind,
            format!("{}:{}", msg.channel, msg.external_id),
            summary,
            &data,
            msg.sent_at,
        );
        events.push(PlannedEvent::Ready(DomainEvent::new(
            event,
            Some(&who.customer_id),
            data,
        )));
        self.plan.messages.push(MessageRow {
            id,
            conversation_id,
            channel: msg.channel,
            external_id: msg.external_id.clone(),
            direction: msg.direction,
            kind: msg.kind.clone(),
            body: msg.body.clone(),
            payload: msg.payload.to_string(),
            status: best_status(&early),
            sent_at: msg.sent_at,
        });
        if let Some(lead) = &msg.referral_lead {
            self.lead(lead, events)?;
        }
        Ok(())
    }

    fn status(&mut self, st: &StatusInput, events: &mut Vec<PlannedEvent>) {
        self.statuses_seen
            .entry((st.channel.as_str().to_string(), st.external_id.clone()))
            .or_default()
            .push((st.status.clone(), st.occurred_at, st.error_code));
        events.push(PlannedEvent::Status(self.plan.statuses.len()));
        self.plan.statuses.push(st.clone());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::ids::StageId;
    use crate::model::Attribution;
    use crate::phone::normalize_phone;

    fn contact(phone: Option<&str>, email: Option<&str>) -> ContactInput {
        ContactInput {
            name: Some("Ayşe".into()),
            phone: phone.and_then(|p| normalize_phone(p, "TR")),
            email: email.map(str::to_string),
            ..ContactInput::default()
        }
    }

    fn lead(id: &str, phone: Option<&str>, email: Option<&str>) -> Action {
        Action::Lead(LeadInput {
            source: "web_form".into(),
            external_id: id.into(),
            event_id: None,
            received_at: 1,
            contact: contact(phone, email),
            message: None,
            attribution: Attribution::default(),
            consent: None,
            answers: json!({}),
        })
    }

    fn message(wamid: &str, phone: &str) -> Action {
        Action::Message(MessageInput {
            channel: Channel::WhatsApp,
            account_id: "418".into(),
            contact_key: phone.into(),
            external_id: wamid.into(),
            direction: Direction::Inbound,
            kind: "text".into(),
            body: Some("merhaba".into()),
            payload: json!({}),
            sent_at: 10,
            contact: contact(Some(phone), None),
            referral_lead: None,
        })
    }

    fn status(wamid: &str, s: &str) -> Action {
        Action::Status(StatusInput {
            channel: Channel::WhatsApp,
            external_id: wamid.into(),
            status: s.into(),
            occurred_at: 20,
            error_code: None,
            payload: json!({}),
        })
    }

    fn stage() -> Known {
        Known {
            first_stage: Some(StageRef {
                id: StageId::new("st1"),
                name: "Potansiyel".into(),
            }),
            ..Known::default()
        }
    }

    fn ready_kinds(p: &Plan) -> Vec<Vec<String>> {
        p.events
            .iter()
            .map(|evs| {
                evs.iter()
                    .map(|e| match e {
                        PlannedEvent::Ready(d) => d.kind.as_str().to_string(),
                        PlannedEvent::Duplicate(_) => "duplicate?".into(),
                        PlannedEvent::Status(_) => "status?".into(),
                        PlannedEvent::Receipt(_) => "receipt?".into(),
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn one_new_number_in_a_batch_is_one_customer() {
        let a = [message("w1", "905321234567")];
        let b = [lead("l1", Some("0532 123 45 67"), Some("a@b.co"))];
        let c = [message("w2", "905321234567")];
        let batch: Vec<&[Action]> = vec![&a, &b, &c];
        let p = plan(&batch, &stage(), 100).unwrap();
        assert_eq!(p.customers.len(), 1, "{:?}", p.customers);
        assert_eq!(p.customers[0].fields.email.as_deref(), Some("a@b.co"));
        assert_eq!(p.cards.len(), 1);
        assert_eq!(p.conversations.len(), 1);
        assert_eq!(p.messages.len(), 2);
        assert_eq!(p.messages[0].conversation_id, p.messages[1].conversation_id);
        assert_eq!(p.leads.len(), 1);
        assert!(
            p.identities
                .iter()
                .any(|i| i.kind == IdentityKind::Email && !i.must_claim)
        );
        assert_eq!(
            ready_kinds(&p),
            vec![
                vec!["customer.created".to_string(), "message.received".into()],
                vec!["lead.received".into()],
                vec!["message.received".into()],
            ]
        );
        assert!(p.timeline.iter().any(|t| t.kind == "lead.reapplied"));
    }

    #[test]
    fn known_keys_are_not_written_again() {
        let mut known = stage();
        known.messages.insert(("whatsapp".into(), "w1".into()));
        known.leads.insert(("web_form".into(), "l1".into()));
        let a = [
            message("w1", "905321234567"),
            lead("l1", Some("05321234567"), None),
        ];
        let b = [message("w1", "905321234567")];
        let batch: Vec<&[Action]> = vec![&a, &b];
        let p = plan(&batch, &known, 100).unwrap();
        assert_eq!(
            p,
            Plan {
                events: vec![vec![], vec![]],
                ..Plan::default()
            }
        );
    }

    #[test]
    fn returning_customers_are_filled_not_overwritten() {
        let mut known = stage();
        known
            .owners
            .insert((IdentityKind::Phone, "905321234567".into()), "c1".into());
        known.customers.insert(
            "c1".into(),
            KnownCustomer {
                name: Some("Old".into()),
                ..KnownCustomer::default()
            },
        );
        let a = [lead("l1", Some("05321234567"), None)];
        let p = plan(&[&a], &known, 100).unwrap();
        // Phone was empty on the record: filled; the name stays.
        assert_eq!(p.customers.len(), 1);
        assert_eq!(p.customers[0].id, "c1");
        assert!(p.cards.is_empty());
        assert_eq!(p.leads[0].customer_id, "c1");
        let b = [lead("l2", Some("05321234567"), None)];
        known.customers.get_mut("c1").unwrap().phone = Some("+905321234567".into());
        let p = plan(&[&b], &known, 100).unwrap();
        assert!(p.customers.is_empty());
        assert_eq!(p.touched, vec!["c1".to_string()]);
    }

    #[test]
    fn phone_and_email_on_two_customers_record_one_possible_duplicate() {
        let mut known = stage();
        known.owners.insert(
            (IdentityKind::Phone, "905321234567".into()),
            "c-phone".into(),
        );
        known
            .owners
            .insert((IdentityKind::Email, "a@b.co".into()), "c-mail".into());
        let a = [lead("l1", Some("05321234567"), Some("a@b.co"))];
        let b = [lead("l2", Some("05321234567"), Some("a@b.co"))];
        let p = plan(&[&a, &b], &known, 100).unwrap();
        assert_eq!(p.duplicates.len(), 1);
        assert_eq!(p.duplicates[0].customer_id, "c-phone");
        assert_eq!(p.duplicates[0].other_customer_id, "c-mail");
        assert!(p.leads.iter().all(|l| l.customer_id == "c-phone"));
        assert_eq!(p.events[0].first(), Some(&PlannedEvent::Duplicate(0)));
    }

    #[test]
    fn statuses_before_their_message_give_it_its_state() {
        let a = [status("w1", "delivered"), status("w1", "read")];
        let b = [message("w1", "905321234567")];
        let c = [status("w1", "sent")];
        let p = plan(&[&a, &b, &c], &stage(), 100).unwrap();
        assert_eq!(p.statuses.len(), 3);
        assert_eq!(
            p.messages[0].status.as_ref().map(|s| s.status.as_str()),
            Some("read")
        );
        assert_eq!(p.events[2], vec![PlannedEvent::Status(2)]);
    }

    #[test]
    fn a_contact_without_keys_fails_the_plan() {
        let mut bad = lead("l1", None, None);
        if let Action::Lead(l) = &mut bad {
            l.contact = ContactInput::default();
        }
        assert_eq!(plan(&[&[bad]], &stage(), 1), Err(PlanError::NoIdentity));
    }

    #[test]
    fn lookups_name_every_key_once() {
        let a = [message("w1", "905321234567"), status("w1", "read")];
        let b = [
            lead("l1", Some("05321234567"), Some("a@b.co")),
            message("w1", "905321234567"),
        ];
        let l = lookups(&[&a, &b]);
        assert_eq!(l.messages, vec![("whatsapp".to_string(), "w1".to_string())]);
        assert_eq!(l.leads.len(), 1);
        assert_eq!(l.conversations.len(), 1);
        assert!(
            l.identities
                .contains(&(IdentityKind::Email, "a@b.co".into()))
        );
        let phones = l
            .identities
            .iter()
            .filter(|k| k.0 == IdentityKind::Phone)
            .count();
        assert_eq!(phones, 1);
    }
}
