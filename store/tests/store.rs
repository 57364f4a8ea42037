//! The store on real engines: SQLite files always, PostgreSQL when reachable
//! (required under CRM_REQUIRE_SERVICES=1). Same tests, same SQL, both engines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_domain::auth::TokenScope;
use crm_domain::ids::{CustomerId, EventId, StageId};
use crm_domain::inbound::{EventSource, InboundStatus, Processed};
use crm_domain::model::EventKind;
use crm_domain::model::{
    Action, Channel, ContactInput, Direction, IdentityKind, LeadInput, MessageInput, ReceiptInput,
    StatusInput,
};
use crm_domain::phone::normalize_phone;
use crm_domain::rules::MessageStatus;
use crm_store::{CustomerFilter, NewInboundEvent, Store};
use serde_json::json;

mod common;

fn phone(p: &str) -> ContactInput {
    ContactInput {
        phone: normalize_phone(p, "TR"),
        ..Default::default()
    }
}

fn lead(ext: &str, contact: ContactInput) -> LeadInput {
    LeadInput {
        source: "web_form".into(),
        external_id: ext.into(),
        event_id: None,
        received_at: 1000,
        contact,
        message: None,
        attribution: Default::default(),
        consent: Some(true),
        answers: json!({"q": "a"}),
    }
}

common::both_engines!(
    migrations_are_idempotent_and_seed_the_pipeline,
    inbound_events_dedupe_and_fail_to_dead,
    intake_batches_over_several_statements_answer_every_row,
    leads_dedupe_customers_and_record_conflicts,
    concurrent_leads_for_one_number_make_one_customer,
    messages_and_statuses_are_idempotent_and_monotonic,
    watermark_receipts_cover_earlier_outbound_messages,
    card_moves_are_conditional,
    tokens_authenticate_hashed,
    leases_elect_one_holder,
);

async fn migrations_are_idempotent_and_seed_the_pipeline(s: Store) {
    assert!(
        s.migrate().await.unwrap().is_empty(),
        "second run applies nothing"
    );
    let p = s.pipelines().await.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].stages.len(), 6);
    assert_eq!(p[0].stages[0].name, "Potansiyel");
}

async fn inbound_events_dedupe_and_fail_to_dead(s: Store) {
    let id = |id: &str| EventId::new(id);
    let ev = |event: &str, key: &str| NewInboundEvent {
        id: EventId::new(event),
        source: EventSource::Meta,
        dedupe_key: key.into(),
        content_type: None,
        body: b"{}".to_vec(),
        status: InboundStatus::Pending,
    };
    let r = s
        .insert_inbound_events(&[ev("a", "k1"), ev("b", "k1"), ev("c", "k2")], 0)
        .await
        .unwrap();
    assert!(r[0].created && !r[1].created && r[2].created);
    assert_eq!(r[1].id, "a", "duplicate returns the original id");
    let due = s.claim_due_events(10, 60_000).await.unwrap();
    assert_eq!(due.len(), 2);
    assert!(
        s.claim_due_events(10, 60_000).await.unwrap().is_empty(),
        "claimed events are not swept twice"
    );
    assert_eq!(
        s.mark_event_failed(&id("a"), "boom", 2).await.unwrap(),
        InboundStatus::Pending
    );
    assert_eq!(
        s.mark_event_failed(&id("a"), "boom", 2).await.unwrap(),
        InboundStatus::Dead
    );
    let (dead, _) = s
        .list_inbound_events(Some(InboundStatus::Dead), None, 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("boom"));
    let v = s.retry_event(&id("a")).await.unwrap();
    assert_eq!(v.status, InboundStatus::Pending);
    assert_eq!(v.attempts, 0);
    assert_eq!(
        s.retry_event(&id("c")).await.unwrap().status,
        InboundStatus::Pending,
        "retrying a queued event is a no-op"
    );
    s.mark_event_done(&id("c"), Processed::Done).await.unwrap();
    s.mark_event_done(&id("c"), Processed::Ignored)
        .await
        .unwrap();
    assert_eq!(
        s.inbound_event_view(&id("c")).await.unwrap().status,
        InboundStatus::Done,
        "done is final"
    );
    assert!(
        matches!(
            s.retry_event(&id("c")).await.unwrap_err(),
            crm_store::StoreError::Conflict(_)
        ),
        "a done event is not retried"
    );
}

/// A batch larger than one statement (several chunks, one transaction) that
/// repeats a key stored by an earlier batch and a key of its own: every row
/// is answered with its own id or the original's, in order.
async fn intake_batches_over_several_statements_answer_every_row(s: Store) {
    let run = crm_domain::util::new_id();
    let ev = |i: usize, key: String| NewInboundEvent {
        id: EventId::new(format!("{run}-{i:04}")),
        source: EventSource::Meta,
        dedupe_key: key,
        content_type: Some("application/json".into()),
        body: vec![b'x'; 700],
        status: InboundStatus::Pending,
    };
    let key = |k: usize| format!("meta:{run}:{k}");
    let first = s.insert_inbound_events(&[ev(0, key(7))], 0).await.unwrap();
    assert!(first[0].created);
    // 600 rows: past the row cap of one statement on both engines (and the
    // byte cap on PostgreSQL). Row 10 repeats the earlier batch's key, row
    // 590 repeats row 300's.
    let batch: Vec<NewInboundEvent> = (1..=600)
        .map(|i| match i {
            10 => ev(i, key(7)),
            590 => ev(i, key(1300)),
            _ => ev(i, key(1000 + i)),
        })
        .collect();
    let r = s.insert_inbound_events(&batch, 0).await.unwrap();
    assert_eq!(r.len(), batch.len());
    for (i, (row, ev)) in r.iter().zip(&batch).enumerate() {
        match i + 1 {
            10 => assert_eq!(
                (row.created, row.id.as_str()),
                (false, first[0].id.as_str())
            ),
            590 => assert_eq!(
                (row.created, row.id.as_str()),
                (false, batch[299].id.as_str())
            ),
            _ => assert_eq!(
                (row.created, row.id.as_str()),
                (true, ev.id.as_str()),
                "row {i}"
            ),
        }
        assert_eq!(row.status, InboundStatus::Pending);
    }
    // Delivered again whole (Meta retrying everything; every request gets a
    // fresh id): nothing new, the originals' ids back.
    let resent: Vec<NewInboundEvent> = batch
        .iter()
        .map(|ev| NewInboundEvent {
            id: EventId::new(format!("{}-again", ev.id)),
            ..ev.clone()
        })
        .collect();
    let again = s.insert_inbound_events(&resent, 0).await.unwrap();
    assert!(again.iter().all(|r| !r.created));
    assert_eq!(again[9].id, first[0].id);
    assert_eq!(again[589].id, batch[299].id);
    assert_eq!(again[599].id, batch[599].id);
}

async fn leads_dedupe_customers_and_record_conflicts(s: Store) {
    let ev = s
        .apply_lead(&lead("1", phone("0532 123 45 67")))
        .await
        .unwrap();
    assert!(ev.iter().any(|e| e.kind == EventKind::CustomerCreated));
    assert!(
        s.apply_lead(&lead("1", phone("0532 123 45 67")))
            .await
            .unwrap()
            .is_empty(),
        "same lead twice: no effect"
    );
    s.apply_lead(&lead("2", phone("+90 (532) 123-45-67")))
        .await
        .unwrap();
    let mut with_email = phone("5321234567");
    with_email.email = Some("deniz@example.com".into());
    s.apply_lead(&lead("3", with_email)).await.unwrap();
    let page = s
        .list_customers(
            &crm_domain::access::CustomerScope::Everything,
            &CustomerFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let id = page.items[0].id.clone();
    assert_eq!(page.items[0].stage.as_ref().unwrap().name, "Potansiyel");
    let d = s.customer_detail(&id).await.unwrap();
    assert_eq!(d.leads.len(), 3);
    assert_eq!(d.customer.email.as_deref(), Some("deniz@example.com"));
    let tl = s.timeline(&id, 50).await.unwrap();
    assert_eq!(tl.iter().filter(|t| t.kind == "lead.reapplied").count(), 2);
    // Someone else owns another e-mail; a lead with our phone and their e-mail.
    let mut other = phone("0533 000 00 01");
    other.email = Some("other@example.com".into());
    s.apply_lead(&lead("4", other)).await.unwrap();
    let mut mixed = phone("0532 123 45 67");
    mixed.email = Some("other@example.com".into());
    s.apply_lead(&lead("5", mixed)).await.unwrap();
    let d = s.customer_detail(&id).await.unwrap();
    assert_eq!(d.leads.len(), 4, "attached to the phone match");
    assert_eq!(d.possible_duplicates.len(), 1);
    let found = s
        .list_customers(
            &crm_domain::access::CustomerScope::Everything,
            &CustomerFilter {
                phone: normalize_phone("905321234567", "TR"),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    let by_email = s
        .list_customers(
            &crm_domain::access::CustomerScope::Everything,
            &CustomerFilter {
                email: Some("other@example.com".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_email.items.len(), 1);
    assert_ne!(by_email.items[0].id, id);
    // Keyset pagination walks every customer once.
    let first = s
        .list_customers(
            &crm_domain::access::CustomerScope::Everything,
            &CustomerFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let second = s
        .list_customers(
            &crm_domain::access::CustomerScope::Everything,
            &CustomerFilter {
                limit: 1,
                cursor: first.next_cursor.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_ne!(first.items[0].id, second.items[0].id);
    assert!(second.next_cursor.is_none());
}

async fn concurrent_leads_for_one_number_make_one_customer(s: Store) {
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.apply_lead(&lead(&format!("burst-{i}"), phone("0532 999 88 77")))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let page = s
        .list_customers(
            &crm_domain::access::CustomerScope::Everything,
            &CustomerFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        s.customer_detail(&page.items[0].id)
            .await
            .unwrap()
            .leads
            .len(),
        50
    );
}

fn wa_message(wamid: &str, direction: &str) -> MessageInput {
    MessageInput {
        channel: Channel::WhatsApp,
        account_id: "418273645501234".into(),
        contact_key: "905321234567".into(),
        external_id: wamid.into(),
        direction: Direction::parse(direction).unwrap(),
        kind: "text".into(),
        body: Some("hi".into()),
        payload: json!({}),
        sent_at: 5000,
        contact: ContactInput {
            phone: normalize_phone("905321234567", "TR"),
            wa_id: Some("905321234567".into()),
            ..Default::default()
        },
        referral_lead: None,
    }
}

fn status(wamid: &str, st: &str) -> StatusInput {
    StatusInput {
        channel: Channel::WhatsApp,
        external_id: wamid.into(),
        status: st.into(),
        occurred_at: 6000,
        error_code: None,
        payload: json!({}),
    }
}

async fn messages_and_statuses_are_idempotent_and_monotonic(s: Store) {
    // A status that arrives before its message is kept and applied later.
    s.apply_action(&Action::Status(status("wamid.OUT", "delivered")))
        .await
        .unwrap();
    s.apply_action(&Action::Message(wa_message("wamid.IN", "inbound")))
        .await
        .unwrap();
    assert!(
        s.apply_action(&Action::Message(wa_message("wamid.IN", "inbound")))
            .await
            .unwrap()
            .is_empty()
    );
    s.apply_action(&Action::Message(wa_message("wamid.OUT", "outbound")))
        .await
        .unwrap();
    let page = s
        .list_customers(
            &crm_domain::access::CustomerScope::Everything,
            &CustomerFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let convs = s.conversations(&page.items[0].id).await.unwrap();
    assert_eq!(convs.len(), 1);
    let out = |msgs: &[crm_domain::model::MessageView]| {
        msgs.iter()
            .find(|m| m.external_id == "wamid.OUT")
            .unwrap()
            .status
    };
    let msgs = s.messages(&convs[0].id, 10).await.unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(out(&msgs).map(MessageStatus::as_str), Some("delivered"));
    s.apply_action(&Action::Status(status("wamid.OUT", "sent")))
        .await
        .unwrap();
    assert_eq!(
        out(&s.messages(&convs[0].id, 10).await.unwrap()).map(MessageStatus::as_str),
        Some("delivered"),
        "never backwards"
    );
    s.apply_action(&Action::Status(status("wamid.OUT", "read")))
        .await
        .unwrap();
    s.apply_action(&Action::Status(status("wamid.OUT", "read")))
        .await
        .unwrap();
    assert_eq!(
        out(&s.messages(&convs[0].id, 10).await.unwrap()).map(MessageStatus::as_str),
        Some("read")
    );
    s.apply_action(&Action::Status(status("wamid.OUT", "failed")))
        .await
        .unwrap();
    s.apply_action(&Action::Status(status("wamid.OUT", "played")))
        .await
        .unwrap();
    assert_eq!(
        out(&s.messages(&convs[0].id, 10).await.unwrap()).map(MessageStatus::as_str),
        Some("failed"),
        "failed is terminal"
    );
}

/// The newest customer's id.
async fn first_customer_id(s: &Store) -> CustomerId {
    s.list_customers(
        &crm_domain::access::CustomerScope::Everything,
        &CustomerFilter {
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .items[0]
        .id
        .clone()
}

fn messenger(mid: &str, direction: &str, sent_at: i64) -> MessageInput {
    MessageInput {
        channel: Channel::Messenger,
        account_id: "104938271650432".into(),
        contact_key: "7281900001".into(),
        external_id: mid.into(),
        direction: Direction::parse(direction).unwrap(),
        kind: "text".into(),
        body: Some("hi".into()),
        payload: json!({}),
        sent_at,
        contact: ContactInput {
            channel_identity: Some((
                IdentityKind::Messenger {
                    page_id: "104938271650432".into(),
                },
                "7281900001".into(),
            )),
            ..Default::default()
        },
        referral_lead: None,
    }
}

async fn watermark_receipts_cover_earlier_outbound_messages(s: Store) {
    for (mid, dir, at) in [
        ("m_out1", "outbound", 1_000),
        ("m_in", "inbound", 1_500),
        ("m_out2", "outbound", 2_000),
        ("m_out3", "outbound", 3_000),
    ] {
        s.apply_action(&Action::Message(messenger(mid, dir, at)))
            .await
            .unwrap();
    }
    s.apply_action(&Action::Status(StatusInput {
        channel: Channel::Messenger,
        external_id: "m_out2".into(),
        status: "failed".into(),
        occurred_at: 2_100,
        error_code: Some(551),
        payload: json!({}),
    }))
    .await
    .unwrap();
    let receipt = |status: &str, up_to: i64| {
        Action::Receipt(ReceiptInput {
            channel: Channel::Messenger,
            account_id: "104938271650432".into(),
            contact_key: "7281900001".into(),
            status: MessageStatus::parse(status).unwrap(),
            up_to,
            occurred_at: up_to + 5,
        })
    };
    // Read up to 2.5 s: the first outbound message moves; the failed one
    // stays failed, the inbound one and the later one are not touched.
    let ev = s.apply_action(&receipt("read", 2_500)).await.unwrap();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].kind, EventKind::MessageStatus);
    assert!(
        s.apply_action(&receipt("read", 2_500))
            .await
            .unwrap()
            .is_empty()
    );
    // A later delivery receipt covers the third; it never moves the read one back.
    let ev = s.apply_action(&receipt("delivered", 9_999)).await.unwrap();
    assert_eq!(ev.len(), 1, "{ev:?}");
    let customer = first_customer_id(&s).await;
    let conv = &s.conversations(&customer).await.unwrap()[0];
    let mut states: Vec<(String, Option<String>)> = s
        .messages(&conv.id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.external_id, m.status.map(|s| s.as_str().to_string())))
        .collect();
    states.sort();
    assert_eq!(
        states,
        vec![
            ("m_in".to_string(), None),
            ("m_out1".to_string(), Some("read".to_string())),
            ("m_out2".to_string(), Some("failed".to_string())),
            ("m_out3".to_string(), Some("delivered".to_string())),
        ]
    );
    // The history keeps each receipt's status once per covered outbound
    // message, in the order they happened; the failed one only its failure,
    // the inbound one none.
    let history = |mid: &'static str| {
        let s = s.clone();
        async move { s.message_status_history("messenger", mid).await.unwrap() }
    };
    let at = |st: &str, t: i64| (st.to_string(), t);
    assert_eq!(
        history("m_out1").await,
        vec![at("read", 2_505), at("delivered", 10_004)]
    );
    assert_eq!(history("m_out2").await, vec![at("failed", 2_100)]);
    assert_eq!(history("m_out3").await, vec![at("delivered", 10_004)]);
    assert!(history("m_in").await.is_empty());
}

async fn card_moves_are_conditional(s: Store) {
    let stage = |n: u32| StageId::new(format!("st_default_{n}"));
    s.apply_lead(&lead("m1", phone("0532 555 44 33")))
        .await
        .unwrap();
    let id = first_customer_id(&s).await;
    let err = s
        .move_card(&id, &stage(3), Some(&stage(2)), "test")
        .await
        .unwrap_err();
    assert!(matches!(err, crm_store::StoreError::Conflict(_)));
    let ev = s
        .move_card(&id, &stage(3), Some(&stage(1)), "test")
        .await
        .unwrap();
    assert_eq!(ev[0].kind, EventKind::CardMoved);
    assert!(
        s.move_card(&id, &stage(3), None, "test")
            .await
            .unwrap()
            .is_empty(),
        "no-op move"
    );
    assert!(matches!(
        s.move_card(&CustomerId::new("nobody"), &stage(3), None, "t")
            .await
            .unwrap_err(),
        crm_store::StoreError::NotFound
    ));
    let p = s.pipelines().await.unwrap();
    assert_eq!(p[0].stages[2].count, 1);
    assert_eq!(p[0].stages[0].count, 0);
    // A returning lead keeps its stage.
    s.apply_lead(&lead("m2", phone("05325554433")))
        .await
        .unwrap();
    assert_eq!(
        s.customer(&id).await.unwrap().stage.unwrap().id,
        "st_default_3"
    );
}

async fn tokens_authenticate_hashed(s: Store) {
    let hash = crm_domain::auth::hash_password("a long passphrase").unwrap();
    let sales = crm_domain::ids::RoleId::new("sales");
    let agent = || crm_store::NewUser {
        email: "agent@example.com",
        name: None,
        password_hash: &hash,
        role: &sales,
        must_change_password: false,
    };
    let uid = s.create_user(agent()).await.unwrap();
    assert!(s.create_user(agent()).await.is_err());
    let (_, token) = s.create_token("svc", None, TokenScope::Full).await.unwrap();
    let p = s.authenticate_token(&token).await.unwrap().unwrap();
    assert!(p.actor.is_admin() && p.user().is_none());
    assert_eq!(p.scope, TokenScope::Full);
    let (user_token_id, user_token) = s
        .create_token("mine", Some(&uid), TokenScope::Full)
        .await
        .unwrap();
    let p = s.authenticate_token(&user_token).await.unwrap().unwrap();
    assert_eq!(p.user(), Some(&uid));
    assert_eq!(p.actor.role, sales);
    assert!(s.authenticate_token("crm_nope").await.unwrap().is_none());

    // A scoped service token carries its scope; a listing never shows a token.
    let (intake_id, intake) = s
        .create_token("form", None, TokenScope::Intake)
        .await
        .unwrap();
    let p = s.authenticate_token(&intake).await.unwrap().unwrap();
    assert_eq!(p.scope, TokenScope::Intake);
    let listed = s.list_tokens(None).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].id, intake_id);
    assert_eq!(listed[0].scope, TokenScope::Intake);
    let mine = listed.iter().find(|t| t.id == user_token_id).unwrap();
    assert_eq!(mine.user_email.as_deref(), Some("agent@example.com"));
    assert!(!format!("{listed:?}").contains(&user_token));
    assert_eq!(s.list_tokens(Some(&uid)).await.unwrap().len(), 1);

    // Revoked tokens stop at once; revoking twice is no error, an unknown id
    // is, and so is someone else's token for a user revoking their own.
    assert!(matches!(
        s.revoke_token(&intake_id, Some(&uid)).await,
        Err(crm_store::StoreError::NotFound)
    ));
    assert!(s.revoke_token(&intake_id, None).await.unwrap());
    assert!(!s.revoke_token(&intake_id, None).await.unwrap());
    assert!(s.authenticate_token(&intake).await.unwrap().is_none());
    assert!(matches!(
        s.revoke_token(&crm_domain::ids::TokenId::new("01NOPE"), None)
            .await,
        Err(crm_store::StoreError::NotFound)
    ));

    // A disabled user's tokens stop at once.
    assert!(s.disable_user("agent@example.com").await.unwrap());
    assert!(!s.disable_user("agent@example.com").await.unwrap());
    assert!(s.authenticate_token(&user_token).await.unwrap().is_none());
    assert!(s.authenticate_token(&token).await.unwrap().is_some());
    assert!(matches!(
        s.disable_user("nobody@example.com").await,
        Err(crm_store::StoreError::NotFound)
    ));
}

async fn leases_elect_one_holder(s: Store) {
    assert!(s.acquire_lease("sched", "a", 10_000).await.unwrap());
    assert!(!s.acquire_lease("sched", "b", 10_000).await.unwrap());
    assert!(
        s.acquire_lease("sched", "a", 10_000).await.unwrap(),
        "renewal"
    );
    s.release_lease("sched", "a").await.unwrap();
    assert!(s.acquire_lease("sched", "b", 10_000).await.unwrap());
    assert!(!s.acquire_lease("sched", "a", -1).await.unwrap());
}
