//! The job queue on apalis-sqlite and Redis, and the event bus in-process and
//! on RabbitMQ. Service-backed cases skip with a reason when the service is
//! absent, and fail instead under CRM_REQUIRE_SERVICES=1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::{BackendExt, Data, Monitor, WorkerBuilder, WorkerBuilderExt};
use crm_domain::ids::{CustomerId, EventId};
use crm_domain::model::{DomainEvent, EventKind};
use crm_runtime::bus::EventBus;
use crm_runtime::config::QueueKind;
use crm_runtime::queue::{EVENTS_PER_JOB, IngestJob, JobQueue, QueueBackend};
use scratch::service_up;
use serde_json::json;

// The black-box tests' temp folder guard, shared rather than copied.
#[path = "../../tests/common/scratch.rs"]
mod scratch;

type Seen = Arc<Mutex<Vec<EventId>>>;

async fn collect(job: IngestJob, seen: Data<Seen>) -> Result<(), apalis::prelude::BoxDynError> {
    seen.lock().unwrap().extend(job.event_ids);
    Ok(())
}

/// Pushes events for three jobs (a full one, a partial one, a lone event),
/// checks depth, consumes them with a real apalis worker.
async fn push_and_consume(queue: JobQueue) {
    queue.ping().await.unwrap();
    let ids: Vec<EventId> = (0..EVENTS_PER_JOB + 3)
        .map(|i| EventId::new(format!("ev-{i}-{}", crm_domain::util::new_id())))
        .collect();
    queue.push_ingest(&ids).await.unwrap();
    queue.push_ingest(&ids[..1]).await.unwrap();
    queue.push_ingest(&[]).await.unwrap();
    assert!(queue.depth().await.unwrap() >= 3);
    let seen: Seen = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let s = seen.clone();
    let monitor = match queue.backend().clone() {
        QueueBackend::Sqlite(st) => {
            let b = st.poll_with_interval(Duration::from_millis(20));
            Monitor::new().register(move |n| {
                WorkerBuilder::new(format!("t-sqlite-{n}-{}", crm_domain::util::new_id()))
                    .backend(b.clone())
                    .concurrency(4)
                    .data(s.clone())
                    .build(collect)
            })
        }
        QueueBackend::Redis(st) => {
            let b = st.poll_with_interval(Duration::from_millis(20));
            Monitor::new().register(move |n| {
                WorkerBuilder::new(format!("t-redis-{n}-{}", crm_domain::util::new_id()))
                    .backend(b.clone())
                    .concurrency(4)
                    .data(s.clone())
                    .build(collect)
            })
        }
    };
    let run = tokio::spawn(
        monitor
            .shutdown_timeout(Duration::from_secs(5))
            .run_with_signal(async move {
                let _ = stop_rx.await;
                Ok(())
            }),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = seen.lock().unwrap().clone();
        if ids.iter().all(|id| got.contains(id)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "jobs not consumed: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(());
    let _ = run.await;
    // Finished jobs are forgotten; nothing is waiting any more.
    queue.vacuum_done().await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 0);
}

#[tokio::test]
async fn sqlite_queue_pushes_and_delivers() {
    let dir = scratch::temp_dir("queue");
    let url = format!("sqlite://{}/crm.db", dir.display());
    let q = JobQueue::connect(&QueueKind::Sqlite(url.clone()))
        .await
        .unwrap();
    push_and_consume(q).await;
    // A second connect (another process start) reuses the same queue tables.
    let again = JobQueue::connect(&QueueKind::Sqlite(url)).await.unwrap();
    again.ping().await.unwrap();
}

#[tokio::test]
async fn redis_queue_pushes_and_delivers() {
    if !service_up("Redis", "127.0.0.1:6379") {
        return;
    }
    // Its own database index: other runs' workers must not take these jobs.
    let url = format!(
        "redis://127.0.0.1:6379/{}",
        1 + (std::process::id() + 7) % 14
    );
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut c).await.unwrap();
    let q = JobQueue::connect(&QueueKind::Redis(url)).await.unwrap();
    push_and_consume(q.clone()).await;
    // apalis keeps each job's data and its id in a done set until vacuumed.
    let QueueBackend::Redis(s) = q.backend() else {
        unreachable!()
    };
    let cfg = s.get_config();
    let data: i64 = redis::cmd("HLEN")
        .arg(cfg.job_data_hash())
        .query_async(&mut c)
        .await
        .unwrap();
    let done: i64 = redis::cmd("SCARD")
        .arg(cfg.done_jobs_set())
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!((data, done), (0, 0), "finished jobs left in Redis");
}

#[tokio::test]
async fn unreachable_queue_is_named_with_password_masked() {
    let e = JobQueue::connect(&QueueKind::Redis("redis://:pw123456@127.0.0.1:1".into()))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(!text.contains("pw123456"), "{text}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
}

fn event(kind: EventKind) -> DomainEvent {
    DomainEvent::new(kind, Some("cus_1"), json!({"n": 1}))
}

#[tokio::test]
async fn in_process_bus_delivers_to_every_subscriber() {
    let bus = EventBus::in_process();
    let mut a = bus.subscribe();
    let mut b = bus.subscribe();
    bus.publish(&[
        event(EventKind::CustomerCreated),
        event(EventKind::CardMoved),
    ])
    .await;
    assert_eq!(a.recv().await.unwrap().kind, EventKind::CustomerCreated);
    assert_eq!(a.recv().await.unwrap().kind, EventKind::CardMoved);
    assert_eq!(b.recv().await.unwrap().kind, EventKind::CustomerCreated);
    bus.ping().await.unwrap();
}

#[tokio::test]
async fn rabbitmq_bus_reaches_every_api_process() {
    if !service_up("RabbitMQ", "127.0.0.1:5672") {
        return;
    }
    let url = std::env::var("CRM_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let api1 = EventBus::connect(Some(&url), true).await.unwrap();
    let api2 = EventBus::connect(Some(&url), true).await.unwrap();
    let worker = EventBus::connect(Some(&url), false).await.unwrap();
    let mut s1 = api1.subscribe();
    let mut s2 = api2.subscribe();
    let marker = crm_domain::util::new_id();
    let mut ev = event(EventKind::LeadReceived);
    ev.data = json!({"marker": marker});
    worker.publish(std::slice::from_ref(&ev)).await;
    for s in [&mut s1, &mut s2] {
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let e = s.recv().await.unwrap();
                if e.data["marker"] == marker.as_str() {
                    return e;
                }
            }
        })
        .await
        .expect("event reached the api process");
        assert_eq!(got.kind, EventKind::LeadReceived);
        assert_eq!(got.customer_id, Some(CustomerId::new("cus_1")));
    }
    api1.ping().await.unwrap();
    worker.ping().await.unwrap();
    let e = EventBus::connect(Some("amqp://guest:secretpw@127.0.0.1:1/%2f"), true)
        .await
        .err()
        .unwrap();
    assert!(!e.to_string().contains("secretpw"));
}
