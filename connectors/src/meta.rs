//! Meta webhook payloads: WhatsApp Cloud API, Messenger, Instagram and Lead
//! Ads, flattened into one list of [`InboundItem`]s per POST.
//!
//! Meta batches freely (several entries per POST, several changes per entry,
//! several messages per change), changes JSON types between products and
//! adds fields and message types without notice. The parser therefore walks
//! the body as a `serde_json::Value` instead of strict serde structs:
//!
//! * only a body that is not a JSON object envelope is an error;
//! * every entry × `changes`/`messaging`/`standby` × item is visited, and an
//!   item that cannot be understood becomes [`InboundItem::Ignored`] with a
//!   reason, so one poison item never loses the rest of the batch and callers
//!   can still count what they skipped;
//! * ids are accepted as JSON numbers or strings and kept as exact decimal
//!   strings (18-digit ad ids exceed `f64` precision);
//! * open-ended values (message `type`, attachment type, delivery status) stay
//!   strings or `Other(String)` rather than closed enums.
//!
//! The signature must be verified on the raw bytes before calling
//! [`parse_webhook`] (see [`crate::signature`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use thiserror::Error;

use crate::json;

/// The body cannot be treated as a Meta webhook envelope at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("body is not a Meta webhook envelope: {0}")]
    NotEnvelope(&'static str),
}

/// One webhook POST: the envelope's `object` and everything found in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub object: String,
    pub items: Vec<InboundItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InboundItem {
    WhatsAppMessage(WaMessage),
    WhatsAppStatus(WaStatus),
    /// Messenger (`object = page`) or Instagram (`object = instagram`)
    /// `messaging[]`/`standby[]` events that carry content.
    SocialMessage(SocialMessage),
    /// Messenger/Instagram `delivery` and `read` (Instagram `messaging_seen`).
    SocialReceipt(SocialReceipt),
    Leadgen(LeadgenChange),
    /// Anything not handled, kept so that callers can count and log it.
    Ignored(Ignored),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    pub object: String,
    /// The change `field`, or for `messaging[]` events the event key
    /// (`optin`, `pass_thread_control`, ...), when known.
    pub field: Option<String>,
    pub reason: String,
}

/// An inbound WhatsApp message (`messages[]` item of a `messages` change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaMessage {
    /// `entry[].id`: the tenant.
    pub waba_id: String,
    /// `value.metadata.phone_number_id`: the business number that received it.
    pub phone_number_id: String,
    pub display_phone_number: Option<String>,
    /// `contacts[].wa_id` of the matching contact, else `message.from`.
    /// Absent for BSUID-only payloads.
    pub wa_id: Option<String>,
    /// Business-scoped user id: `contacts[].user_id` or `message.from_user_id`.
    pub user_id: Option<String>,
    pub profile_name: Option<String>,
    pub wamid: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// The message `type` as sent (`text`, `image`, ..., or anything new).
    pub kind: String,
    /// Human-readable summary for timelines and inbox previews.
    pub text: Option<String>,
    /// `context.id` (the message replied to); for reactions the
    /// `reaction.message_id` they target.
    pub context_id: Option<String>,
    pub referral: Option<WaReferral>,
    /// The `messages[]` item exactly as received.
    pub raw: Value,
}

/// Click-to-WhatsApp ad attribution carried on the first message after a click.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaReferral {
    pub source_id: Option<String>,
    pub source_type: Option<String>,
    pub source_url: Option<String>,
    pub headline: Option<String>,
    pub ctwa_clid: Option<String>,
}

/// A delivery receipt for one of our outbound WhatsApp messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaStatus {
    pub phone_number_id: String,
    pub wamid: String,
    pub status: DeliveryStatus,
    /// Unix seconds.
    pub timestamp: i64,
    pub recipient_id: Option<String>,
    pub biz_opaque_callback_data: Option<String>,
    /// First entry of `errors[]` (present on `failed`).
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    /// The `statuses[]` item exactly as received (keeps `pricing`,
    /// `conversation` and the full `errors[]`).
    pub raw: Value,
}

/// WhatsApp message status. Serialised as the plain wire string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
    Other(String),
}

impl DeliveryStatus {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed => "failed",
            Self::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "played" => Self::Played,
            "failed" => Self::Failed,
            _ => Self::Other(s.to_owned()),
        }
    }

    /// Position in the monotonic progression `sent < delivered < read <
    /// played`. `failed` and unknown statuses have no rank: they are not part
    /// of the progression and must be handled explicitly.
    pub fn rank(&self) -> Option<u8> {
        match self {
            Self::Sent => Some(1),
            Self::Delivered => Some(2),
            Self::Read => Some(3),
            Self::Played => Some(4),
            Self::Failed | Self::Other(_) => None,
        }
    }

    /// Once failed, later statuses for the same wamid must not resurrect it.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Failed)
    }
}

impl Serialize for DeliveryStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DeliveryStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(Self::parse(&s))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocialChannel {
    Messenger,
    Instagram,
}

impl SocialChannel {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Messenger => "messenger",
            Self::Instagram => "instagram",
        }
    }
}

/// A Messenger or Instagram event that carries content: a message (incl.
/// echoes of our own), postback, reaction, referral, edit or deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocialMessage {
    pub channel: SocialChannel,
    /// `entry[].id`: our Page id or Instagram professional account id.
    pub account_id: String,
    pub sender_id: String,
    pub recipient_id: String,
    /// The non-business party (PSID/IGSID): the recipient on echoes, else the
    /// sender.
    pub customer_id: String,
    /// Idempotency key. `message.mid` for messages and `postback.mid` for
    /// postbacks; synthesised for events that have no unique mid of their own
    /// (see [`parse_webhook`]).
    pub mid: String,
    /// Unix milliseconds.
    pub timestamp_ms: i64,
    /// `message`, `postback`, `reaction`, `referral`, `message_edit`,
    /// `message_deleted`.
    pub kind: String,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub is_echo: bool,
    /// Click-to-Messenger / Click-to-Direct ad id from `referral.ad_id`.
    pub ad_id: Option<String>,
    /// The `messaging[]` event exactly as received.
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Attachment `type` as sent (`image`, `video`, `file`, `ig_reel`, ...).
    pub kind: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialReceipt {
    pub channel: SocialChannel,
    pub account_id: String,
    pub customer_id: String,
    /// `delivery` or `read`.
    pub kind: String,
    /// Explicit message ids, when Meta sends them (Messenger `delivery.mids`,
    /// Instagram `read.mid`).
    pub mids: Vec<String>,
    /// Everything sent before this time (ms) is covered.
    pub watermark_ms: Option<i64>,
    pub timestamp_ms: i64,
}

/// A Lead Ads `leadgen` change. It carries no answers: the lead must be
/// fetched from the Graph API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadgenChange {
    pub leadgen_id: String,
    /// `value.page_id`, else the entry id (which is the Page id).
    pub page_id: Option<String>,
    pub form_id: Option<String>,
    pub ad_id: Option<String>,
    pub adgroup_id: Option<String>,
    /// Unix seconds.
    pub created_time: Option<i64>,
}

const OBJECT_WHATSAPP: &str = "whatsapp_business_account";
const OBJECT_PAGE: &str = "page";
const OBJECT_INSTAGRAM: &str = "instagram";

/// What intake needs to know of a webhook body before storing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// Not JSON at all: kept for inspection, answered 400.
    NotJson,
    /// JSON, but its top level is not an object.
    NotAnObject,
    /// A JSON object: its `object` field when that is a string, and its
    /// [`event time`](read_envelope).
    Object {
        object: Option<String>,
        event_time: Option<i64>,
    },
}

/// Keys under which Meta puts when something happened: `entry[].time`
/// (Page, Instagram), `messages[]/statuses[].timestamp` (WhatsApp),
/// `created_time` (Lead Ads).
const TIME_KEYS: &[&str] = &["time", "timestamp", "created_time"];

/// Meta mixes seconds and milliseconds; above this a time is milliseconds.
const MS_THRESHOLD: i64 = 100_000_000_000;

/// A time value as unix seconds: a non-negative integer, or a string of one.
pub fn event_seconds(v: &Value) -> Option<i64> {
    let t = match v {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.parse::<i64>().ok()?,
        _ => return None,
    };
    normalise_seconds(t)
}

fn normalise_seconds(t: i64) -> Option<i64> {
    match t {
        t if t < 0 => None,
        t if t >= MS_THRESHOLD => Some(t / 1000),
        t => Some(t),
    }
}

/// Reads only the envelope of a webhook body: checks that the whole body is
/// JSON and returns its top-level `object`, without building a tree of the
/// rest (intake answers Meta before any worker parses the payload; a full
/// `Value` was a tenth of the request's CPU). Agrees with
/// `serde_json::from_slice::<Value>` on what is JSON, and on the `object`
/// field (the last of duplicate keys wins), within the same nesting limit.
///
/// The event time is the latest of the times anywhere in the body (under
/// [`TIME_KEYS`], see [`event_seconds`]): the same for every delivery of the
/// same body, and close to arrival order, so keys built on it land near each
/// other in an index.
pub fn read_envelope(body: &[u8]) -> Envelope {
    use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use std::cell::Cell;

    /// Any JSON value, read and dropped, keeping the latest time seen. It
    /// goes through `deserialize_any` at every level (unlike `IgnoredAny`),
    /// so serde_json's nesting limit holds as it does for a `Value`.
    #[derive(Clone, Copy)]
    struct Scan<'a> {
        latest: &'a Cell<Option<i64>>,
        /// The top-level value (whose `object` we want).
        top: bool,
        /// This value sits under a time key.
        time: bool,
    }

    impl Scan<'_> {
        fn seen(&self, t: Option<i64>) {
            if self.time
                && let Some(t) = t.and_then(normalise_seconds)
            {
                self.latest
                    .set(Some(self.latest.get().map_or(t, |l| l.max(t))));
            }
        }
    }

    impl<'de> DeserializeSeed<'de> for Scan<'_> {
        type Value = Envelope;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Envelope, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Scan<'_> {
        type Value = Envelope;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
            let mut object = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if self.top && key == "object" {
                    object = map.next_value::<Value>()?.as_str().map(str::to_string);
                } else {
                    let child = Scan {
                        top: false,
                        time: TIME_KEYS.contains(&key.as_ref()),
                        ..self
                    };
                    map.next_value_seed(child)?;
                }
            }
            Ok(Envelope::Object {
                object,
                event_time: None,
            })
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Envelope, A::Error> {
            let child = Scan {
                top: false,
                time: false,
                ..self
            };
            while seq.next_element_seed(child)?.is_some() {}
            Ok(Envelope::NotAnObject)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Envelope, E> {
            Ok(Envelope::NotAnObject)
        }
        fn visit_i64<E>(self, v: i64) -> Result<Envelope, E> {
            self.seen(Some(v));
            Ok(Envelope::NotAnObject)
        }
        fn visit_u64<E>(self, v: u64) -> Result<Envelope, E> {
            self.seen(i64::try_from(v).ok());
            Ok(Envelope::NotAnObject)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Envelope, E> {
            Ok(Envelope::NotAnObject)
        }
        fn visit_str<E>(self, v: &str) -> Result<Envelope, E> {
            self.seen(v.parse::<i64>().ok());
            Ok(Envelope::NotAnObject)
        }
        fn visit_unit<E>(self) -> Result<Envelope, E> {
            Ok(Envelope::NotAnObject)
        }
    }

    let latest = Cell::new(None);
    let scan = Scan {
        latest: &latest,
        top: true,
        time: false,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    match scan.deserialize(&mut de).and_then(|e| de.end().map(|()| e)) {
        Ok(Envelope::Object { object, .. }) => Envelope::Object {
            object,
            event_time: latest.get(),
        },
        Ok(other) => other,
        Err(_) => Envelope::NotJson,
    }
}

/// Parses a webhook body into a flat list of items.
///
/// Fails only when the body is not JSON, not an object, or has no string
/// `object`; everything else degrades to [`InboundItem::Ignored`]. Never
/// panics (serde_json bounds nesting depth).
///
/// Events without a unique mid get a synthesised [`SocialMessage::mid`]:
/// reactions `reaction:{mid}:{action}:{timestamp}`, referral-only events
/// `referral:{sender}:{timestamp}`, postbacks without a mid
/// `postback:{sender}:{timestamp}`, edits `edit:{mid}:{num_edit}`, deletions
/// `deleted:{mid}`.
pub fn parse_webhook(body: &[u8]) -> Result<Webhook, ParseError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    if !root.is_object() {
        return Err(ParseError::NotEnvelope("top level is not a JSON object"));
    }
    let Some(object) = root.get("object").and_then(Value::as_str) else {
        return Err(ParseError::NotEnvelope("missing string `object`"));
    };

    let mut sink = Sink {
        object,
        items: Vec::new(),
    };
    match root.get("entry") {
        None | Some(Value::Null) => {}
        Some(Value::Array(entries)) => {
            for entry in entries {
                parse_entry(&mut sink, entry);
            }
        }
        Some(_) => sink.ignore(None, "`entry` is not an array"),
    }
    Ok(Webhook {
        object: object.to_owned(),
        items: sink.items,
    })
}

struct Sink<'a> {
    object: &'a str,
    items: Vec<InboundItem>,
}

impl Sink<'_> {
    fn push(&mut self, item: InboundItem) {
        self.items.push(item);
    }

    fn ignore(&mut self, field: Option<&str>, reason: impl Into<String>) {
        self.items.push(InboundItem::Ignored(Ignored {
            object: self.object.to_owned(),
            field: field.map(str::to_owned),
            reason: reason.into(),
        }));
    }
}

fn parse_entry(sink: &mut Sink<'_>, entry: &Value) {
    if !entry.is_object() {
        sink.ignore(None, "entry is not an object");
        return;
    }
    let entry_id = json::id(entry.get("id"));
    let mut visited = false;

    if let Some(changes) = entry.get("changes") {
        visited = true;
        match changes {
            Value::Array(changes) => {
                for change in changes {
                    parse_change(sink, entry_id.as_deref(), change);
                }
            }
            _ => sink.ignore(Some("changes"), "`changes` is not an array"),
        }
    }

    for key in ["messaging", "standby"] {
        let Some(events) = entry.get(key) else {
            continue;
        };
        visited = true;
        let channel = match sink.object {
            OBJECT_PAGE => SocialChannel::Messenger,
            OBJECT_INSTAGRAM => SocialChannel::Instagram,
            _ => {
                sink.ignore(Some(key), "messaging events on an unsupported object");
                continue;
            }
        };
        match events {
            Value::Array(events) => {
                for event in events {
                    parse_social_event(sink, channel, entry_id.as_deref(), key, event);
                }
            }
            _ => sink.ignore(Some(key), format!("`{key}` is not an array")),
        }
    }

    if !visited {
        sink.ignore(None, "entry has no changes, messaging or standby");
    }
}

fn parse_change(sink: &mut Sink<'_>, entry_id: Option<&str>, change: &Value) {
    if !change.is_object() {
        sink.ignore(None, "change is not an object");
        return;
    }
    let field = change.get("field").and_then(Value::as_str);
    let value = change.get("value").filter(|v| v.is_object());

    match (sink.object, field) {
        (OBJECT_WHATSAPP, Some("messages")) => match value {
            Some(value) => parse_wa_value(sink, entry_id, value),
            None => sink.ignore(field, "change has no value object"),
        },
        (OBJECT_PAGE, Some("leadgen")) => match value {
            Some(value) => match parse_leadgen(entry_id, value) {
                Ok(lead) => sink.push(InboundItem::Leadgen(lead)),
                Err(reason) => sink.ignore(field, reason),
            },
            None => sink.ignore(field, "change has no value object"),
        },
        (OBJECT_WHATSAPP | OBJECT_PAGE | OBJECT_INSTAGRAM, Some(_)) => {
            sink.ignore(field, "unhandled field");
        }
        (OBJECT_WHATSAPP | OBJECT_PAGE | OBJECT_INSTAGRAM, None) => {
            sink.ignore(None, "change without field");
        }
        _ => sink.ignore(field, "unsupported object"),
    }
}

// ---------------------------------------------------------------- WhatsApp

struct WaCtx {
    waba_id: String,
    phone_number_id: String,
    display_phone_number: Option<String>,
}

const WA_FIELD: Option<&str> = Some("messages");

/// Why a WhatsApp message or status item is ignored; the text is the
/// [`Ignored::reason`] kept with the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
enum WaItemError {
    #[error("message item is not an object")]
    MessageNotObject,
    #[error("message without id")]
    MessageWithoutId,
    #[error("message without a valid timestamp")]
    MessageWithoutTimestamp,
    #[error("message without wa_id/from or user_id")]
    MessageWithoutSender,
    #[error("status item is not an object")]
    StatusNotObject,
    #[error("status without id")]
    StatusWithoutId,
    #[error("status without status")]
    StatusWithoutStatus,
    #[error("status without a valid timestamp")]
    StatusWithoutTimestamp,
}

fn parse_wa_value(sink: &mut Sink<'_>, entry_id: Option<&str>, value: &Value) {
    let messages = json::array(value.get("messages"));
    let statuses = json::array(value.get("statuses"));
    if messages.is_empty() && statuses.is_empty() {
        let reason = if value.get("errors").is_some() {
            "value carries only errors[]"
        } else {
            "value has no messages or statuses"
        };
        sink.ignore(WA_FIELD, reason);
        return;
    }

    let phone_number_id = json::id(json::path(value, &["metadata", "phone_number_id"]));
    let (Some(waba_id), Some(phone_number_id)) = (entry_id, phone_number_id) else {
        for _ in messages.iter().chain(statuses) {
            sink.ignore(WA_FIELD, "missing entry.id or metadata.phone_number_id");
        }
        return;
    };
    let ctx = WaCtx {
        waba_id: waba_id.to_owned(),
        phone_number_id,
        display_phone_number: json::id(json::path(value, &["metadata", "display_phone_number"])),
    };
    let contacts = json::array(value.get("contacts"));

    for item in messages {
        match parse_wa_message(&ctx, contacts, item) {
            Ok(m) => sink.push(InboundItem::WhatsAppMessage(m)),
            Err(reason) => sink.ignore(WA_FIELD, reason.to_string()),
        }
    }
    for item in statuses {
        match parse_wa_status(&ctx, item) {
            Ok(s) => sink.push(InboundItem::WhatsAppStatus(s)),
            Err(reason) => sink.ignore(WA_FIELD, reason.to_string()),
        }
    }
}

/// Finds the `contacts[]` entry describing the sender of a message.
///
/// A lone contact is used when nothing contradicts it, because BSUID-only
/// payloads may omit `from` and `from_user_id` and leave the contact as the
/// only source of identity.
fn match_contact<'a>(
    contacts: &'a [Value],
    from: Option<&str>,
    from_user_id: Option<&str>,
) -> Option<&'a Value> {
    let find = |key: &str, want: Option<&str>| {
        let want = want?;
        contacts
            .iter()
            .find(|c| json::id(c.get(key)).as_deref() == Some(want))
    };
    find("wa_id", from)
        .or_else(|| find("user_id", from_user_id))
        .or_else(|| match contacts {
            [only] => {
                let clash = |key: &str, mine: Option<&str>| {
                    mine.is_some() && json::id(only.get(key)).is_some()
                };
                (!clash("wa_id", from) && !clash("user_id", from_user_id)).then_some(only)
            }
            _ => None,
        })
}

fn parse_wa_message(
    ctx: &WaCtx,
    contacts: &[Value],
    item: &Value,
) -> Result<WaMessage, WaItemError> {
    if !item.is_object() {
        return Err(WaItemError::MessageNotObject);
    }
    let wamid = json::string(item.get("id")).ok_or(WaItemError::MessageWithoutId)?;
    let timestamp = json::int(item.get("timestamp")).ok_or(WaItemError::MessageWithoutTimestamp)?;
    let kind = json::string(item.get("type")).unwrap_or_else(|| "unknown".to_owned());

    let from = json::id(item.get("from"));
    let from_user_id = json::string(item.get("from_user_id"));
    let contact = match_contact(contacts, from.as_deref(), from_user_id.as_deref());
    let wa_id = contact.and_then(|c| json::id(c.get("wa_id"))).or(from);
    let user_id = contact
        .and_then(|c| json::string(c.get("user_id")))
        .or(from_user_id);
    if wa_id.is_none() && user_id.is_none() {
        return Err(WaItemError::MessageWithoutSender);
    }
    let profile_name = contact.and_then(|c| json::string(json::path(c, &["profile", "name"])));

    let context_id = json::string(json::path(item, &["context", "id"])).or_else(|| {
        if kind == "reaction" {
            json::string(json::path(item, &["reaction", "message_id"]))
        } else {
            None
        }
    });
    let referral = item
        .get("referral")
        .filter(|r| r.is_object())
        .map(|r| WaReferral {
            source_id: json::id(r.get("source_id")),
            source_type: json::string(r.get("source_type")),
            source_url: json::string(r.get("source_url")),
            headline: json::string(r.get("headline")),
            ctwa_clid: json::string(r.get("ctwa_clid")),
        });

    Ok(WaMessage {
        waba_id: ctx.waba_id.clone(),
        phone_number_id: ctx.phone_number_id.clone(),
        display_phone_number: ctx.display_phone_number.clone(),
        wa_id,
        user_id,
        profile_name,
        wamid,
        timestamp,
        text: wa_summary(&kind, item),
        kind,
        context_id,
        referral,
        raw: item.clone(),
    })
}

/// Builds the one-line preview shown in timelines; the full payload stays in
/// `raw` for anything richer.
fn wa_summary(kind: &str, item: &Value) -> Option<String> {
    let s = |keys: &[&str]| json::string(json::path(item, keys));
    let placeholder = |label: &str| Some(format!("[{label}]"));
    match kind {
        "text" => s(&["text", "body"]),
        "image" | "video" => s(&[kind, "caption"]).or_else(|| placeholder(kind)),
        "document" => s(&["document", "caption"])
            .or_else(|| s(&["document", "filename"]).map(|f| format!("[document] {f}")))
            .or_else(|| placeholder("document")),
        "audio" => match json::flag(json::path(item, &["audio", "voice"])) {
            Some(true) => placeholder("voice message"),
            _ => placeholder("audio"),
        },
        "sticker" => placeholder("sticker"),
        "location" => location_summary(item.get("location")).or_else(|| placeholder("location")),
        "contacts" => {
            let names: Vec<String> = json::array(item.get("contacts"))
                .iter()
                .filter_map(|c| {
                    json::string(json::path(c, &["name", "formatted_name"]))
                        .or_else(|| json::string(json::path(c, &["name", "first_name"])))
                })
                .collect();
            if names.is_empty() {
                placeholder("contact")
            } else {
                Some(format!("[contact] {}", names.join(", ")))
            }
        }
        // An empty or missing emoji is an un-react: there is nothing to show.
        "reaction" => s(&["reaction", "emoji"]),
        "interactive" => {
            interactive_summary(item.get("interactive")).or_else(|| placeholder("interactive"))
        }
        "button" => s(&["button", "text"]).or_else(|| s(&["button", "payload"])),
        "order" => s(&["order", "text"]).or_else(|| {
            let n = json::array(json::path(item, &["order", "product_items"])).len();
            Some(format!("[order] {n} item(s)"))
        }),
        "system" => s(&["system", "body"]).or_else(|| placeholder("system")),
        "unsupported" | "unknown" => {
            let why = json::array(item.get("errors")).first().and_then(|e| {
                json::string(e.get("title")).or_else(|| json::string(e.get("message")))
            });
            match why {
                Some(why) => Some(format!("[unsupported message: {why}]")),
                None => placeholder("unsupported message"),
            }
        }
        other => placeholder(other),
    }
}

fn location_summary(loc: Option<&Value>) -> Option<String> {
    let loc = loc?;
    let name = json::string(loc.get("name"));
    let address = json::string(loc.get("address"));
    match (name, address) {
        (Some(n), Some(a)) => Some(format!("{n}, {a}")),
        (Some(x), None) | (None, Some(x)) => Some(x),
        (None, None) => {
            let coord = |k: &str| match loc.get(k)? {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            Some(format!("{}, {}", coord("latitude")?, coord("longitude")?))
        }
    }
}

fn interactive_summary(iv: Option<&Value>) -> Option<String> {
    let iv = iv?;
    let kind = iv.get("type").and_then(Value::as_str)?;
    match kind {
        "nfm_reply" => json::string(json::path(iv, &["nfm_reply", "body"]))
            .or_else(|| Some("[flow response]".to_owned())),
        _ => json::string(json::path(iv, &[kind, "title"])),
    }
}

fn parse_wa_status(ctx: &WaCtx, item: &Value) -> Result<WaStatus, WaItemError> {
    if !item.is_object() {
        return Err(WaItemError::StatusNotObject);
    }
    let wamid = json::string(item.get("id")).ok_or(WaItemError::StatusWithoutId)?;
    let status = json::string(item.get("status")).ok_or(WaItemError::StatusWithoutStatus)?;
    let timestamp = json::int(item.get("timestamp")).ok_or(WaItemError::StatusWithoutTimestamp)?;
    let first_error = json::array(item.get("errors")).first();
    Ok(WaStatus {
        phone_number_id: ctx.phone_number_id.clone(),
        wamid,
        status: DeliveryStatus::parse(&status),
        timestamp,
        recipient_id: json::id(item.get("recipient_id")),
        biz_opaque_callback_data: json::string(item.get("biz_opaque_callback_data")),
        error_code: first_error.and_then(|e| json::int(e.get("code"))),
        error_title: first_error
            .and_then(|e| json::string(e.get("title")).or_else(|| json::string(e.get("message")))),
        raw: item.clone(),
    })
}

// ------------------------------------------------------ Messenger/Instagram

/// Keys of a `messaging[]` event that are addressing, not the event itself.
const EVENT_ENVELOPE_KEYS: [&str; 3] = ["sender", "recipient", "timestamp"];

fn parse_social_event(
    sink: &mut Sink<'_>,
    channel: SocialChannel,
    account_id: Option<&str>,
    source: &str,
    event: &Value,
) {
    match social_event(channel, account_id, event) {
        Ok(item) => sink.push(item),
        Err((field, reason)) => sink.ignore(field.as_deref().or(Some(source)), reason),
    }
}

type SocialResult = Result<InboundItem, (Option<String>, String)>;

fn social_event(channel: SocialChannel, account_id: Option<&str>, ev: &Value) -> SocialResult {
    let Some(obj) = ev.as_object() else {
        return Err((None, "event is not an object".into()));
    };
    let event_key = [
        "message",
        "message_edit",
        "postback",
        "reaction",
        "delivery",
        "read",
        "seen",
        "referral",
    ]
    .into_iter()
    .find(|k| obj.get(*k).is_some_and(Value::is_object));
    let Some(event_key) = event_key else {
        let key = obj
            .keys()
            .find(|k| !EVENT_ENVELOPE_KEYS.contains(&k.as_str()))
            .cloned();
        return Err((key, "unhandled messaging event".into()));
    };
    let fail = |reason: &str| Err((Some(event_key.to_owned()), reason.to_owned()));

    let Some(account_id) = account_id else {
        return fail("entry without id");
    };
    let sender = json::id(json::path(ev, &["sender", "id"]));
    let recipient = json::id(json::path(ev, &["recipient", "id"]));
    let Some(timestamp_ms) = json::int(ev.get("timestamp")) else {
        return fail("event without a valid timestamp");
    };

    if matches!(event_key, "delivery" | "read" | "seen") {
        let Some(customer_id) = sender else {
            return fail("receipt without sender.id");
        };
        let body = ev.get(event_key);
        let mut mids: Vec<String> = json::array(body.and_then(|b| b.get("mids")))
            .iter()
            .filter_map(|m| json::string(Some(m)))
            .collect();
        mids.extend(json::string(body.and_then(|b| b.get("mid"))));
        return Ok(InboundItem::SocialReceipt(SocialReceipt {
            channel,
            account_id: account_id.to_owned(),
            customer_id,
            kind: if event_key == "delivery" {
                "delivery"
            } else {
                "read"
            }
            .to_owned(),
            mids,
            watermark_ms: json::int(body.and_then(|b| b.get("watermark"))),
            timestamp_ms,
        }));
    }

    let (Some(sender_id), Some(recipient_id)) = (sender, recipient) else {
        return fail("event without sender.id or recipient.id");
    };
    let message = ev.get("message");
    let is_echo = json::flag(message.and_then(|m| m.get("is_echo"))) == Some(true);
    let customer_id = if is_echo {
        recipient_id.clone()
    } else {
        sender_id.clone()
    };
    let ad_id = [
        &["message", "referral", "ad_id"][..],
        &["postback", "referral", "ad_id"],
        &["referral", "ad_id"],
    ]
    .into_iter()
    .find_map(|p| json::id(json::path(ev, p)));
    let s = |keys: &[&str]| json::string(json::path(ev, keys));

    let (kind, mid, text, attachments) = match event_key {
        "message" => {
            let Some(mid) = s(&["message", "mid"]) else {
                return fail("message without mid");
            };
            let attachments = json::array(json::path(ev, &["message", "attachments"]))
                .iter()
                .map(|a| Attachment {
                    kind: json::string(a.get("type")).unwrap_or_else(|| "unknown".to_owned()),
                    url: json::string(json::path(a, &["payload", "url"])),
                })
                .collect();
            // A deletion reuses the original mid; a distinct key keeps it from
            // being deduplicated away against the message it deletes.
            if json::flag(json::path(ev, &["message", "is_deleted"])) == Some(true) {
                (
                    "message_deleted",
                    format!("deleted:{mid}"),
                    None,
                    Vec::new(),
                )
            } else {
                ("message", mid, s(&["message", "text"]), attachments)
            }
        }
        "message_edit" => {
            let Some(mid) = s(&["message_edit", "mid"]) else {
                return fail("message_edit without mid");
            };
            let n = json::int(json::path(ev, &["message_edit", "num_edit"])).unwrap_or(0);
            (
                "message_edit",
                format!("edit:{mid}:{n}"),
                s(&["message_edit", "text"]),
                Vec::new(),
            )
        }
        "postback" => {
            let mid = s(&["postback", "mid"])
                .unwrap_or_else(|| format!("postback:{sender_id}:{timestamp_ms}"));
            let text = s(&["postback", "title"]).or_else(|| s(&["postback", "payload"]));
            ("postback", mid, text, Vec::new())
        }
        "reaction" => {
            let Some(target) = s(&["reaction", "mid"]) else {
                return fail("reaction without mid");
            };
            let action = s(&["reaction", "action"]).unwrap_or_else(|| "react".to_owned());
            let text = if action == "unreact" {
                None
            } else {
                s(&["reaction", "emoji"]).or_else(|| s(&["reaction", "reaction"]))
            };
            (
                "reaction",
                format!("reaction:{target}:{action}:{timestamp_ms}"),
                text,
                Vec::new(),
            )
        }
        _ => (
            "referral",
            format!("referral:{sender_id}:{timestamp_ms}"),
            None,
            Vec::new(),
        ),
    };

    Ok(InboundItem::SocialMessage(SocialMessage {
        channel,
        account_id: account_id.to_owned(),
        sender_id,
        recipient_id,
        customer_id,
        mid,
        timestamp_ms,
        kind: kind.to_owned(),
        text,
        attachments,
        is_echo,
        ad_id,
        raw: ev.clone(),
    }))
}

// ------------------------------------------------------------------ Leadgen

fn parse_leadgen(entry_id: Option<&str>, value: &Value) -> Result<LeadgenChange, &'static str> {
    let leadgen_id =
        json::id(value.get("leadgen_id")).ok_or("leadgen change without leadgen_id")?;
    Ok(LeadgenChange {
        leadgen_id,
        page_id: json::id(value.get("page_id")).or_else(|| entry_id.map(str::to_owned)),
        form_id: json::id(value.get("form_id")),
        ad_id: json::id(value.get("ad_id")),
        adgroup_id: json::id(value.get("adgroup_id")),
        created_time: json::int(value.get("created_time")),
    })
}
