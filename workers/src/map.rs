//! Wire items (connectors) → store inputs (core). Pure functions.

use crm_connectors::graph::Lead;
use crm_connectors::meta::{SocialChannel, SocialMessage, SocialReceipt, WaMessage, WaStatus};
use crm_domain::email::normalize_email;
use crm_domain::model::{
    Action, Attribution, Channel, ContactInput, Direction, IdentityKind, LeadInput, MessageInput,
    ReceiptInput, StatusInput,
};
use crm_domain::phone::{canonical_whatsapp_phone, normalize_phone};
use crm_domain::rules::MessageStatus;
use serde_json::{Map, Value, json};

pub fn message_from_whatsapp(m: &WaMessage, event_id: &str, _region: &str) -> MessageInput {
    let contact = ContactInput {
        name: m.profile_name.clone(),
        phone: m.wa_id.as_deref().and_then(canonical_whatsapp_phone),
        email: None,
        wa_id: m.wa_id.clone(),
        channel_identity: m.user_id.clone().map(|u| (IdentityKind::WaUser, u)),
    };
    let sent_at = m.timestamp.saturating_mul(1000);
    let referral_lead = m.referral.as_ref().map(|r| LeadInput {
        source: "whatsapp_ctwa".into(),
        external_id: m.wamid.clone(),
        event_id: Some(event_id.to_string()),
        received_at: sent_at,
        contact: contact.clone(),
        message: m.text.clone(),
        attribution: Attribution {
            ad_id: r
                .source_id
                .clone()
                .filter(|_| r.source_type.as_deref().is_none_or(|t| t == "ad")),
            ctwa_clid: r.ctwa_clid.clone(),
            ..Default::default()
        },
        consent: None,
        answers: json!({"headline": r.headline, "source_url": r.source_url, "source_id": r.source_id, "source_type": r.source_type}),
    });
    MessageInput {
        channel: Channel::WhatsApp,
        account_id: m.phone_number_id.clone(),
        contact_key: m
            .wa_id
            .clone()
            .or_else(|| m.user_id.clone())
            .unwrap_or_default(),
        external_id: m.wamid.clone(),
        direction: Direction::Inbound,
        kind: m.kind.clone(),
        body: m.text.clone(),
        payload: m.raw.clone(),
        sent_at,
        contact,
        referral_lead,
    }
}

pub fn status_from_whatsapp(s: &WaStatus) -> StatusInput {
    StatusInput {
        channel: Channel::WhatsApp,
        external_id: s.wamid.clone(),
        status: s.status.as_str().to_string(),
        occurred_at: s.timestamp.saturating_mul(1000),
        error_code: s.error_code,
        payload: s.raw.clone(),
    }
}

fn social_channel(c: SocialChannel) -> Channel {
    match c {
        SocialChannel::Messenger => Channel::Messenger,
        SocialChannel::Instagram => Channel::Instagram,
    }
}

/// A PSID or IGSID names its sender on one page or account only.
fn social_identity(m: &SocialMessage) -> IdentityKind {
    match m.channel {
        SocialChannel::Messenger => IdentityKind::Messenger {
            page_id: m.account_id.clone(),
        },
        SocialChannel::Instagram => IdentityKind::Instagram {
            account_id: m.account_id.clone(),
        },
    }
}

pub fn message_from_social(m: &SocialMessage, event_id: &str) -> MessageInput {
    let channel = social_channel(m.channel);
    let contact = ContactInput {
        name: None,
        phone: None,
        email: None,
        wa_id: None,
        channel_identity: Some((social_identity(m), m.customer_id.clone())),
    };
    let referral_lead = m.ad_id.as_ref().map(|ad| LeadInput {
        source: format!("{channel}_ad"),
        external_id: m.mid.clone(),
        event_id: Some(event_id.to_string()),
        received_at: m.timestamp_ms,
        contact: contact.clone(),
        message: m.text.clone(),
        attribution: Attribution {
            ad_id: Some(ad.clone()),
            page_id: (channel == Channel::Messenger).then(|| m.account_id.clone()),
            ..Default::default()
        },
        consent: None,
        answers: json!({}),
    });
    let body = m.text.clone().or_else(|| {
        (!m.attachments.is_empty()).then(|| {
            m.attachments
                .iter()
                .map(|a| format!("[{}]", a.kind))
                .collect::<Vec<_>>()
                .join(" ")
        })
    });
    MessageInput {
        channel,
        account_id: m.account_id.clone(),
        contact_key: m.customer_id.clone(),
        external_id: m.mid.clone(),
        direction: if m.is_echo {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        kind: m.kind.clone(),
        body,
        payload: m.raw.clone(),
        sent_at: m.timestamp_ms,
        contact,
        referral_lead,
    }
}

/// Messenger/Instagram receipts: those that name message ids (`mids`) are a
/// status per message; watermark-only ones (Messenger's usual `read` and
/// `delivery`) cover every outbound message of the thread sent up to the
/// watermark.
pub fn actions_from_receipt(r: &SocialReceipt) -> Vec<Action> {
    let status = if r.kind == "read" {
        MessageStatus::Read
    } else {
        MessageStatus::Delivered
    };
    if r.mids.is_empty() {
        return r
            .watermark_ms
            .map(|up_to| {
                Action::Receipt(ReceiptInput {
                    channel: social_channel(r.channel),
                    account_id: r.account_id.clone(),
                    contact_key: r.customer_id.clone(),
                    status,
                    up_to,
                    occurred_at: r.timestamp_ms,
                })
            })
            .into_iter()
            .collect();
    }
    r.mids
        .iter()
        .map(|mid| {
            Action::Status(StatusInput {
                channel: social_channel(r.channel),
                external_id: mid.clone(),
                status: status.as_str().to_string(),
                occurred_at: r.timestamp_ms,
                error_code: None,
                payload: json!({"watermark": r.watermark_ms, "kind": r.kind}),
            })
        })
        .collect()
}

/// A Lead Ads lead as fetched from the Graph API. Every answer is kept; the
/// standard fields also fill the contact. A lead with neither phone nor e-mail
/// still gets a customer, keyed by its leadgen id, so nothing is dropped.
pub fn lead_from_graph(
    lead: &Lead,
    page_id: Option<&str>,
    event_id: Option<&str>,
    received_at: i64,
    region: &str,
) -> LeadInput {
    let phone = lead.phone().and_then(|p| normalize_phone(p, region));
    let email = lead.email().and_then(normalize_email);
    let channel_identity =
        (phone.is_none() && email.is_none()).then(|| (IdentityKind::MetaLead, lead.id.clone()));
    let mut answers = Map::new();
    for f in &lead.field_data {
        let v = match f.values.as_slice() {
            [one] => Value::String(one.clone()),
            many => Value::Array(many.iter().cloned().map(Value::String).collect()),
        };
        answers.insert(f.name.clone(), v);
    }
    let consent = if lead.consents.is_empty() {
        None
    } else {
        Some(lead.consents.iter().any(|(_, checked)| *checked))
    };
    if !lead.consents.is_empty() {
        answers.insert(
            "custom_disclaimer_responses".into(),
            Value::Object(
                lead.consents
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::Bool(*v)))
                    .collect(),
            ),
        );
    }
    LeadInput {
        source: "meta_lead_ads".into(),
        external_id: lead.id.clone(),
        event_id: event_id.map(str::to_string),
        received_at: lead.created_time.unwrap_or(received_at),
        contact: ContactInput {
            name: lead.full_name(),
            phone,
            email,
            wa_id: None,
            channel_identity,
        },
        message: None,
        attribution: Attribution {
            campaign_id: lead.campaign_id.clone(),
            campaign_name: lead.campaign_name.clone(),
            adset_id: lead.adset_id.clone(),
            adset_name: lead.adset_name.clone(),
            ad_id: lead.ad_id.clone(),
            ad_name: lead.ad_name.clone(),
            form_id: lead.form_id.clone(),
            page_id: page_id.map(str::to_string),
            ..Default::default()
        },
        consent,
        answers: Value::Object(answers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_connectors::meta::SocialChannel;

    fn receipt(kind: &str, mids: &[&str], watermark_ms: Option<i64>) -> SocialReceipt {
        SocialReceipt {
            channel: SocialChannel::Messenger,
            account_id: "page".into(),
            customer_id: "psid".into(),
            kind: kind.into(),
            mids: mids.iter().map(|m| m.to_string()).collect(),
            watermark_ms,
            timestamp_ms: 42,
        }
    }

    #[test]
    fn receipts_with_ids_are_statuses_and_watermarks_cover_the_thread() {
        let a = actions_from_receipt(&receipt("delivery", &["m1", "m2"], Some(10)));
        assert_eq!(a.len(), 2);
        assert!(
            matches!(&a[0], Action::Status(s) if s.external_id == "m1" && s.status == "delivered")
        );
        let a = actions_from_receipt(&receipt("read", &[], Some(1_000)));
        assert_eq!(
            a,
            vec![Action::Receipt(ReceiptInput {
                channel: Channel::Messenger,
                account_id: "page".into(),
                contact_key: "psid".into(),
                status: MessageStatus::Read,
                up_to: 1_000,
                occurred_at: 42,
            })]
        );
        assert!(actions_from_receipt(&receipt("read", &[], None)).is_empty());
    }
}
