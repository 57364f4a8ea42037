//! Staff access on real engines: roles seeded as data, the customer scope in
//! SQL agreeing with the domain's rule, sessions, throttling rows, reset
//! links, the setup code, assignment and offboarding, the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_domain::access::{Action, Actor, Module, customer_scope, may, seeded};
use crm_domain::audit::{AuditAction, AuditRecord};
use crm_domain::auth::TokenScope;
use crm_domain::ids::{CustomerId, RoleId, UserId};
use crm_domain::model::{ContactInput, LeadInput};
use crm_domain::people::Holding;
use crm_domain::phone::normalize_phone;
use crm_domain::session::SessionPolicy;
use crm_store::{AuditFilter, CustomerFilter, NewUser, Origin, Store, StoreError};
use serde_json::json;

mod common;

common::both_engines!(
    seeded_roles_are_data_and_admin_stays_whole,
    the_list_scope_in_sql_is_the_domain_rule,
    sessions_rotate_expire_and_end_everywhere,
    failed_sign_ins_and_reset_links,
    setup_works_once_with_its_code,
    offboarding_hands_everything_over_once,
    the_audit_log_filters_and_pages,
);

async fn user(s: &Store, email: &str, role: &str) -> UserId {
    let role = RoleId::new(role);
    s.create_user(NewUser {
        email,
        name: Some(email.split('@').next().unwrap()),
        password_hash: "not-a-real-hash",
        role: &role,
        must_change_password: false,
    })
    .await
    .unwrap()
}

async fn customer(s: &Store, n: u32) -> CustomerId {
    let lead = LeadInput {
        source: "web_form".into(),
        external_id: format!("ext-{n}"),
        event_id: None,
        received_at: 1000 + i64::from(n),
        contact: ContactInput {
            name: Some(format!("Müşteri {n}")),
            phone: normalize_phone(&format!("0532 000 {:02} {:02}", n / 100, n % 100), "TR"),
            ..Default::default()
        },
        message: None,
        attribution: Default::default(),
        consent: None,
        answers: json!({}),
    };
    let events = s.apply_lead(&lead).await.unwrap();
    events
        .iter()
        .find_map(|e| e.customer_id.clone())
        .expect("a lead names its customer")
}

async fn seeded_roles_are_data_and_admin_stays_whole(s: Store) {
    let roles = s.list_roles().await.unwrap();
    let ids: Vec<&str> = roles.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["admin", "manager", "sales", "operations"]);
    // An edit of a seeded role survives a restart's seeding; admin's cannot be made.
    let mut sales = roles[2].grants.clone();
    sales.unassigned_pool = true;
    s.put_role(Some(&RoleId::new("sales")), "Satış", &sales)
        .await
        .unwrap();
    s.migrate().await.unwrap();
    let again = s.role(&RoleId::new("sales")).await.unwrap();
    assert!(again.grants.unassigned_pool);
    assert_eq!(again.name, "Satış");
    assert!(matches!(
        s.put_role(Some(&RoleId::new("admin")), "Admin", &Default::default())
            .await,
        Err(StoreError::Invalid(_))
    ));
    let (made, created) = s.put_role(None, "Çağrı merkezi", &sales).await.unwrap();
    assert!(created && made.as_str().starts_with("role_"));
    // A user of an unknown role is refused as the caller's mistake.
    let ghost = RoleId::new("ghost");
    let r = s
        .create_user(NewUser {
            email: "g@example.com",
            name: None,
            password_hash: "x",
            role: &ghost,
            must_change_password: false,
        })
        .await;
    assert!(matches!(r, Err(StoreError::Invalid(_))));
}

async fn the_list_scope_in_sql_is_the_domain_rule(s: Store) {
    let ayse = user(&s, "ayse@example.com", seeded::SALES).await;
    let burak = user(&s, "burak@example.com", seeded::SALES).await;
    let ops = user(&s, "ops@example.com", seeded::OPERATIONS).await;
    s.put_team(None, "İzmir", Some(&ops), std::slice::from_ref(&burak))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(customer(&s, n).await);
    }
    let by = "user:admin";
    s.assign_customer(&ids[0], Holding::new(Some(ayse.clone()), []), by, "k0")
        .await
        .unwrap();
    s.assign_customer(
        &ids[1],
        Holding::new(Some(burak.clone()), [ayse.clone()]),
        by,
        "k1",
    )
    .await
    .unwrap();
    s.assign_customer(&ids[2], Holding::new(Some(burak.clone()), []), by, "k2")
        .await
        .unwrap();
    // ids[3..] stay unassigned.
    for who in [&ayse, &burak, &ops] {
        let actor = s.actor(who).await.unwrap().unwrap();
        let scope = customer_scope(&actor, Module::Customers, Action::View);
        let listed: Vec<CustomerId> = s
            .list_customers(
                &scope,
                &CustomerFilter {
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|c| c.id)
            .collect();
        for id in &ids {
            let h = s.holding(id).await.unwrap();
            assert_eq!(
                listed.contains(id),
                may(&actor, Module::Customers, Action::View, Some(h.holders())),
                "{who}: {id}"
            );
        }
        match who {
            w if *w == ayse => assert_eq!(listed.len(), 2),
            w if *w == burak => assert_eq!(listed.len(), 2),
            _ => assert_eq!(
                listed.len(),
                5,
                "ops' team holds two, and the pool has three"
            ),
        }
    }
    // Assigning writes the timeline once per request key.
    let again = s
        .assign_customer(&ids[0], Holding::new(Some(ayse.clone()), []), by, "k0")
        .await
        .unwrap();
    assert!(again.1.is_none(), "unchanged: no event");
    let t = s.timeline(&ids[1], 50).await.unwrap();
    assert_eq!(
        t.iter().filter(|e| e.kind == "customer.assigned").count(),
        1
    );
    assert!(matches!(
        s.assign_customer(
            &ids[0],
            Holding::new(Some(UserId::new("nobody")), []),
            by,
            "k9"
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
}

async fn sessions_rotate_expire_and_end_everywhere(s: Store) {
    let u = user(&s, "s@example.com", seeded::MANAGER).await;
    let origin = Origin {
        ip: Some("10.0.0.1".into()),
        user_agent: Some("test".into()),
    };
    let policy = SessionPolicy::default();
    let first = s.create_session(&u, None, &origin).await.unwrap();
    let info = s.session(&first.cookie, &policy).await.unwrap().unwrap();
    assert_eq!(info.user_id, u);
    assert_eq!(info.csrf, first.csrf);
    assert_eq!(info.actor.role, RoleId::new("manager"));
    // Rotation: the old cookie stops, the new one works.
    let second = s
        .create_session(&u, Some(&first.cookie), &origin)
        .await
        .unwrap();
    assert!(s.session(&first.cookie, &policy).await.unwrap().is_none());
    assert!(s.session(&second.cookie, &policy).await.unwrap().is_some());
    // An idle timeout of nothing ends it (and deletes the row).
    let tight = SessionPolicy {
        idle_ms: 1,
        absolute_ms: 1_000_000,
    };
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert!(s.session(&second.cookie, &tight).await.unwrap().is_none());
    assert!(s.session(&second.cookie, &policy).await.unwrap().is_none());
    let a = s.create_session(&u, None, &origin).await.unwrap();
    let b = s.create_session(&u, None, &origin).await.unwrap();
    assert_eq!(s.end_sessions_of(&u).await.unwrap(), 2);
    assert!(s.session(&a.cookie, &policy).await.unwrap().is_none());
    assert!(s.session(&b.cookie, &policy).await.unwrap().is_none());
    // Disabling ends sessions too, and a disabled user's cookie finds nothing.
    let c = s.create_session(&u, None, &origin).await.unwrap();
    assert!(s.set_user_active(&u, false).await.unwrap());
    assert!(s.session(&c.cookie, &policy).await.unwrap().is_none());
    assert!(s.actor(&u).await.unwrap().is_none());
}

async fn failed_sign_ins_and_reset_links(s: Store) {
    let keys = vec![
        "account:x@example.com".to_string(),
        "ip:10.0.0.9".to_string(),
    ];
    for _ in 0..3 {
        s.record_login_failure(&keys).await.unwrap();
    }
    assert_eq!(
        s.login_failures(&keys[0], 5, 60_000).await.unwrap().len(),
        3
    );
    assert_eq!(
        s.login_failures(&keys[0], 2, 60_000).await.unwrap().len(),
        2
    );
    s.clear_login_failures(&keys[0], 60_000).await.unwrap();
    assert!(
        s.login_failures(&keys[0], 5, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.login_failures(&keys[1], 5, 60_000).await.unwrap().len(),
        3
    );

    let u = user(&s, "r@example.com", seeded::SALES).await;
    let old = s.issue_password_reset(&u, 60_000).await.unwrap();
    let link = s.issue_password_reset(&u, 60_000).await.unwrap();
    assert!(
        s.password_reset_user(&old).await.unwrap().is_none(),
        "a newer link replaces it"
    );
    assert_eq!(s.password_reset_user(&link).await.unwrap(), Some(u.clone()));
    let sess = s
        .create_session(&u, None, &Origin::default())
        .await
        .unwrap();
    assert_eq!(
        s.use_password_reset(&link, "new-hash").await.unwrap(),
        Some(u.clone())
    );
    assert_eq!(
        s.use_password_reset(&link, "other").await.unwrap(),
        None,
        "once only"
    );
    assert_eq!(s.password_hash(&u).await.unwrap(), "new-hash");
    assert!(
        s.session(&sess.cookie, &SessionPolicy::default())
            .await
            .unwrap()
            .is_none()
    );
    let expired = s.issue_password_reset(&u, -1).await.unwrap();
    assert!(s.password_reset_user(&expired).await.unwrap().is_none());
}

async fn setup_works_once_with_its_code(s: Store) {
    let code = s.issue_setup_code().await.unwrap().unwrap();
    let admin = RoleId::new("admin");
    let new = |email| NewUser {
        email,
        name: Some("İlk Yönetici"),
        password_hash: "h",
        role: &admin,
        must_change_password: false,
    };
    assert!(matches!(
        s.complete_setup("wrong", new("a@example.com")).await,
        Err(StoreError::Invalid(_))
    ));
    let id = s.complete_setup(&code, new("a@example.com")).await.unwrap();
    assert_eq!(s.user(&id).await.unwrap().role_id, admin);
    assert!(matches!(
        s.complete_setup(&code, new("b@example.com")).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(s.issue_setup_code().await.unwrap().is_none());
}

async fn offboarding_hands_everything_over_once(s: Store) {
    let leaver = user(&s, "leaver@example.com", seeded::SALES).await;
    let colleague = user(&s, "colleague@example.com", seeded::SALES).await;
    let other = user(&s, "other@example.com", seeded::SALES).await;
    s.put_team(None, "Ankara", Some(&leaver), std::slice::from_ref(&other))
        .await
        .unwrap();
    let owned = customer(&s, 10).await;
    let assigned = customer(&s, 11).await;
    let untouched = customer(&s, 12).await;
    s.assign_customer(
        &owned,
        Holding::new(Some(leaver.clone()), []),
        "user:a",
        "1",
    )
    .await
    .unwrap();
    s.assign_customer(
        &assigned,
        Holding::new(Some(other.clone()), [leaver.clone()]),
        "user:a",
        "2",
    )
    .await
    .unwrap();
    s.assign_customer(
        &untouched,
        Holding::new(Some(other.clone()), []),
        "user:a",
        "3",
    )
    .await
    .unwrap();
    s.create_session(&leaver, None, &Origin::default())
        .await
        .unwrap();
    s.create_token("t", Some(&leaver), TokenScope::Full)
        .await
        .unwrap();

    let (summary, events) = s
        .offboard(&leaver, &colleague, "user:admin", "Admin")
        .await
        .unwrap();
    assert_eq!(summary.customers, 2);
    assert_eq!(summary.sessions_ended, 1);
    assert_eq!(summary.tokens_revoked, 1);
    assert_eq!(summary.teams_led, 1);
    assert!(!summary.was_disabled);
    assert_eq!(events.len(), 2);
    assert_eq!(
        s.holding(&owned).await.unwrap(),
        Holding::new(Some(colleague.clone()), [])
    );
    assert_eq!(
        s.holding(&assigned).await.unwrap(),
        Holding::new(Some(other.clone()), [colleague.clone()])
    );
    assert_eq!(
        s.holding(&untouched).await.unwrap(),
        Holding::new(Some(other.clone()), [])
    );
    let entry = s
        .timeline(&owned, 50)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "customer.handed_over")
        .unwrap();
    assert_eq!(
        entry.summary.as_deref(),
        Some("Handed over from leaver to colleague by Admin")
    );
    assert!(!s.user(&leaver).await.unwrap().active);
    assert_eq!(
        s.list_teams().await.unwrap()[0].lead_user_id,
        Some(colleague.clone())
    );

    // Twice changes nothing twice.
    let (again, events) = s
        .offboard(&leaver, &colleague, "user:admin", "Admin")
        .await
        .unwrap();
    assert_eq!(
        (again.customers, again.sessions_ended, again.tokens_revoked),
        (0, 0, 0)
    );
    assert!(again.was_disabled && events.is_empty());
    let entries = s.timeline(&owned, 50).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.kind == "customer.handed_over")
            .count(),
        1
    );
    assert!(matches!(
        s.offboard(&leaver, &leaver, "x", "x").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(
        matches!(
            s.offboard(&colleague, &leaver, "x", "x").await,
            Err(StoreError::Invalid(_))
        ),
        "to a disabled user"
    );
    let _ = Actor::service();
}

async fn the_audit_log_filters_and_pages(s: Store) {
    for i in 0..5 {
        let action = if i % 2 == 0 {
            AuditAction::SignIn
        } else {
            AuditAction::SignInFailed
        };
        s.audit(&AuditRecord::new(action, format!("user:u{i}")).ip(Some("10.1.1.1".into())))
            .await
            .unwrap();
    }
    let all = s
        .audit_entries(&AuditFilter {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
    let next = s
        .audit_entries(&AuditFilter {
            limit: 10,
            cursor: all.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(next.items.len(), 3);
    let failed = s
        .audit_entries(&AuditFilter {
            action: Some(AuditAction::SignInFailed),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.items.len(), 2);
    let one = s
        .audit_entries(&AuditFilter {
            who: Some("user:u4".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    assert!(matches!(
        s.audit_entries(&AuditFilter {
            cursor: Some("nope".into()),
            limit: 10,
            ..Default::default()
        })
        .await,
        Err(StoreError::Invalid(_))
    ));
}
