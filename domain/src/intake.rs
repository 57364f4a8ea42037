//! Web-form and partner leads posted to `/intake/leads`: which fields we know,
//! how they are validated, and what becomes a lead answer.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::email::normalize_email;
use crate::model::{Attribution, ContactInput, LeadInput};
use crate::phone::normalize_phone;

/// The stored (and queued) form of an intake lead: what the client sent,
/// split into known fields and free answers. Stored before validation of the
/// contact is repeated by the worker, so the worker never trusts the API's run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntakeLead {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub message: Option<String>,
    pub source: Option<String>,
    pub external_id: Option<String>,
    #[serde(flatten)]
    pub attribution: Attribution,
    pub consent: Option<bool>,
    pub answers: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Longest accepted field values, in characters.
pub const MAX_NAME: usize = 200;
pub const MAX_PHONE: usize = 64;
/// RFC 5321's limit for a forward path.
pub const MAX_EMAIL: usize = 254;
pub const MAX_MESSAGE: usize = 5_000;
/// A source name, an external id, an answer's field name.
pub const MAX_KEY: usize = 200;
pub const MAX_ATTRIBUTION: usize = 500;
pub const MAX_ANSWER: usize = 2_000;
pub const MAX_ANSWERS: usize = 100;

const KNOWN: &[&str] = &[
    "name",
    "phone",
    "email",
    "message",
    "source",
    "external_id",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "form_id",
    "page_id",
    "ctwa_clid",
    "fbclid",
    "gclid",
    "consent",
];

fn text(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "evet" => Some(true),
            "0" | "false" | "no" | "off" | "hayir" | "hayır" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

impl IntakeLead {
    /// From a JSON object or decoded form fields. Unknown fields become answers.
    pub fn from_fields(fields: Map<String, Value>) -> Self {
        let mut lead = IntakeLead::default();
        for (k, v) in fields {
            let key = k.trim().to_ascii_lowercase();
            if !KNOWN.contains(&key.as_str()) {
                if !v.is_null() {
                    lead.answers.insert(k, v);
                }
                continue;
            }
            let t = text(&v);
            let a = &mut lead.attribution;
            match key.as_str() {
                "name" => lead.name = t,
                "phone" => lead.phone = t,
                "email" => lead.email = t,
                "message" => lead.message = t,
                "source" => lead.source = t,
                "external_id" => lead.external_id = t,
                "utm_source" => a.utm_source = t,
                "utm_medium" => a.utm_medium = t,
                "utm_campaign" => a.utm_campaign = t,
                "utm_content" => a.utm_content = t,
                "utm_term" => a.utm_term = t,
                "campaign_id" => a.campaign_id = t,
                "campaign_name" => a.campaign_name = t,
                "adset_id" => a.adset_id = t,
                "adset_name" => a.adset_name = t,
                "ad_id" => a.ad_id = t,
                "ad_name" => a.ad_name = t,
                "form_id" => a.form_id = t,
                "page_id" => a.page_id = t,
                "ctwa_clid" => a.ctwa_clid = t,
                "fbclid" => a.fbclid = t,
                "gclid" => a.gclid = t,
                "consent" => lead.consent = truthy(&v),
                _ => {}
            }
        }
        lead
    }

    /// Fields longer than a person types (or a form can mean) are refused,
    /// each named; answers too many or too long likewise.
    pub fn too_long(&self) -> Vec<FieldError> {
        let a = &self.attribution;
        let fields: [(&str, &Option<String>, usize); 22] = [
            ("name", &self.name, MAX_NAME),
            ("phone", &self.phone, MAX_PHONE),
            ("email", &self.email, MAX_EMAIL),
            ("message", &self.message, MAX_MESSAGE),
            ("source", &self.source, MAX_KEY),
            ("external_id", &self.external_id, MAX_KEY),
            ("utm_source", &a.utm_source, MAX_ATTRIBUTION),
            ("utm_medium", &a.utm_medium, MAX_ATTRIBUTION),
            ("utm_campaign", &a.utm_campaign, MAX_ATTRIBUTION),
            ("utm_content", &a.utm_content, MAX_ATTRIBUTION),
            ("utm_term", &a.utm_term, MAX_ATTRIBUTION),
            ("campaign_id", &a.campaign_id, MAX_ATTRIBUTION),
            ("campaign_name", &a.campaign_name, MAX_ATTRIBUTION),
            ("adset_id", &a.adset_id, MAX_ATTRIBUTION),
            ("adset_name", &a.adset_name, MAX_ATTRIBUTION),
            ("ad_id", &a.ad_id, MAX_ATTRIBUTION),
            ("ad_name", &a.ad_name, MAX_ATTRIBUTION),
            ("form_id", &a.form_id, MAX_ATTRIBUTION),
            ("page_id", &a.page_id, MAX_ATTRIBUTION),
            ("ctwa_clid", &a.ctwa_clid, MAX_ATTRIBUTION),
            ("fbclid", &a.fbclid, MAX_ATTRIBUTION),
            ("gclid", &a.gclid, MAX_ATTRIBUTION),
        ];
        let mut errors: Vec<FieldError> = fields
            .iter()
            .filter(|(_, v, max)| v.as_deref().is_some_and(|v| v.chars().count() > *max))
            .map(|(field, _, max)| FieldError {
                field: (*field).into(),
                message: format!("at most {max} characters"),
            })
            .collect();
        if self.answers.len() > MAX_ANSWERS {
            errors.push(FieldError {
                field: "answers".into(),
                message: format!("at most {MAX_ANSWERS} extra fields"),
            });
        }
        for (k, v) in &self.answers {
            let long = k.chars().count() > MAX_KEY || v.to_string().chars().count() > MAX_ANSWER;
            if long {
                errors.push(FieldError {
                    field: k.chars().take(MAX_KEY).collect(),
                    message: format!(
                        "names at most {MAX_KEY} characters, values at most {MAX_ANSWER}"
                    ),
                });
            }
        }
        errors
    }

    /// A lead must reach someone: a usable phone or a usable e-mail.
    pub fn validate(&self, default_region: &str) -> Result<(), Vec<FieldError>> {
        let phone_ok = self
            .phone
            .as_deref()
            .is_some_and(|p| normalize_phone(p, default_region).is_some());
        let email_ok = self
            .email
            .as_deref()
            .is_some_and(|e| normalize_email(e).is_some());
        if phone_ok || email_ok {
            return Ok(());
        }
        let mut errors = Vec::new();
        match &self.phone {
            Some(_) => errors.push(FieldError {
                field: "phone".into(),
                message: "not a valid phone number".into(),
            }),
            None => errors.push(FieldError {
                field: "phone".into(),
                message: "a phone number or an e-mail address is required".into(),
            }),
        }
        match &self.email {
            Some(_) => errors.push(FieldError {
                field: "email".into(),
                message: "not a valid e-mail address".into(),
            }),
            None => errors.push(FieldError {
                field: "email".into(),
                message: "a phone number or an e-mail address is required".into(),
            }),
        }
        Err(errors)
    }

    /// The lead the worker records; `event_id` doubles as the natural key when
    /// the sender gave no `external_id` of its own.
    pub fn to_lead_input(
        &self,
        event_id: &str,
        received_at: i64,
        default_region: &str,
    ) -> LeadInput {
        LeadInput {
            source: self.source.clone().unwrap_or_else(|| "web_form".into()),
            external_id: self
                .external_id
                .clone()
                .unwrap_or_else(|| event_id.to_string()),
            event_id: Some(event_id.to_string()),
            received_at,
            contact: ContactInput {
                name: self.name.clone(),
                phone: self
                    .phone
                    .as_deref()
                    .and_then(|p| normalize_phone(p, default_region)),
                email: self.email.as_deref().and_then(normalize_email),
                wa_id: None,
                channel_identity: None,
            },
            message: self.message.clone(),
            attribution: self.attribution.clone(),
            consent: self.consent,
            answers: Value::Object(self.answers.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn known_fields_and_answers_are_split() {
        let l = IntakeLead::from_fields(fields(json!({
            "name": " Deniz Kaya ", "phone": "0532 123 45 67", "utm_source": "google",
            "gclid": "Cj0", "consent": "on", "preferred_branch": "Kadıköy", "budget": 1500
        })));
        assert_eq!(l.name.as_deref(), Some("Deniz Kaya"));
        assert_eq!(l.attribution.utm_source.as_deref(), Some("google"));
        assert_eq!(l.attribution.gclid.as_deref(), Some("Cj0"));
        assert_eq!(l.consent, Some(true));
        assert_eq!(l.answers.get("preferred_branch"), Some(&json!("Kadıköy")));
        assert_eq!(l.answers.get("budget"), Some(&json!(1500)));
        assert!(l.validate("TR").is_ok());
        let input = l.to_lead_input("ev1", 5, "TR");
        assert_eq!(input.contact.phone.unwrap().as_str(), "+905321234567");
        assert_eq!(input.source, "web_form");
        assert_eq!(input.external_id, "ev1");
    }

    #[test]
    fn overlong_fields_are_named() {
        let l = IntakeLead::from_fields(fields(json!({
            "name": "x".repeat(MAX_NAME), "email": "a@b.co",
            "message": "m".repeat(MAX_MESSAGE + 1),
            "utm_campaign": "c".repeat(MAX_ATTRIBUTION + 1),
            "note": "n".repeat(MAX_ANSWER + 10),
        })));
        let fields: Vec<String> = l.too_long().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["message", "utm_campaign", "note"]);
        // Characters, not bytes: Turkish letters are two bytes each.
        let l = IntakeLead::from_fields(fields_of("name", &"ş".repeat(MAX_NAME)));
        assert!(l.too_long().is_empty());
        let many: Map<String, Value> = (0..=MAX_ANSWERS)
            .map(|i| (format!("q{i}"), json!("a")))
            .collect();
        let l = IntakeLead::from_fields(many);
        assert_eq!(l.too_long()[0].field, "answers");
    }

    fn fields_of(k: &str, v: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(k.into(), json!(v));
        m
    }

    #[test]
    fn a_lead_needs_a_usable_phone_or_email() {
        let l = IntakeLead::from_fields(fields(json!({"name": "x"})));
        let e = l.validate("TR").unwrap_err();
        assert!(e.iter().any(|f| f.field == "phone"));
        let l = IntakeLead::from_fields(fields(json!({"phone": "12", "email": "nope"})));
        let e = l.validate("TR").unwrap_err();
        assert_eq!(e[0].message, "not a valid phone number");
        assert_eq!(e[1].message, "not a valid e-mail address");
        let l = IntakeLead::from_fields(fields(json!({"phone": "12", "email": "a@b.co"})));
        assert!(l.validate("TR").is_ok());
    }
}
