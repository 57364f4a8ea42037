//! `crm simulate` against a real `crm serve`: signed webhooks of every kind
//! in, Graph API calls answered by the simulator, customers out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Api, Crm, embedded_env, temp_dir};
use crm_tools::process::free_port;
use serde_json::Value;

#[tokio::test]
async fn simulator_drives_every_channel_through_the_spine() {
    let graph_port = free_port().unwrap();
    let dir = temp_dir("simulate");
    let mut env = embedded_env(&dir);
    env.insert(
        "CRM_GRAPH_BASE_URL".into(),
        format!("http://127.0.0.1:{graph_port}"),
    );
    env.insert("CRM_META_ACCESS_TOKEN".into(), "EAAsimulated".into());
    let token = Crm::token(&env);
    let crm = Crm::start("serve", &env);
    let api = Api::new(&crm.base, &token);
    let target = crm.base.clone();
    let sim_env = env.clone();
    let out = tokio::task::spawn_blocking(move || {
        Crm::cli(
            &sim_env,
            &[
                "simulate",
                "--target",
                &target,
                "--graph-bind",
                &format!("127.0.0.1:{graph_port}"),
                "--count",
                "25",
                "--rate",
                "200",
                "--batch",
                "2",
                "--duplicate-rate",
                "0.5",
                "--linger",
                "5",
                "--run-id",
                "t1",
            ],
            None,
        )
    })
    .await
    .unwrap();
    assert_eq!(out.0, 0, "{}", out.2);
    let report: Value = serde_json::from_str(out.1.trim()).unwrap();
    assert_eq!(report["events"], 25);
    assert!(report["duplicate_posts"].as_u64().unwrap() > 0);
    assert_eq!(report["by_status"]["200"], report["posts"], "{report}");
    // 25 events over 5 kinds: 5 statuses create nobody; 20 people arrive.
    let v = api
        .wait_for("/api/v1/customers?limit=100", 30, |v| {
            v["items"].as_array().unwrap().len() == 20
        })
        .await;
    let items = v["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.starts_with("Lead "))),
        "leads fetched from the simulated Graph API"
    );
}
