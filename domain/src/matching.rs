//! Deciding which existing customer an incoming contact belongs to.

use std::collections::HashMap;

use crate::model::{ContactInput, IdentityKind};

/// Decision for attaching an incoming lead/contact to existing customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchDecision<Id> {
    /// No match: create a customer.
    New,
    /// One customer matched (by channel id, phone or e-mail).
    Existing(Id),
    /// Phone and e-mail point at two different customers: attach to the
    /// phone match and record a possible duplicate.
    ConflictUsePhone { phone_match: Id, email_match: Id },
}

/// Decides which customer an incoming contact belongs to, given the customer
/// (if any) found by each identifier.
///
/// Rule, in priority order — channel id > phone > e-mail:
///
/// 1. Phone and e-mail both matched, on different customers, and the channel
///    id either matched nothing or matched the phone's customer →
///    `ConflictUsePhone`. A phone is verified by the channel far more often
///    than an e-mail typed into a form, so it wins, but the disagreement is
///    worth a human look.
/// 2. Otherwise, if the channel id (wa_id, BSUID, PSID…) matched →
///    `Existing(channel)`. The channel id is the only identifier the
///    platform vouches for, so it beats phone and e-mail even when they point
///    elsewhere; that disagreement is not reported here (the caller still has
///    all three inputs if it wants to flag it).
/// 3. Otherwise phone, then e-mail → `Existing`.
/// 4. Nothing matched → `New`.
pub fn decide_match<Id: Clone + PartialEq>(
    by_phone: Option<Id>,
    by_email: Option<Id>,
    by_channel: Option<Id>,
) -> MatchDecision<Id> {
    match (by_channel, by_phone, by_email) {
        (channel, Some(phone), Some(email))
            if phone != email && channel.as_ref().is_none_or(|c| *c == phone) =>
        {
            MatchDecision::ConflictUsePhone {
                phone_match: phone,
                email_match: email,
            }
        }
        (Some(channel), _, _) => MatchDecision::Existing(channel),
        (None, Some(phone), _) => MatchDecision::Existing(phone),
        (None, None, Some(email)) => MatchDecision::Existing(email),
        (None, None, None) => MatchDecision::New,
    }
}

/// The customer an identity key already belongs to, found by the key, for
/// each kind of identifier: the first key of its kind (in the order given)
/// that has an owner. Feeds `decide_match` as (phone, e-mail, channel).
pub fn pick_matches(
    keys: &[(IdentityKind, String)],
    owners: &HashMap<(IdentityKind, String), String>,
) -> (Option<String>, Option<String>, Option<String>) {
    let (mut by_phone, mut by_email, mut by_channel) = (None, None, None);
    for key in keys {
        // Every kind but phone and e-mail is a channel's own id (a phone-less
        // lead's leadgen id too); listed, not `_`, so a new kind must choose.
        let slot = match key.0 {
            IdentityKind::Phone => &mut by_phone,
            IdentityKind::Email => &mut by_email,
            IdentityKind::WaUser
            | IdentityKind::MetaLead
            | IdentityKind::Messenger { .. }
            | IdentityKind::Instagram { .. } => &mut by_channel,
        };
        if slot.is_none() {
            *slot = owners.get(key).cloned();
        }
    }
    (by_phone, by_email, by_channel)
}

/// What a returning customer's record holds of the fields an inbound contact
/// can fill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownCustomer {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub wa_id: Option<String>,
}

impl KnownCustomer {
    /// What a contact tells of a customer (`phone` in E.164).
    pub fn from_contact(c: &ContactInput, phone: Option<&str>) -> Self {
        Self {
            name: c.name.clone(),
            phone: phone.map(str::to_string),
            email: c.email.clone(),
            wa_id: c.wa_id.clone(),
        }
    }

    /// Fills the empty fields the contact carries; known fields are never
    /// overwritten. Returns whether anything was filled.
    pub fn fill_from(&mut self, c: &ContactInput, phone: Option<&str>) -> bool {
        let mut filled = false;
        let mut fill = |have: &mut Option<String>, new: Option<&str>| {
            if have.is_none() && new.is_some() {
                *have = new.map(str::to_string);
                filled = true;
            }
        };
        fill(&mut self.name, c.name.as_deref());
        fill(&mut self.phone, phone);
        fill(&mut self.email, c.email.as_deref());
        fill(&mut self.wa_id, c.wa_id.as_deref());
        filled
    }
}

/// Whether an inbound contact brings something a returning customer's record
/// lacks: only an empty field that the contact carries counts.
pub fn fields_to_fill(known: &KnownCustomer, c: &ContactInput, phone: Option<&str>) -> bool {
    known.clone().fill_from(c, phone)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn match_decision_every_combination() {
        use MatchDecision::{ConflictUsePhone, Existing, New};
        let conflict = |p, e| ConflictUsePhone {
            phone_match: p,
            email_match: e,
        };
        // (phone, email, channel) -> decision, ids 1 and 2 cover "same" and
        // "different" for every pair.
        type Inputs = (Option<u8>, Option<u8>, Option<u8>);
        let cases: [(Inputs, MatchDecision<u8>); 27] = [
            ((None, None, None), New),
            ((None, None, Some(1)), Existing(1)),
            ((None, None, Some(2)), Existing(2)),
            ((None, Some(1), None), Existing(1)),
            ((None, Some(1), Some(1)), Existing(1)),
            ((None, Some(1), Some(2)), Existing(2)),
            ((None, Some(2), None), Existing(2)),
            ((None, Some(2), Some(1)), Existing(1)),
            ((None, Some(2), Some(2)), Existing(2)),
            ((Some(1), None, None), Existing(1)),
            ((Some(1), None, Some(1)), Existing(1)),
            ((Some(1), None, Some(2)), Existing(2)),
            ((Some(1), Some(1), None), Existing(1)),
            ((Some(1), Some(1), Some(1)), Existing(1)),
            ((Some(1), Some(1), Some(2)), Existing(2)),
            ((Some(1), Some(2), None), conflict(1, 2)),
            ((Some(1), Some(2), Some(1)), conflict(1, 2)),
            ((Some(1), Some(2), Some(2)), Existing(2)),
            ((Some(2), None, None), Existing(2)),
            ((Some(2), None, Some(1)), Existing(1)),
            ((Some(2), None, Some(2)), Existing(2)),
            ((Some(2), Some(1), None), conflict(2, 1)),
            ((Some(2), Some(1), Some(1)), Existing(1)),
            ((Some(2), Some(1), Some(2)), conflict(2, 1)),
            ((Some(2), Some(2), None), Existing(2)),
            ((Some(2), Some(2), Some(1)), Existing(1)),
            ((Some(2), Some(2), Some(2)), Existing(2)),
        ];
        for ((phone, email, channel), expected) in cases {
            assert_eq!(
                decide_match(phone, email, channel),
                expected,
                "phone={phone:?} email={email:?} channel={channel:?}"
            );
        }
        // A third id: channel disagreeing with both conflicting matches wins.
        assert_eq!(decide_match(Some(1), Some(2), Some(3)), Existing(3));
    }

    fn key(kind: IdentityKind, value: &str) -> (IdentityKind, String) {
        (kind, value.to_string())
    }

    #[test]
    fn pick_matches_takes_the_first_owned_key_of_each_kind() {
        let keys = vec![
            key(IdentityKind::WaUser, "US.1"),
            key(IdentityKind::Phone, "+5511987654321"),
            key(IdentityKind::Phone, "+551187654321"),
            key(IdentityKind::Email, "a@b.co"),
        ];
        let mut owners = HashMap::new();
        assert_eq!(pick_matches(&keys, &owners), (None, None, None));
        owners.insert(
            key(IdentityKind::Phone, "+551187654321"),
            "c-old".to_string(),
        );
        owners.insert(key(IdentityKind::Email, "a@b.co"), "c-mail".to_string());
        assert_eq!(
            pick_matches(&keys, &owners),
            (Some("c-old".into()), Some("c-mail".into()), None)
        );
        owners.insert(
            key(IdentityKind::Phone, "+5511987654321"),
            "c-new".to_string(),
        );
        owners.insert(key(IdentityKind::WaUser, "US.1"), "c-wa".to_string());
        assert_eq!(
            pick_matches(&keys, &owners),
            (
                Some("c-new".into()),
                Some("c-mail".into()),
                Some("c-wa".into())
            )
        );
    }

    #[test]
    fn only_empty_fields_the_contact_carries_need_filling() {
        let known = KnownCustomer {
            name: Some("Ayşe".into()),
            phone: Some("+905321234567".into()),
            email: None,
            wa_id: None,
        };
        let mut c = ContactInput {
            name: Some("Ayse Y".into()),
            ..ContactInput::default()
        };
        assert!(!fields_to_fill(&known, &c, Some("+905321234567")));
        assert!(!fields_to_fill(&known, &c, None));
        c.email = Some("ayse@example.com".into());
        assert!(fields_to_fill(&known, &c, None));
        c.email = None;
        c.wa_id = Some("905321234567".into());
        assert!(fields_to_fill(&known, &c, None));
        let empty = KnownCustomer::default();
        assert!(fields_to_fill(
            &empty,
            &ContactInput::default(),
            Some("+905321234567")
        ));
        assert!(!fields_to_fill(&empty, &ContactInput::default(), None));
    }
}
