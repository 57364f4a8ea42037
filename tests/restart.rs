//! Every scale-out role survives a restart of each engine it uses, without
//! being restarted itself: `crm api`, `crm worker` and `crm scheduler` run on
//! this test's own PostgreSQL, Redis and RabbitMQ (spare ports, temp
//! folders), which are restarted one after the other under a light webhook
//! load. Nothing answered 2xx is lost, `/readyz` comes back, and live events
//! reach a WebSocket again after the bus returns (a `stream.gap` first).
//! Skips when an engine is not installed (fails under CRM_REQUIRE_SERVICES=1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
// engines.rs finds `scratch` beside it: here, the harness's own.
use common::scratch;
#[path = "common/engines.rs"]
mod engines;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Crm, wa_body};
use engines::Engines;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// How long each engine stays down: long enough that clients notice and
/// retry, short enough for the test's time budget. CRM_TEST_ENGINE_DOWN_MS
/// stretches it for a longer soak by hand.
fn down() -> Duration {
    std::env::var("CRM_TEST_ENGINE_DOWN_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(2), Duration::from_millis)
}
/// Webhooks per phase, one every `PACE` (~40/s: light load across the outage).
const PER_PHASE: u64 = 200;
const PACE: Duration = Duration::from_millis(25);
const READY_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
enum Engine {
    Postgres,
    Redis,
    RabbitMq,
}

/// The `wa_id` (and phone) of `wa_body(run, i)`.
fn wa_id(run: u64, i: u64) -> String {
    format!("90535{:07}", (run * 7919 + i) % 10_000_000)
}

/// A WhatsApp message from a person of its own, named `name`.
fn probe_body(n: u64, name: &str) -> Vec<u8> {
    let phone = format!("90536{n:07}");
    json!({"object": "whatsapp_business_account", "entry": [{"id": "730194857362910", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "908501112233", "phone_number_id": "418273645501234"},
        "contacts": [{"profile": {"name": name}, "wa_id": phone}],
        "messages": [{"from": phone, "id": format!("wamid.PROBE{n}"), "timestamp": "1767225600", "type": "text", "text": {"body": "probe"}}]}}]}]})
    .to_string()
    .into_bytes()
}

/// Sends one webhook every `PACE` whatever the answers take; returns the
/// indexes answered 2xx.
async fn paced(base: String, bodies: Vec<Vec<u8>>) -> Vec<u64> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let url = format!("{base}/webhooks/meta");
    let mut tick = tokio::time::interval(PACE);
    let mut sent = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        tick.tick().await;
        let (http, url) = (http.clone(), url.clone());
        sent.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", common::sign(&body))
                .body(body)
                .send()
                .await;
            (i as u64, r.is_ok_and(|r| r.status().is_success()))
        }));
    }
    let mut ok = Vec::new();
    for s in sent {
        let (i, acked) = s.await.unwrap();
        if acked {
            ok.push(i);
        }
    }
    ok
}

/// Polls `/readyz` until it answers 200; how long that took.
async fn wait_ready(base: &str, within: Duration) -> Duration {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < within {
        match http.get(format!("{base}/readyz")).send().await {
            Ok(r) if r.status() == 200 => return started.elapsed(),
            Ok(r) => last = format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("/readyz not 200 within {within:?}: last {last}");
}

/// Polls `/readyz` until `stop` is set; whether it ever said not ready (an
/// answer other than 200, or none within a second).
async fn saw_unready(base: String, stop: Arc<AtomicBool>) -> bool {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut unready = false;
    while !stop.load(Ordering::Relaxed) {
        let r = http.get(format!("{base}/readyz")).send().await;
        unready |= !r.is_ok_and(|r| r.status() == 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unready
}

/// Takes events off the stream until one matches, or panics after `within`.
async fn next_matching(
    events: &mut mpsc::UnboundedReceiver<Value>,
    within: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    let mut skipped = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(ev)) if pred(&ev) => return skipped,
            Ok(Some(ev)) => skipped.push(ev),
            Ok(None) => panic!("event stream closed while waiting for {what}"),
            Err(_) => panic!(
                "no {what} within {within:?}; saw {} other events, last {:?}",
                skipped.len(),
                skipped.last()
            ),
        }
    }
}

/// Posts a webhook for a new person and waits for its `customer.created` on
/// the stream: the whole live path (api → queue → worker → bus → api → ws).
/// Returns the events seen before it.
async fn probe(
    api: &common::Api,
    events: &mut mpsc::UnboundedReceiver<Value>,
    n: u64,
) -> Vec<Value> {
    let name = format!("Probe {n} {}", crm_domain::util::new_id());
    let (code, body) = api.webhook(&probe_body(n, &name)).await;
    assert_eq!(code, 200, "{body}");
    next_matching(events, Duration::from_secs(30), "probe event", |ev| {
        ev["kind"] == "customer.created" && ev["data"]["name"] == name.as_str()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_role_survives_each_engine_restart() {
    let started = Instant::now();
    let Some(engines) = tokio::task::spawn_blocking(Engines::start).await.unwrap() else {
        return;
    };
    let engines = Arc::new(engines);
    eprintln!("engines up in {:.1?}", started.elapsed());
    let dir = common::temp_dir("restart");
    let mut env = common::embedded_env(&dir);
    let db = engines.pg.url();
    env.insert("CRM_DATABASE_URL".into(), db.clone());
    env.insert("CRM_QUEUE_URL".into(), engines.redis.url());
    env.insert("CRM_BUS_URL".into(), engines.rabbit.url());
    let (code, _, err) = Crm::cli(&env, &["migrate"], None);
    assert_eq!(code, 0, "{err}");
    let token = Crm::token(&env);
    let mut roles = [
        Crm::start("api", &env),
        Crm::start("worker", &env),
        Crm::start("scheduler", &env),
    ];
    let base = roles[0].base.clone();
    let api = common::Api::new(&base, &token);
    wait_ready(&base, READY_WITHIN).await;

    let ws_url = format!(
        "{}/api/v1/events?access_token={token}",
        base.replace("http://", "ws://")
    );
    let (ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut ws = ws;
        while let Some(Ok(msg)) = ws.next().await {
            if let Ok(text) = msg.to_text()
                && let Ok(v) = serde_json::from_str::<Value>(text)
                && tx.send(v).is_err()
            {
                break;
            }
        }
    });
    next_matching(&mut events, Duration::from_secs(10), "stream.open", |ev| {
        ev["kind"] == "stream.open"
    })
    .await;
    probe(&api, &mut events, 0).await;
    eprintln!("roles up, live events flow, at {:.1?}", started.elapsed());

    let mut acked: Vec<String> = Vec::new();
    let phases = [Engine::Postgres, Engine::Redis, Engine::RabbitMq];
    for (n, engine) in phases.into_iter().enumerate() {
        let run = 500 + n as u64;
        let bodies: Vec<Vec<u8>> = (0..PER_PHASE).map(|i| wa_body(run, i)).collect();
        let load = tokio::spawn(paced(base.clone(), bodies));
        let stop = Arc::new(AtomicBool::new(false));
        let watch = tokio::spawn(saw_unready(base.clone(), stop.clone()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let e = engines.clone();
        let t = Instant::now();
        tokio::task::spawn_blocking(move || match engine {
            Engine::Postgres => e.pg.restart(down()),
            Engine::Redis => e.redis.restart(down()),
            Engine::RabbitMq => e.rabbit.restart(down()),
        })
        .await
        .unwrap();
        let restarted = t.elapsed();
        let ready = wait_ready(&base, READY_WITHIN).await;
        stop.store(true, Ordering::Relaxed);
        assert!(
            watch.await.unwrap(),
            "/readyz said ready all through the {engine:?} outage"
        );
        let ok = load.await.unwrap();
        eprintln!(
            "{engine:?}: restarted in {restarted:.1?}, /readyz 200 {ready:.1?} later, {}/{PER_PHASE} webhooks answered 2xx",
            ok.len()
        );
        acked.extend(ok.iter().map(|i| wa_id(run, *i)));
        match engine {
            Engine::RabbitMq => {
                // This api's consumer lost what others published meanwhile:
                // it says so once, then live events flow again.
                next_matching(&mut events, READY_WITHIN, "stream.gap", |ev| {
                    ev["kind"] == "stream.gap" && ev["data"]["reason"] == "bus_reconnected"
                })
                .await;
                probe(&api, &mut events, 1 + n as u64).await;
            }
            _ => {
                let seen = probe(&api, &mut events, 1 + n as u64).await;
                let gaps = seen.iter().filter(|ev| ev["kind"] == "stream.gap").count();
                assert_eq!(gaps, 0, "a gap without a bus restart ({engine:?})");
            }
        }
    }
    assert!(!acked.is_empty());

    // Every 2xx is one customer, eventually (the sweeper re-pushes what a
    // lost Redis dropped; workers retry what a lost database failed).
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (customers, people): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT wa_id) FROM customers WHERE wa_id = ANY($1)",
        )
        .bind(&acked)
        .fetch_one(&pool)
        .await
        .unwrap();
        if customers == acked.len() as i64 {
            assert_eq!(people, customers, "one customer per person");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{customers} customers for {} acked webhooks; {:?}",
            acked.len(),
            common::db_counts(&db).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    pool.close().await;
    for (role, name) in roles.iter_mut().zip(["api", "worker", "scheduler"]) {
        let exited = role.exited();
        assert!(exited.is_none(), "crm {name} exited: {exited:?}");
    }
    reader.abort();
    eprintln!(
        "{} acked webhooks, all stored; test took {:.1?}",
        acked.len(),
        started.elapsed()
    );
}
