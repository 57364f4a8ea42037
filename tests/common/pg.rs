//! A PostgreSQL database of one test's own on a shared server, dropped when
//! the test ends (passed or failed). Every test tree that needs one includes
//! this one file by `#[path]` rather than keeping a copy.

use sqlx::Connection;

/// A database `<prefix>_<ulid>`, dropped with `FORCE` when this is dropped.
pub struct PgDatabase {
    /// The server's URL naming its own database, where `CREATE`/`DROP` run.
    server: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl PgDatabase {
    /// A new empty database on the server `server` names (a URL ending in
    /// an existing database, e.g. `…/test`); the error when it is unreachable.
    pub async fn create(server: &str, prefix: &str) -> Result<PgDatabase, sqlx::Error> {
        let name = format!("{prefix}_{}", crm_domain::util::new_id().to_lowercase());
        let (base, _) = server
            .rsplit_once('/')
            .unwrap_or_else(|| panic!("no database in the PostgreSQL URL {server:?}"));
        let url = format!("{base}/{name}");
        let mut conn = sqlx::PgConnection::connect(server).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await?;
        let _ = conn.close().await;
        Ok(PgDatabase {
            server: server.to_string(),
            name,
            url,
        })
    }
}

/// `DROP DATABASE … WITH (FORCE)` from a fresh connection, which ends the
/// connections the test's pools and processes still hold.
async fn drop_database(server: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(server).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(())
}

impl Drop for PgDatabase {
    /// On a thread and runtime of its own: drop cannot await, and no
    /// runtime can be started inside the test's own.
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(sqlx::Error::Io)?
                .block_on(drop_database(&server, &name))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("could not drop test database {}: panicked", self.name),
        }
    }
}
