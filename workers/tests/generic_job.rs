//! A job defined outside the crate runs through the same registration path
//! as the built-in ones: one type, one `register` line, one push helper.
//! Runs on the SQLite queue file always, on Redis when it is reachable (and
//! fails instead of skipping under CRM_REQUIRE_SERVICES=1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm_domain::ids::EventId;
use crm_runtime::Config;
use crm_runtime::bus::EventBus;
use crm_runtime::config::QueueKind;
use crm_runtime::metrics::Metrics;
use crm_runtime::metrics::Scrape;
use crm_runtime::queue::JobQueue;
use crm_store::Store;
use crm_workers::{EventApplier, Job, JobError, RunError, WorkerCtx, Workers, push};
use scratch::{service_up, temp_dir};
use serde::{Deserialize, Serialize};

// The black-box tests' temp folder guard, shared rather than copied.
#[path = "../../tests/common/scratch.rs"]
mod scratch;

/// Runs per tag, across every test of this file (tags are unique per test).
static RUNS: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

#[derive(Debug, Serialize, Deserialize)]
struct Tag {
    id: String,
}

struct Counted;

impl Job for Counted {
    const NAME: &'static str = "test-counted";
    const QUEUE: &'static str = "crm.test.counted";
    type Payload = Tag;

    async fn run(ctx: &WorkerCtx, tag: Tag) -> Result<(), JobError> {
        // Reaches the shared context like any job does.
        ctx.metrics.inc("crm_test_counted_total", "ran");
        *RUNS.lock().unwrap().entry(tag.id).or_default() += 1;
        Ok(())
    }
}

/// A second job on the same queue as `Counted`.
struct Impostor;

impl Job for Impostor {
    const NAME: &'static str = "test-impostor";
    const QUEUE: &'static str = Counted::QUEUE;
    type Payload = Tag;

    async fn run(_: &WorkerCtx, _: Tag) -> Result<(), JobError> {
        Ok(())
    }
}

async fn ctx(dir: &std::path::Path) -> Arc<WorkerCtx> {
    let db = format!("sqlite://{}/crm.db", dir.display());
    let config = Config::from_lookup(|k| (k == "CRM_DATABASE_URL").then(|| db.clone())).unwrap();
    let store = Store::connect(&config.database_url).await.unwrap();
    store.migrate().await.unwrap();
    Arc::new(WorkerCtx {
        applier: EventApplier::spawn(store.clone()),
        store,
        bus: EventBus::in_process(),
        graph: None,
        config: Arc::new(config),
        metrics: Arc::new(Metrics::default()),
    })
}

fn tags(n: usize) -> Vec<Tag> {
    (0..n)
        .map(|i| Tag {
            id: format!("tag-{i}-{}", crm_domain::util::new_id()),
        })
        .collect()
}

/// Pushes 40 tags in two pushes while `workers` run, then checks that each
/// ran exactly once, also after waiting a while longer for strays.
async fn runs_once_per_push(ctx: Arc<WorkerCtx>, queue: JobQueue, workers: Workers) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(workers.run(async move {
        let _ = stop_rx.await;
    }));
    let (first, second) = (tags(25), tags(15));
    let ids: Vec<String> = first.iter().chain(&second).map(|t| t.id.clone()).collect();
    push::<Counted>(&queue, first).await.unwrap();
    push::<Counted>(&queue, Vec::new()).await.unwrap();
    push::<Counted>(&queue, second).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !ids.iter().all(|id| RUNS.lock().unwrap().contains_key(id)) {
        assert!(std::time::Instant::now() < deadline, "jobs not all run");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Long enough for a re-delivery (a missing ack) to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let runs = RUNS.lock().unwrap().clone();
    for id in &ids {
        assert_eq!(runs.get(id), Some(&1), "{id} ran {:?} times", runs.get(id));
    }
    assert!(
        ctx.metrics
            .render(&Scrape::default())
            .unwrap()
            .contains("crm_test_counted_total{outcome=\"ran\"}")
    );
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(40), run)
        .await
        .expect("workers stop after the signal")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn test_job_runs_once_per_push_on_sqlite_beside_ingest() {
    let dir = temp_dir("generic-job");
    let ctx = ctx(&dir).await;
    let queue = JobQueue::connect(&QueueKind::Sqlite(format!(
        "sqlite://{}/crm-jobs.db",
        dir.display()
    )))
    .await
    .unwrap();
    // The built-in jobs and the test job in one process, as a new job would be.
    let workers = crm_workers::jobs::register(Workers::new(ctx.clone(), queue.clone(), 4))
        .register::<Counted>();
    // The ingest worker keeps doing its work beside it: unknown ids are skipped.
    queue
        .push_ingest(&[EventId::new("no-such-event")])
        .await
        .unwrap();
    runs_once_per_push(ctx.clone(), queue, workers).await;
    assert!(
        ctx.metrics
            .render(&Scrape::default())
            .unwrap()
            .contains("crm_jobs_total{outcome=\"skipped\"} 1")
    );
}

#[tokio::test]
async fn test_job_runs_once_per_push_on_redis() {
    let redis = std::env::var("CRM_TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into());
    if !service_up("Redis", "127.0.0.1:6379") {
        return;
    }
    // A database index no other test flushes (they use 1–14), and no ingest
    // worker here: the black-box tests' ingest jobs are not ours to take.
    let url = format!("{}/15", redis.trim_end_matches('/'));
    let dir = temp_dir("generic-job-redis");
    let ctx = ctx(&dir).await;
    let queue = JobQueue::connect(&QueueKind::Redis(url)).await.unwrap();
    let workers = Workers::new(ctx.clone(), queue.clone(), 4).register::<Counted>();
    runs_once_per_push(ctx, queue, workers).await;
}

#[tokio::test]
async fn two_jobs_on_one_queue_are_refused() {
    let dir = temp_dir("generic-job-shared");
    let ctx = ctx(&dir).await;
    let queue = JobQueue::connect(&QueueKind::Sqlite(format!(
        "sqlite://{}/crm-jobs.db",
        dir.display()
    )))
    .await
    .unwrap();
    let err = Workers::new(ctx, queue, 1)
        .register::<Counted>()
        .register::<Impostor>()
        .run(std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RunError::SharedQueue {
                queue: "crm.test.counted",
                first: "test-counted",
                second: "test-impostor",
            }
        ),
        "{err:?}"
    );
}
