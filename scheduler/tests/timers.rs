//! The timer table and its run loop: rows from configuration, interval and
//! cron timers firing, and the lease letting one replica fire each tick.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crm_runtime::Config;
use crm_runtime::config::QueueKind;
use crm_runtime::queue::JobQueue;
use crm_scheduler::{Schedule, Scheduler, SchedulerError, Timer};
use crm_store::Store;
use futures::future::BoxFuture;
use scratch::temp_dir;

// The black-box tests' temp folder guard, shared rather than copied.
#[path = "../../tests/common/scratch.rs"]
mod scratch;

fn config(extra: &[(&str, &str)], dir: &std::path::Path) -> Config {
    let db = format!("sqlite://{}/crm.db", dir.display());
    Config::from_lookup(|k| {
        if k == "CRM_DATABASE_URL" {
            return Some(db.clone());
        }
        extra
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

#[test]
fn the_table_follows_configuration() {
    let dir = temp_dir("timers-table");
    let names = |c: &Config| -> Vec<(&'static str, bool)> {
        Scheduler::timers(c)
            .unwrap()
            .iter()
            .map(|t| (t.name, t.enabled))
            .collect()
    };
    assert_eq!(
        names(&config(&[], &dir)),
        [("sweeper", true), ("lead-backfill", false)]
    );
    let with_forms = config(&[("CRM_META_LEAD_FORMS", "f1,f2")], &dir);
    assert_eq!(
        names(&with_forms),
        [("sweeper", true), ("lead-backfill", true)]
    );
    let timers = Scheduler::timers(&with_forms).unwrap();
    assert!(matches!(timers[0].schedule, Schedule::Every(d) if d == Duration::from_secs(2)));
    assert!(matches!(timers[1].schedule, Schedule::Cron(_)));
    // A bad cron line fails at start even with no forms to read.
    let bad = config(&[("CRM_BACKFILL_CRON", "*/5 * * * *")], &dir);
    assert!(matches!(
        Scheduler::timers(&bad),
        Err(SchedulerError::Cron { .. })
    ));
}

/// (timer, replica) per fired tick, and when.
static FIRED: Mutex<Vec<(&'static str, String, Instant)>> = Mutex::new(Vec::new());

fn table() -> Vec<Timer> {
    vec![
        Timer {
            name: "every",
            schedule: Schedule::Every(Duration::from_millis(100)),
            enabled: true,
            job: |s, _| {
                Box::pin(async move {
                    FIRED
                        .lock()
                        .unwrap()
                        .push(("every", s.holder.clone(), Instant::now()));
                    Ok(1)
                })
            },
        },
        Timer {
            name: "cron",
            schedule: Schedule::cron("* * * * * *").unwrap(),
            enabled: true,
            job: |s, tick| {
                Box::pin(async move {
                    assert!(tick > 1_700_000_000, "tick is a unix time");
                    FIRED
                        .lock()
                        .unwrap()
                        .push(("cron", s.holder.clone(), Instant::now()));
                    Ok(0)
                })
            },
        },
        Timer {
            name: "disabled",
            schedule: Schedule::Every(Duration::from_millis(10)),
            enabled: false,
            job: never,
        },
    ]
}

fn never(_: &Scheduler, _: u64) -> BoxFuture<'_, Result<usize, SchedulerError>> {
    panic!("a disabled timer fired")
}

#[tokio::test]
async fn one_replica_fires_each_tick_and_another_takes_over() {
    let dir = temp_dir("timers-lease");
    let config = Arc::new(config(&[], &dir));
    let store = Store::connect(&config.database_url).await.unwrap();
    store.migrate().await.unwrap();
    let queue = JobQueue::connect(&QueueKind::Sqlite(format!(
        "sqlite://{}/crm-jobs.db",
        dir.display()
    )))
    .await
    .unwrap();
    let a = Arc::new(Scheduler::new(store.clone(), queue.clone(), config.clone()));
    let b = Arc::new(Scheduler::new(store.clone(), queue, config));
    let started = Instant::now();
    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let (stop_b, stopped_b) = tokio::sync::oneshot::channel::<()>();
    let run_a = tokio::spawn({
        let a = a.clone();
        async move {
            a.run_timers(table(), async move {
                let _ = stopped_a.await;
            })
            .await
        }
    });
    // B starts a moment later, so A holds the lease.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let run_b = tokio::spawn({
        let b = b.clone();
        async move {
            b.run_timers(table(), async move {
                let _ = stopped_b.await;
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let fired = FIRED.lock().unwrap().clone();
    let first = fired.first().expect("timers fired");
    assert_eq!(first.0, "every", "the interval fires at once");
    assert!(first.2 - started < Duration::from_millis(500));
    assert!(
        fired.iter().all(|f| f.1 == a.holder),
        "only the leader fires"
    );
    let every = fired.iter().filter(|f| f.0 == "every").count();
    assert!(
        (10..=24).contains(&every),
        "{every} interval ticks in 2.2 s"
    );
    assert!(fired.iter().any(|f| f.0 == "cron"), "the cron timer fired");

    // A stops and gives up the lease; B fires from its next tick on.
    let _ = stop_a.send(());
    run_a.await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_b.send(());
    run_b.await.unwrap();
    let fired = FIRED.lock().unwrap().clone();
    assert!(fired.iter().any(|f| f.1 == b.holder), "B took over");
}
