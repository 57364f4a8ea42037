//! `parse_webhook` must never panic, whatever Meta (or an attacker holding a
//! leaked app secret) sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_connectors::meta::{Envelope, InboundItem, event_seconds, parse_webhook, read_envelope};
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

/// What `read_envelope` must say, computed the slow way through a `Value`.
fn envelope_reference(body: &[u8]) -> Envelope {
    fn latest(v: &Value, under_time_key: bool, acc: &mut Option<i64>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let time = ["time", "timestamp", "created_time"].contains(&k.as_str());
                    latest(child, time, acc);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| latest(i, false, acc)),
            leaf if under_time_key => {
                if let Some(t) = event_seconds(leaf) {
                    *acc = Some(acc.map_or(t, |a| a.max(t)));
                }
            }
            _ => {}
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Err(_) => Envelope::NotJson,
        Ok(Value::Object(m)) => {
            let object = m.get("object").and_then(Value::as_str).map(str::to_string);
            let mut event_time = None;
            for (k, child) in &m {
                if k != "object" {
                    let time = ["time", "timestamp", "created_time"].contains(&k.as_str());
                    latest(child, time, &mut event_time);
                }
            }
            Envelope::Object { object, event_time }
        }
        Ok(_) => Envelope::NotAnObject,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn envelope_reader_agrees_with_a_full_parse_on_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        prop_assert_eq!(read_envelope(&body), envelope_reference(&body));
    }

    #[test]
    fn envelope_reader_agrees_with_a_full_parse_on_json(v in value(), cut in 0usize..64) {
        let text = v.to_string();
        prop_assert_eq!(read_envelope(text.as_bytes()), envelope_reference(text.as_bytes()));
        // Truncated and padded bodies too.
        let cut = text.len().saturating_sub(cut);
        let truncated = text.as_bytes().get(..cut).unwrap_or_default();
        prop_assert_eq!(read_envelope(truncated), envelope_reference(truncated));
        let padded = format!(" {text} \n");
        prop_assert_eq!(read_envelope(padded.as_bytes()), envelope_reference(padded.as_bytes()));
    }

    #[test]
    fn envelope_reader_reads_the_object(v in envelope()) {
        let text = v.to_string();
        prop_assert_eq!(read_envelope(text.as_bytes()), envelope_reference(text.as_bytes()));
        let read = read_envelope(text.as_bytes());
        prop_assert!(matches!(read, Envelope::Object { object: Some(_), .. }), "{:?}", read);
    }

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
fn envelope_reader_examples() {
    assert_eq!(read_envelope(b"not json"), Envelope::NotJson);
    assert_eq!(read_envelope(b"{\"object\":\"page\"} x"), Envelope::NotJson);
    assert_eq!(read_envelope(b"[1,2]"), Envelope::NotAnObject);
    assert_eq!(read_envelope(b"\"page\""), Envelope::NotAnObject);
    let object = |o: Option<&str>, t: Option<i64>| Envelope::Object {
        object: o.map(str::to_string),
        event_time: t,
    };
    assert_eq!(read_envelope(b"{}"), object(None, None));
    assert_eq!(read_envelope(b"{\"object\":7}"), object(None, None));
    assert_eq!(
        read_envelope(br#"{"entry":[{"a":{"b":[1,2,{"c":null}]}}],"object":"instagram"}"#),
        object(Some("instagram"), None)
    );
    assert_eq!(
        read_envelope(br#"{"object":"page","object":"user"}"#),
        object(Some("user"), None)
    );
    assert_eq!(
        read_envelope(br#"{"object":"whats\u0061pp_business_account"}"#),
        object(Some("whatsapp_business_account"), None)
    );
    // WhatsApp: string seconds deep in messages and statuses; the latest wins.
    assert_eq!(
        read_envelope(
            br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"timestamp":"1767225600"}],"statuses":[{"timestamp":"1767225660"}]}}]}]}"#
        ),
        object(Some("whatsapp_business_account"), Some(1_767_225_660))
    );
    // Messenger: entry.time in milliseconds.
    assert_eq!(
        read_envelope(br#"{"object":"page","entry":[{"id":"9","time":1767225600123,"messaging":[{"timestamp":1767225599000}]}]}"#),
        object(Some("page"), Some(1_767_225_600))
    );
    // Not times: negative, fractional, non-numeric, or not under a time key.
    assert_eq!(
        read_envelope(
            br#"{"object":"page","time":-5,"timestamp":1.5,"created_time":"soon","x":1767225600}"#
        ),
        object(Some("page"), None)
    );
    let deep = format!(
        "{{\"object\":\"page\",\"x\":{}1{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(read_envelope(deep.as_bytes()), Envelope::NotJson);
    // Right at serde_json's nesting limit both readers draw the same line.
    for depth in 120..135 {
        let nested = format!(
            "{{\"object\":\"page\",\"x\":{}1{}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert_eq!(
            read_envelope(nested.as_bytes()),
            envelope_reference(nested.as_bytes()),
            "depth {depth}"
        );
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
