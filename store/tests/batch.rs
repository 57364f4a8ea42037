//! Applying a batch of events in one transaction must leave the store exactly
//! as applying them one at a time does: same customers (dedupe across events
//! of the batch), messages, statuses, leads, conversations, cards, timeline,
//! possible duplicates, and the same domain events per event. Random mixes of
//! leads, messages and statuses over a small pool of phones, e-mails and
//! message ids, on SQLite always and on PostgreSQL when reachable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use crm_domain::model::{
    Action, Attribution, Channel, ContactInput, Direction, LeadInput, MessageInput, StatusInput,
};
use crm_domain::phone::normalize_phone;
use serde_json::json;
use sqlx::{AnyPool, Row};

mod common;

use common::TestStore;

/// A migrated store and a plain pool on the same database, for reading back.
async fn sqlite() -> (TestStore, AnyPool) {
    sqlx::any::install_default_drivers();
    let db = common::sqlite().await;
    let pool = AnyPool::connect(&db.url).await.unwrap();
    (db, pool)
}

async fn postgres() -> Option<(TestStore, AnyPool)> {
    let db = common::postgres().await?;
    let pool = AnyPool::connect(&db.url).await.unwrap();
    Some((db, pool))
}

/// xorshift: reproducible mixes without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const PHONES: &[&str] = &[
    "0532 111 00 01",
    "+90 532 111 00 02",
    "905321110003",
    "5321110004",
];
const EMAILS: &[&str] = &["a@example.com", "b@example.com", "c@example.com"];
const STATUSES: &[&str] = &["sent", "delivered", "read", "failed", "deleted"];

fn contact(r: &mut Rng) -> ContactInput {
    let mut c = ContactInput {
        name: (r.below(2) == 0).then(|| format!("Name {}", r.below(3))),
        ..ContactInput::default()
    };
    if r.below(4) != 0 {
        c.phone = normalize_phone(PHONES[r.below(PHONES.len() as u64) as usize], "TR");
    }
    if r.below(2) == 0 || c.phone.is_none() {
        c.email = Some(EMAILS[r.below(EMAILS.len() as u64) as usize].to_string());
    }
    c
}

fn lead(r: &mut Rng, source: &str) -> LeadInput {
    LeadInput {
        source: source.into(),
        external_id: format!("l{}", r.below(8)),
        event_id: None,
        received_at: 1000 + r.below(100) as i64,
        contact: contact(r),
        message: None,
        attribution: Attribution {
            utm_campaign: Some("spring".into()),
            ..Attribution::default()
        },
        consent: Some(true),
        answers: json!({"q": r.below(3)}),
    }
}

fn action(r: &mut Rng) -> Action {
    let wamid = format!("wamid.{}", r.below(10));
    match r.below(4) {
        0 => Action::Lead(lead(r, "web_form")),
        1 => Action::Status(StatusInput {
            channel: Channel::WhatsApp,
            external_id: wamid,
            status: STATUSES[r.below(STATUSES.len() as u64) as usize].into(),
            occurred_at: 2000 + r.below(100) as i64,
            error_code: None,
            payload: json!({}),
        }),
        _ => {
            let p = PHONES[r.below(PHONES.len() as u64) as usize];
            let phone = normalize_phone(p, "TR");
            let digits = phone
                .as_ref()
                .map(|p| p.digits().to_string())
                .unwrap_or_default();
            Action::Message(MessageInput {
                channel: Channel::WhatsApp,
                account_id: "418".into(),
                contact_key: digits.clone(),
                external_id: wamid,
                direction: Direction::Inbound,
                kind: "text".into(),
                body: Some("merhaba".into()),
                payload: json!({"n": r.below(5)}),
                sent_at: 3000 + r.below(100) as i64,
                contact: ContactInput {
                    name: (r.below(2) == 0).then(|| "WA Name".to_string()),
                    phone,
                    wa_id: Some(digits),
                    ..ContactInput::default()
                },
                referral_lead: (r.below(3) == 0).then(|| lead(r, "whatsapp_ctwa")),
            })
        }
    }
}

fn batch(seed: u64, events: usize) -> Vec<(String, Vec<Action>)> {
    let mut r = Rng(seed);
    (0..events)
        .map(|i| {
            let n = 1 + r.below(2) as usize;
            (format!("ev{i}"), (0..n).map(|_| action(&mut r)).collect())
        })
        .collect()
}

/// The store's content with generated ids replaced by what they stand for
/// (a customer by its identity keys), so two stores can be compared.
async fn snapshot(pool: &AnyPool) -> BTreeMap<&'static str, BTreeSet<String>> {
    let rows = |sql: &'static str| async move { sqlx::query(sql).fetch_all(pool).await.unwrap() };
    let mut label: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows("SELECT kind, value, customer_id FROM customer_identities").await {
        let k: String = r.get("kind");
        let v: String = r.get("value");
        label
            .entry(r.get("customer_id"))
            .or_default()
            .push(format!("{k}={v}"));
    }
    let label: BTreeMap<String, String> = label
        .into_iter()
        .map(|(id, mut keys)| {
            keys.sort();
            (id, keys.join(","))
        })
        .collect();
    let who = |id: &str| {
        label
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("unlabelled {id}"))
    };
    let mut out: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for r in rows("SELECT id, name, phone, email, wa_id FROM customers").await {
        let id: String = r.get("id");
        let f = |c: &str| r.get::<Option<String>, _>(c).unwrap_or_default();
        out.entry("customers").or_default().insert(format!(
            "{} name={} phone={} email={} wa={}",
            who(&id),
            f("name"),
            f("phone"),
            f("email"),
            f("wa_id")
        ));
    }
    for r in rows("SELECT customer_id, stage_id FROM cards").await {
        let c: String = r.get("customer_id");
        let s: String = r.get("stage_id");
        out.entry("cards")
            .or_default()
            .insert(format!("{} {s}", who(&c)));
    }
    for r in rows(
        "SELECT customer_id, channel, account_id, contact_key, last_message_at FROM conversations",
    )
    .await
    {
        let c: String = r.get("customer_id");
        let (ch, a, k): (String, String, String) =
            (r.get("channel"), r.get("account_id"), r.get("contact_key"));
        let at: i64 = r.get("last_message_at");
        out.entry("conversations")
            .or_default()
            .insert(format!("{} {ch}/{a}/{k} {at}", who(&c)));
    }
    for r in rows(
        "SELECT m.external_id, m.status, m.status_rank, m.status_at, m.payload, c.customer_id, c.contact_key \
         FROM messages m JOIN conversations c ON c.id = m.conversation_id",
    )
    .await
    {
        let c: String = r.get("customer_id");
        let ext: String = r.get("external_id");
        let st = r.get::<Option<String>, _>("status").unwrap_or_default();
        let rank: i64 = r.get("status_rank");
        let at = r.get::<Option<i64>, _>("status_at").unwrap_or_default();
        let payload: String = r.get("payload");
        let key: String = r.get("contact_key");
        out.entry("messages")
            .or_default()
            .insert(format!("{ext} {} {key} {st} {rank} {at} {payload}", who(&c)));
    }
    for r in rows("SELECT channel, external_id, status FROM message_statuses").await {
        let (a, b, c): (String, String, String) =
            (r.get("channel"), r.get("external_id"), r.get("status"));
        out.entry("statuses")
            .or_default()
            .insert(format!("{a} {b} {c}"));
    }
    for r in rows("SELECT source, external_id, customer_id, name, phone, email, answers FROM leads")
        .await
    {
        let c: String = r.get("customer_id");
        let (s, e): (String, String) = (r.get("source"), r.get("external_id"));
        let f = |k: &str| r.get::<Option<String>, _>(k).unwrap_or_default();
        out.entry("leads").or_default().insert(format!(
            "{s}:{e} {} {} {} {} {}",
            who(&c),
            f("name"),
            f("phone"),
            f("email"),
            f("answers")
        ));
    }
    for r in rows("SELECT customer_id, kind, natural_key FROM timeline").await {
        let c: String = r.get("customer_id");
        let kind: String = r.get("kind");
        let key: String = r.get("natural_key");
        // A new customer's entry is keyed by its (random) id.
        let key = if kind == "customer.created" {
            who(&key)
        } else {
            key
        };
        out.entry("timeline")
            .or_default()
            .insert(format!("{kind} {key} {}", who(&c)));
    }
    for r in rows("SELECT customer_id, other_customer_id FROM possible_duplicates").await {
        let (a, b): (String, String) = (r.get("customer_id"), r.get("other_customer_id"));
        out.entry("possible_duplicates")
            .or_default()
            .insert(format!("{} ~ {}", who(&a), who(&b)));
    }
    out
}

fn event_kinds(evs: &[crm_domain::model::DomainEvent]) -> Vec<String> {
    let mut k: Vec<String> = evs.iter().map(|e| e.kind.as_str().to_string()).collect();
    k.sort();
    k
}

async fn batch_equals_one_by_one(a: (TestStore, AnyPool), b: (TestStore, AnyPool), seed: u64) {
    let events = batch(seed, 40);
    let mut one_by_one = Vec::new();
    for (id, actions) in &events {
        one_by_one.push(event_kinds(&a.0.apply_event(id, actions).await.unwrap()));
    }
    let batched: Vec<Vec<String>> =
        b.0.apply_events(&events)
            .await
            .unwrap()
            .iter()
            .map(|e| event_kinds(e))
            .collect();
    assert_eq!(batched, one_by_one, "domain events per event (seed {seed})");
    let (sa, sb) = (snapshot(&a.1).await, snapshot(&b.1).await);
    assert!(sa.get("customers").is_some_and(|c| !c.is_empty()));
    for (table, rows) in &sa {
        assert_eq!(Some(rows), sb.get(table), "{table} differs (seed {seed})");
    }
    assert_eq!(sa.len(), sb.len(), "tables (seed {seed})");
    // Applying the same batch again changes nothing and says nothing.
    let again = b.0.apply_events(&events).await.unwrap();
    assert!(again.iter().all(Vec::is_empty), "second run: {again:?}");
    assert_eq!(snapshot(&b.1).await, sb);
}

#[tokio::test]
async fn batches_equal_one_by_one_on_sqlite() {
    for seed in [7, 42, 1234, 98765, 555_555] {
        batch_equals_one_by_one(sqlite().await, sqlite().await, seed).await;
    }
}

#[tokio::test]
async fn batches_equal_one_by_one_on_postgres() {
    for seed in [7, 42, 1234] {
        let (Some(a), Some(b)) = (postgres().await, postgres().await) else {
            return;
        };
        batch_equals_one_by_one(a, b, seed).await;
    }
}
