//! The RabbitMQ event bus across a broker restart, on a RabbitMQ node of this
//! test's own (spare ports, temp folder; the machine's broker stays up).
//! Skips when RabbitMQ is not installed (fails under CRM_REQUIRE_SERVICES=1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The black-box tests' engine and folder guards, shared rather than copied.
#[path = "../../tests/common/engines.rs"]
mod engines;
#[path = "../../tests/common/scratch.rs"]
mod scratch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_domain::model::{DomainEvent, EventKind};
use crm_runtime::bus::{EventBus, GAP_KIND};
use serde_json::json;
use tokio::sync::broadcast;

fn event(tag: &str, n: u64) -> DomainEvent {
    DomainEvent::new(
        EventKind::CustomerCreated,
        Some("cus_1"),
        json!({"tag": tag, "n": n}),
    )
}

async fn wait_until(within: Duration, what: &str, mut ok: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !ok().await {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

async fn recv(rx: &mut broadcast::Receiver<DomainEvent>) -> DomainEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .unwrap()
}

/// The next event tagged `tag`, skipping others.
async fn recv_tagged(rx: &mut broadcast::Receiver<DomainEvent>, tag: &str) -> DomainEvent {
    loop {
        let ev = recv(rx).await;
        if ev.data["tag"] == tag {
            return ev;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_reconnects_flushes_its_buffer_in_order_and_reports_the_gap() {
    let Some(rabbit) = tokio::task::spawn_blocking(engines::Rabbit::start)
        .await
        .unwrap()
    else {
        return;
    };
    let rabbit = Arc::new(rabbit);
    let url = rabbit.url();
    let api = EventBus::connect(Some(&url), true).await.unwrap();
    let worker = EventBus::connect(Some(&url), false).await.unwrap();
    let mut rx = api.subscribe();
    worker.publish(&[event("before", 0)]).await;
    assert_eq!(recv_tagged(&mut rx, "before").await.data["n"], 0);

    let r = rabbit.clone();
    tokio::task::spawn_blocking(move || r.stop_app())
        .await
        .unwrap();
    // Honest readiness: both notice the broker is gone.
    wait_until(Duration::from_secs(3), "not ready while down", async || {
        api.ping().await.is_err() && worker.ping().await.is_err()
    })
    .await;
    let e = api.ping().await.unwrap_err();
    assert!(e.to_string().contains("disconnected"), "{e}");

    // Publishing while the broker is away returns at once and buffers.
    let t = Instant::now();
    for n in 0..100 {
        api.publish(&[event("own", n)]).await;
        worker.publish(&[event("other", n)]).await;
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!((api.buffered(), worker.buffered()), (100, 100));

    let r = rabbit.clone();
    tokio::task::spawn_blocking(move || r.start_app())
        .await
        .unwrap();
    // Backoff is capped at 5 s: both are back soon after the port is.
    let back = wait_until(Duration::from_secs(10), "ready again", async || {
        api.ping().await.is_ok() && worker.ping().await.is_ok()
    })
    .await;
    eprintln!("ready {back:.1?} after the broker's port opened");

    // First the gap, then this process's own buffered events, in order.
    let gap = recv(&mut rx).await;
    assert_eq!(gap.kind, GAP_KIND);
    assert_eq!(gap.customer_id, None);
    assert_eq!(gap.data, json!({"reason": "bus_reconnected"}));
    for n in 0..100 {
        let ev = recv_tagged(&mut rx, "own").await;
        assert_eq!(ev.data["n"], n, "buffered events flushed in order");
    }
    // Live again from another process.
    worker.publish(&[event("after", 1)]).await;
    assert_eq!(recv_tagged(&mut rx, "after").await.data["n"], 1);
    wait_until(Duration::from_secs(5), "buffers flushed", async || {
        api.buffered() == 0 && worker.buffered() == 0
    })
    .await;
    assert_eq!((api.dropped_events(), worker.dropped_events()), (0, 0));
}
