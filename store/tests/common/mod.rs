//! Fresh databases for the store tests: a SQLite file always, a PostgreSQL
//! database per test when one is reachable (required under
//! CRM_REQUIRE_SERVICES=1, skipped with a printed reason otherwise).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crm_store::Store;

pub fn required() -> bool {
    std::env::var("CRM_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A migrated store on a new SQLite file, and its URL.
pub async fn sqlite() -> (Store, String) {
    let dir = std::env::temp_dir().join(format!("crm-store-{}", crm_domain::util::new_id()));
    let url = format!("sqlite://{}/crm.db", dir.display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, url)
}

/// A migrated store on a new PostgreSQL database, and its URL; None (skip)
/// when none is reachable.
pub async fn postgres() -> Option<(Store, String)> {
    let base = std::env::var("CRM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    use sqlx::Connection;
    let mut conn = match sqlx::PgConnection::connect(&base).await {
        Ok(c) => c,
        Err(e) => {
            assert!(!required(), "PostgreSQL required but unreachable: {e}");
            eprintln!("SKIP PostgreSQL store tests: {e}");
            return None;
        }
    };
    let name = format!("crm_store_{}", crm_domain::util::new_id().to_lowercase());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, url))
}
