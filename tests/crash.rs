//! `kill -9` of the embedded process mid-flood and mid-processing: nothing
//! answered 2xx is lost, nothing is duplicated.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Crm, db_counts, embedded_env, flood, temp_dir, wa_body, wait_counts};

#[tokio::test]
async fn kill_minus_nine_mid_flood_loses_nothing_answered() {
    let dir = temp_dir("crash");
    let env = embedded_env(&dir);
    let db = format!("sqlite://{}/crm.db", dir.display());
    let mut crm = Crm::start("serve", &env);
    let base = crm.base.clone();
    let bodies: Vec<Vec<u8>> = (0..5000).map(|i| wa_body(1, i)).collect();
    let sent = bodies.clone();
    let flooder = tokio::spawn(async move { flood(&base, sent, 24).await });
    // Let part of the flood land (a condition, not a time: a loaded machine
    // may take seconds to answer the first), then pull the plug.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while db_counts(&db).await["inbound_events"] < 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "no events stored within a minute"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    crm.kill9();
    let acked = flooder.await.unwrap();
    assert!(
        !acked.is_empty(),
        "some requests were answered before the kill"
    );
    // Restart on the same data: the sweeper and workers finish the job.
    let crm = Crm::start("serve", &env);
    let n = acked.len() as i64;
    let c = wait_counts(&db, 120, |c| c["pending"] == 0 && c["customers"] >= n).await;
    // Every event that was stored (acked or not) made exactly one customer and one message.
    assert_eq!(c["customers"], c["inbound_events"], "{c:?}");
    assert_eq!(c["messages"], c["customers"], "{c:?}");
    assert_eq!(c["cards"], c["customers"], "{c:?}");
    // And every acked one is among them: re-send the acked bodies; all are duplicates.
    let again: Vec<Vec<u8>> = acked.iter().map(|i| bodies[*i].clone()).collect();
    let ok = flood(&crm.base, again, 8).await;
    assert_eq!(ok.len(), acked.len());
    let after = db_counts(&db).await;
    assert_eq!(
        after["inbound_events"], c["inbound_events"],
        "acked events were all stored already"
    );
    assert_eq!(after["customers"], c["customers"]);
}

/// The embedded queue file only carries wake-ups: with it deleted while
/// events wait, a restart still processes every one of them (the sweeper
/// pushes what `inbound_events` says is pending).
#[tokio::test]
async fn a_deleted_queue_file_loses_nothing() {
    let dir = temp_dir("jobs-file");
    let mut env = embedded_env(&dir);
    let db = format!("sqlite://{}/crm.db", dir.display());
    // Accept a backlog with no worker running, then stop.
    let mut api = Crm::start("api", &env);
    let bodies: Vec<Vec<u8>> = (0..300).map(|i| wa_body(7, i)).collect();
    let acked = flood(&api.base, bodies, 16).await;
    assert_eq!(acked.len(), 300);
    assert_eq!(api.terminate(), Some(0));
    let jobs = dir.join("crm-jobs.db");
    assert!(
        jobs.exists(),
        "the queue lives beside the data: {}",
        jobs.display()
    );
    for f in ["crm-jobs.db", "crm-jobs.db-wal", "crm-jobs.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    assert_eq!(db_counts(&db).await["pending"], 300);
    // A short grace so the sweeper re-pushes at once.
    env.insert("CRM_SWEEP_GRACE_MS".into(), "200".into());
    let _crm = Crm::start("serve", &env);
    let c = wait_counts(&db, 60, |c| c["pending"] == 0).await;
    assert_eq!(c["customers"], 300, "{c:?}");
    assert_eq!(c["messages"], 300, "{c:?}");
}
