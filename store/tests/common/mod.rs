//! Fresh databases for the store tests: a SQLite file always, a PostgreSQL
//! database per test when one is reachable (required under
//! CRM_REQUIRE_SERVICES=1, skipped with a printed reason otherwise). Either
//! goes when the test ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_store::Store;

// The black-box tests' guards, shared rather than copied.
#[path = "../../../tests/common/pg.rs"]
mod pg;
#[path = "../../../tests/common/scratch.rs"]
mod scratch;

/// A migrated store of one test's own and its URL; the SQLite file's folder
/// or the PostgreSQL database goes when this is dropped.
pub struct TestStore {
    pub store: Store,
    #[allow(dead_code, reason = "store.rs reads through the store alone")]
    pub url: String,
    // Fields drop in order: the store's pools before what they live in.
    _folder: Option<scratch::TempDir>,
    _database: Option<pg::PgDatabase>,
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// A migrated store on a new SQLite file.
pub async fn sqlite() -> TestStore {
    let dir = scratch::temp_dir("store");
    let url = format!("sqlite://{}/crm.db", dir.display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    TestStore {
        store,
        url,
        _folder: Some(dir),
        _database: None,
    }
}

/// A migrated store on a new PostgreSQL database; None (skip) when none is
/// reachable.
pub async fn postgres() -> Option<TestStore> {
    let server = std::env::var("CRM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let db = match pg::PgDatabase::create(&server, "crm_store").await {
        Ok(db) => db,
        Err(e) => {
            assert!(
                !scratch::services_required(),
                "PostgreSQL required but unreachable: {e}"
            );
            eprintln!("SKIP PostgreSQL store tests: {e}");
            return None;
        }
    };
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    Some(TestStore {
        store,
        url: db.url.clone(),
        _folder: None,
        _database: Some(db),
    })
}

/// Declares each named `async fn(Store)` as two tests, one per engine; the
/// caller's module holds the functions and `mod common`.
#[allow(unused_macros, reason = "batch.rs and search.rs run their own way")]
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        // Each test holds its database until it ends, then it goes.
        mod on_sqlite {
            $(#[tokio::test] async fn $name() { let db = super::common::sqlite().await; super::$name(db.store.clone()).await; })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $name() { if let Some(db) = super::common::postgres().await { super::$name(db.store.clone()).await; } })*
        }
    };
}
#[allow(unused_imports, reason = "batch.rs and search.rs run their own way")]
pub(crate) use both_engines;
