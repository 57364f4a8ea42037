//! Scale-out end to end: two api and two worker processes and a scheduler on
//! PostgreSQL + Redis + RabbitMQ. Skips when those services are absent (fails
//! instead under CRM_REQUIRE_SERVICES=1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::collections::HashMap;
use std::time::Duration;

use common::scratch::service_up;
use common::{Api, Crm, TempDir, flood, wa_body, wait_counts};
use futures::StreamExt;
use pg::PgDatabase;
use serde_json::{Value, json};

fn url(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// A fresh PostgreSQL database and Redis db index for this run, and the
/// database and data folder to remove when the test ends.
async fn fresh_env() -> Option<(HashMap<String, String>, PgDatabase, TempDir)> {
    let pg = url("CRM_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test");
    let redis = url("CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let amqp = url("CRM_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
    if !(service_up("PostgreSQL", "127.0.0.1:5432")
        & service_up("Redis", "127.0.0.1:6379")
        & service_up("RabbitMQ", "127.0.0.1:5672"))
    {
        return None;
    }
    let db = PgDatabase::create(&pg, "crm_scaleout")
        .await
        .expect("a database of this test's own");
    // A Redis database of its own, emptied: parallel runs must not share jobs.
    let index = 1 + (std::process::id() % 14);
    let redis_url = format!("{}/{index}", redis.trim_end_matches('/'));
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut rc = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut rc).await.unwrap();
    let dir = common::temp_dir("scaleout");
    let mut env = common::embedded_env(&dir);
    env.insert("CRM_DATABASE_URL".into(), db.url.clone());
    env.insert("CRM_QUEUE_URL".into(), redis_url);
    env.insert("CRM_BUS_URL".into(), amqp);
    Some((env, db, dir))
}

#[tokio::test]
async fn two_apis_two_workers_on_postgres_redis_rabbitmq() {
    let Some((env, _db, _dir)) = fresh_env().await else {
        return;
    };
    let db = env["CRM_DATABASE_URL"].clone();
    let (code, _, err) = Crm::cli(&env, &["migrate"], None);
    assert_eq!(code, 0, "{err}");
    let token = Crm::token(&env);
    let api1 = Crm::start("api", &env);
    let api2 = Crm::start("api", &env);
    let mut worker1 = Crm::start("worker", &env);
    let _worker2 = Crm::start("worker", &env);
    let _scheduler = Crm::start("scheduler", &env);
    let a1 = Api::new(&api1.base, &token);
    let a2 = Api::new(&api2.base, &token);

    // Ready: database, queue and bus all answer.
    let (code, ready) = a1.get("/readyz").await;
    assert_eq!(code, 200, "{ready}");

    // A stream on api2 sees what happens through api1.
    let ws_url = format!(
        "{}/api/v1/events?access_token={token}",
        api2.base.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let _open = ws.next().await;

    // Duplicate deliveries (5x the same body) across both apis: one effect.
    let body = wa_body(77, 1);
    for i in 0..5 {
        let api = if i % 2 == 0 { &a1 } else { &a2 };
        assert_eq!(api.webhook(&body).await.0, 200);
    }
    let v = a2
        .wait_for("/api/v1/customers", 30, |v| {
            v["items"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let id = v["items"][0]["id"].as_str().unwrap().to_string();

    let (code, r) = a1
        .post_json(
            &format!("/api/v1/customers/{id}/move"),
            &json!({"stage_id": "st_default_2"}),
        )
        .await;
    assert_eq!(code, 200, "{r}");
    let mut saw = false;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        let ev: Value = serde_json::from_str(msg.to_text().unwrap_or("{}")).unwrap_or(Value::Null);
        if ev["kind"] == "card.moved" && ev["customer_id"] == id.as_str() {
            saw = true;
            break;
        }
    }
    assert!(saw, "a move through api1 reached a client of api2");

    // A stream of distinct events split over both apis, a worker killed mid-stream.
    let bodies: Vec<Vec<u8>> = (0..400).map(|i| wa_body(78, i)).collect();
    let (first, second) = bodies.split_at(200);
    let (b1, b2) = (api1.base.clone(), api2.base.clone());
    let (f, s) = (first.to_vec(), second.to_vec());
    let h1 = tokio::spawn(async move { flood(&b1, f, 16).await });
    let h2 = tokio::spawn(async move { flood(&b2, s, 16).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    worker1.kill9();
    let acked = h1.await.unwrap().len() + h2.await.unwrap().len();
    assert_eq!(acked, 400, "both apis answered every request");
    let c = wait_counts(&db, 120, |c| c["pending"] == 0 && c["customers"] == 401).await;
    assert_eq!(c["messages"], 401, "{c:?}");
    assert_eq!(c["inbound_events"], 401, "{c:?}");
    assert_eq!(c["cards"], 401, "{c:?}");

    // kill -9 of an api process mid-flood: everything it answered 2xx is kept, once.
    let mut api3 = Crm::start("api", &env);
    let bodies: Vec<Vec<u8>> = (0..600).map(|i| wa_body(79, i)).collect();
    let (b3, sent) = (api3.base.clone(), bodies.clone());
    let h3 = tokio::spawn(async move { flood(&b3, sent, 16).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    api3.kill9();
    let acked = h3.await.unwrap();
    assert!(!acked.is_empty());
    let c = wait_counts(&db, 120, |c| {
        c["pending"] == 0
            && c["customers"] == c["inbound_events"]
            && c["customers"] >= 401 + acked.len() as i64
    })
    .await;
    assert_eq!(c["messages"], c["customers"], "{c:?}");
    let again: Vec<Vec<u8>> = acked.iter().map(|i| bodies[*i].clone()).collect();
    assert_eq!(flood(&api1.base, again, 8).await.len(), acked.len());
    let after = common::db_counts(&db).await;
    assert_eq!(
        after["inbound_events"], c["inbound_events"],
        "every acked event was already stored"
    );
}

#[tokio::test]
async fn bad_or_unreachable_urls_stop_startup_with_one_masked_line() {
    let dir = common::temp_dir("badurl");
    let mut env = common::embedded_env(&dir);
    env.insert(
        "CRM_DATABASE_URL".into(),
        "postgres://crm:topsecret@127.0.0.1:1/crm".into(),
    );
    env.insert("CRM_QUEUE_URL".into(), "redis://127.0.0.1:6379".into());
    let (code, _, err) = Crm::cli(&env, &["api"], None);
    assert_ne!(code, 0);
    assert!(err.contains("CRM_DATABASE_URL"), "{err}");
    assert!(!err.contains("topsecret"), "{err}");
    assert!(err.contains("***"), "{err}");
    let mut env = common::embedded_env(&dir);
    env.insert(
        "CRM_QUEUE_URL".into(),
        "redis://:hunter2@127.0.0.1:1".into(),
    );
    let (code, _, err) = Crm::cli(&env, &["worker"], None);
    assert_ne!(code, 0);
    assert!(err.contains("CRM_QUEUE_URL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let mut env = common::embedded_env(&dir);
    env.insert(
        "CRM_BUS_URL".into(),
        "amqp://guest:sekrit@127.0.0.1:1/%2f".into(),
    );
    let (code, _, err) = Crm::cli(&env, &["api"], None);
    assert_ne!(code, 0);
    assert!(err.contains("CRM_BUS_URL"), "{err}");
    assert!(!err.contains("sekrit"), "{err}");
    let mut env = common::embedded_env(&dir);
    env.insert("CRM_DATABASE_URL".into(), "mysql://u:p@h/db".into());
    let (code, _, err) = Crm::cli(&env, &["api"], None);
    assert_eq!(code, 2);
    assert!(err.contains("CRM_DATABASE_URL"), "{err}");
}
