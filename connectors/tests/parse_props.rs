//! `parse_webhook` must never panic, whatever Meta (or an attacker holding a
//! leaked app secret) sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_connectors::meta::{InboundItem, parse_webhook};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys the parser looks at, so random objects actually reach deep code paths.
const KEYS: &[&str] = &[
    "object",
    "entry",
    "id",
    "time",
    "changes",
    "field",
    "value",
    "messaging",
    "standby",
    "metadata",
    "phone_number_id",
    "display_phone_number",
    "contacts",
    "wa_id",
    "user_id",
    "profile",
    "name",
    "messages",
    "statuses",
    "errors",
    "from",
    "from_user_id",
    "timestamp",
    "type",
    "text",
    "body",
    "image",
    "caption",
    "document",
    "filename",
    "audio",
    "voice",
    "location",
    "latitude",
    "longitude",
    "address",
    "reaction",
    "emoji",
    "message_id",
    "interactive",
    "button_reply",
    "list_reply",
    "nfm_reply",
    "title",
    "button",
    "payload",
    "order",
    "product_items",
    "context",
    "referral",
    "source_id",
    "ctwa_clid",
    "status",
    "recipient_id",
    "code",
    "sender",
    "recipient",
    "message",
    "mid",
    "is_echo",
    "is_deleted",
    "attachments",
    "url",
    "postback",
    "delivery",
    "read",
    "seen",
    "mids",
    "watermark",
    "message_edit",
    "num_edit",
    "action",
    "ad_id",
    "leadgen_id",
    "page_id",
    "form_id",
    "adgroup_id",
    "created_time",
];

const WORDS: &[&str] = &[
    "whatsapp_business_account",
    "page",
    "instagram",
    "user",
    "messages",
    "leadgen",
    "text",
    "image",
    "document",
    "audio",
    "location",
    "contacts",
    "reaction",
    "interactive",
    "button_reply",
    "list_reply",
    "nfm_reply",
    "button",
    "order",
    "unsupported",
    "sent",
    "delivered",
    "read",
    "failed",
    "react",
    "unreact",
    "",
    "1767225600",
    "120212345678900123",
    "ü",
    "\u{0}",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn envelope() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&["whatsapp_business_account", "page", "instagram", "user"][..]),
        prop::collection::vec(value(), 0..4),
    )
        .prop_map(|(object, entries)| serde_json::json!({"object": object, "entry": entries}))
}

/// An envelope whose entries have the right skeleton but random leaves, to
/// exercise the item parsers rather than the envelope checks.
fn shaped_envelope() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&["whatsapp_business_account", "page", "instagram"][..]),
        prop::sample::select(&["messages", "leadgen", "feed"][..]),
        value(),
        prop::collection::vec(value(), 0..4),
        prop::collection::vec(value(), 0..4),
        value(),
    )
        .prop_map(|(object, field, id, items, contacts, meta)| {
            serde_json::json!({"object": object, "entry": [{
                "id": id,
                "changes": [{"field": field, "value": {
                    "metadata": meta, "contacts": contacts, "messages": items.clone(), "statuses": items.clone(),
                    "leadgen_id": id_or(&items)
                }}],
                "messaging": items.clone(),
                "standby": items,
            }]})
        })
}

fn id_or(items: &[Value]) -> Value {
    items.first().cloned().unwrap_or(Value::Null)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_webhook(&body);
    }

    #[test]
    fn arbitrary_json_never_panics(v in value()) {
        let _ = parse_webhook(v.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_envelopes_never_panic(v in envelope()) {
        let w = parse_webhook(v.to_string().as_bytes()).unwrap();
        // Every item names the envelope's object when ignored.
        for item in &w.items {
            if let InboundItem::Ignored(i) = item {
                prop_assert_eq!(&i.object, &w.object);
            }
        }
    }

    #[test]
    fn shaped_envelopes_never_panic(v in shaped_envelope()) {
        let _ = parse_webhook(v.to_string().as_bytes()).unwrap();
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_webhook(deep.as_bytes()).is_err());
    let deep_obj = format!(
        r#"{{"object":"page","entry":[{}1{}]}}"#,
        "{\"changes\":".repeat(10_000),
        "}".repeat(10_000)
    );
    assert!(parse_webhook(deep_obj.as_bytes()).is_err());
}
