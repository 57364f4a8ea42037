//! `?q=` customer search on real engines: words of names (Turkish letters
//! folded), e-mails and phone numbers in any spelling find their customers
//! through the token index; customers from before the index get tokens from
//! `index_all_customers`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_domain::model::{ContactInput, LeadInput};
use crm_domain::phone::normalize_phone;
use crm_store::{CustomerFilter, Store};
use serde_json::json;
use sqlx::AnyPool;

mod common;

fn lead(ext: &str, name: &str, phone: &str, email: Option<&str>) -> LeadInput {
    LeadInput {
        source: "web_form".into(),
        external_id: ext.into(),
        event_id: None,
        received_at: 1000,
        contact: ContactInput {
            name: Some(name.into()),
            phone: normalize_phone(phone, "TR"),
            email: email.map(str::to_string),
            ..ContactInput::default()
        },
        message: None,
        attribution: Default::default(),
        consent: None,
        answers: json!({}),
    }
}

async fn names(s: &Store, q: &str) -> Vec<String> {
    let page = s
        .list_customers(
            &crm_domain::access::CustomerScope::Everything,
            &CustomerFilter {
                q: Some(q.into()),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut n: Vec<String> = page.items.into_iter().filter_map(|c| c.name).collect();
    n.sort();
    n
}

async fn search_finds_customers_by_prefix(db: common::TestStore) {
    let (s, url) = (db.store.clone(), db.url.clone());
    s.apply_lead(&lead(
        "1",
        "Ayşe Yılmaz",
        "0532 111 22 33",
        Some("ayse@example.com"),
    ))
    .await
    .unwrap();
    s.apply_lead(&lead("2", "Ahmet Işık", "0533 444 55 66", None))
        .await
        .unwrap();
    s.apply_lead(&lead(
        "3",
        "Ayla Öztürk",
        "0544 777 88 99",
        Some("ayla@ornek.com.tr"),
    ))
    .await
    .unwrap();
    let check = |q: &'static str, want: &'static [&'static str]| (q, want);
    let cases = [
        check("ayse", &["Ayşe Yılmaz"]),
        check("AYŞE", &["Ayşe Yılmaz"]),
        check("ay", &["Ayla Öztürk", "Ayşe Yılmaz"]),
        check("ay yil", &["Ayşe Yılmaz"]),
        check("isik", &["Ahmet Işık"]),
        check("ozturk", &["Ayla Öztürk"]),
        check("ornek.com", &["Ayla Öztürk"]),
        check("ayse@example.com", &["Ayşe Yılmaz"]),
        check("0533 444 55 66", &["Ahmet Işık"]),
        check("+90 (544) 777-88-99", &["Ayla Öztürk"]),
        check("2233", &["Ayşe Yılmaz"]),
        check("90533", &["Ahmet Işık"]),
        check("mehmet", &[]),
        check("ayse isik", &[]),
        check("%", &[]),
    ];
    for (q, want) in cases {
        assert_eq!(names(&s, q).await, want, "q={q:?}");
    }
    // Customers from before the index: tokens dropped, then rebuilt.
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM customer_search")
        .execute(&pool)
        .await
        .unwrap();
    assert!(names(&s, "ayse").await.is_empty());
    assert_eq!(s.index_all_customers().await.unwrap(), 3);
    assert_eq!(names(&s, "ayse").await, ["Ayşe Yılmaz"]);
    assert_eq!(names(&s, "2233").await, ["Ayşe Yılmaz"]);
    // Filling a returning customer's e-mail makes it searchable.
    s.apply_lead(&lead(
        "4",
        "Ahmet",
        "0533 444 55 66",
        Some("ahmet@firma.com"),
    ))
    .await
    .unwrap();
    assert_eq!(names(&s, "firma").await, ["Ahmet Işık"]);
}

#[tokio::test]
async fn search_on_sqlite() {
    search_finds_customers_by_prefix(common::sqlite().await).await;
}

#[tokio::test]
async fn search_on_postgres() {
    if let Some(db) = common::postgres().await {
        search_finds_customers_by_prefix(db).await;
    }
}
