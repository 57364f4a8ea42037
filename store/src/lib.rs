//! The SQL store. One query text per query, accepted by SQLite (3.35+) and
//! PostgreSQL through sqlx's `Any` driver: `$N` placeholders, `RETURNING`,
//! `ON CONFLICT`, TEXT ids, BIGINT unix-millisecond times, JSON as TEXT.
//! Business code never branches on the engine; the only engine-specific choices
//! live here (connection pragmas, SQLite's single writer, `BEGIN IMMEDIATE`).

mod audit;
mod auth;
mod events;
mod ingest;
mod lease;
mod migrate;
mod people;
mod read;
mod sessions;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Executor, Transaction};

pub use audit::{AuditEntry, AuditFilter};
pub use auth::{Credentials, NewUser, TeamRef, TokenView, UserView};
pub use events::{InboundEventRow, InboundInsert, NewInboundEvent};
pub use people::{HandoverSummary, RoleView, TeamView, admin_role};
pub use read::{CustomerFilter, Page};
pub use sessions::{NewSession, Origin, SessionInfo};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller asked for something that cannot be (a client mistake: 422).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database folder could not be made (a server fault).
    #[error("cannot create the database folder {path}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The random source failed while minting a secret (a server fault).
    #[error("cannot mint a secret")]
    Random(#[source] crm_domain::auth::AuthError),
    /// The batch could not be planned (an inbound item without any identity).
    #[error("cannot plan the batch")]
    Plan(#[from] crm_domain::plan::PlanError),
    /// What the database holds or a plan produced breaks a rule the code
    /// relies on (a server fault, never the caller's).
    #[error("broken invariant: {0}")]
    Invariant(String),
    /// Another writer created the same natural key between our read and our
    /// write (PostgreSQL only; SQLite has one writer): the caller retries the
    /// whole transaction and will then find the row.
    #[error("concurrent write, retry")]
    Retry,
}

impl StoreError {
    /// Whether the caller, not the server, is at fault (a 4xx, not a 500).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound | StoreError::Conflict(_) | StoreError::Invalid(_)
        )
    }

    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An id column read back as its type.
pub(crate) fn id_of<I>(
    row: &sqlx::any::AnyRow,
    col: &str,
    make: fn(String) -> I,
) -> StoreResult<I> {
    Ok(make(sqlx::Row::try_get::<String, _>(row, col)?))
}

/// A closed-set column read back as its type.
pub(crate) fn closed_of<T>(
    row: &sqlx::any::AnyRow,
    col: &str,
    parse: fn(&str) -> Option<T>,
) -> StoreResult<T> {
    stored(&sqlx::Row::try_get::<String, _>(row, col)?, parse, col)
}

/// A nullable closed-set column read back as its type.
pub(crate) fn opt_closed_of<T>(
    row: &sqlx::any::AnyRow,
    col: &str,
    parse: fn(&str) -> Option<T>,
) -> StoreResult<Option<T>> {
    sqlx::Row::try_get::<Option<String>, _>(row, col)?
        .map(|text| stored(&text, parse, col))
        .transpose()
}

/// A closed-set value read back from the database: text we never write is
/// a broken invariant, not a value to guess at.
pub(crate) fn stored<T>(text: &str, parse: fn(&str) -> Option<T>, what: &str) -> StoreResult<T> {
    parse(text).ok_or_else(|| StoreError::Invariant(format!("unknown stored {what} {text:?}")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Store {
    writer: AnyPool,
    reader: AnyPool,
    engine: Engine,
}

impl Store {
    /// Opens the database named by `url` (`sqlite://path` or `postgres://…`),
    /// creating the SQLite file and its folder when missing.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        install_default_drivers();
        if let Some(path) = sqlite_path(url) {
            if let Some(parent) = std::path::Path::new(&path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            let url = sqlite_url_rwc(url);
            // WAL lets readers run beside the one writer; NORMAL is durable
            // across process crashes (only an OS crash can lose the last commits).
            let opts = |max: u32| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(30))
                    // A file does not drop connections; a ping per
                    // transaction was one more wait on every commit.
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            // The checkpointer below copies the WAL into the
                            // database beside the writer; the writer only does
                            // it itself if that one falls far behind.
                            conn.execute("PRAGMA wal_autocheckpoint = 16384").await?;
                            Ok(())
                        })
                    })
            };
            let writer = opts(1).connect(&url).await?;
            let reader = opts(4).connect(&url).await?;
            spawn_checkpointer(reader.clone());
            Ok(Self {
                writer,
                reader,
                engine: Engine::Sqlite,
            })
        } else {
            let pool = AnyPoolOptions::new()
                .max_connections(24)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Ok(Self {
                writer: pool.clone(),
                reader: pool,
                engine: Engine::Postgres,
            })
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// A write transaction. On SQLite it takes the write lock up front so a
    /// read-then-write transaction cannot fail on lock upgrade.
    pub(crate) async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        Ok(match self.engine {
            Engine::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => self.writer.begin().await?,
        })
    }

    /// A read-only transaction whose statements all see one snapshot
    /// (SQLite's WAL gives that to any transaction; PostgreSQL needs
    /// REPEATABLE READ, as READ COMMITTED snapshots each statement).
    pub(crate) async fn read_snapshot(&self) -> StoreResult<Transaction<'static, Any>> {
        let mut tx = self.reader.begin().await?;
        if self.engine == Engine::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    pub(crate) fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Liveness of the database for `/readyz`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// Rows per multi-row statement: far below SQLite's 32,766 and PostgreSQL's
/// 65,535 bind parameters even for wide rows.
pub(crate) const INSERT_CHUNK: usize = 256;

impl Engine {
    /// About this many bytes of parameters per multi-row statement. sqlx 0.9
    /// leaves Nagle's algorithm on for its TCP sockets (transact-rs/sqlx#4335,
    /// fixed upstream but not released): a PostgreSQL statement larger than
    /// what one `write` puts in a fresh socket's send buffer (16 KiB by
    /// default) goes in two parts, and the second waits for the server's
    /// delayed ACK (bench/README.md). SQLite has no socket: only the row cap
    /// applies.
    pub(crate) fn statement_bytes(self) -> usize {
        match self {
            Engine::Sqlite => usize::MAX,
            Engine::Postgres => 12 * 1024,
        }
    }
}

/// Splits rows into multi-row statement chunks: at most `INSERT_CHUNK` rows
/// and about `max_bytes` each (a single larger row goes alone).
pub(crate) fn statement_chunks<T>(
    rows: &[T],
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0usize, 0usize);
    for (i, row) in rows.iter().enumerate() {
        let n = size(row);
        if i > start && (i - start == INSERT_CHUNK || bytes.saturating_add(n) > max_bytes) {
            chunks.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes = bytes.saturating_add(n);
    }
    if start < rows.len() {
        chunks.push(&rows[start..]);
    }
    chunks
}

/// `$first, $first+1, …` for `n` parameters.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    let mut sql = String::with_capacity(n * 6);
    push_placeholders(&mut sql, first, n);
    sql
}

fn push_placeholders(sql: &mut String, first: usize, n: usize) {
    use std::fmt::Write;
    for i in first..first + n {
        if i > first {
            sql.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(sql, "${i}");
    }
}

/// `($first, …, tail), (…)`: `rows` tuples of `cols` parameters numbered on
/// from `first`, each ending with the same `tail` SQL (shared parameters or
/// literals), for one multi-row `INSERT … VALUES`. Written into one string:
/// intake builds one per batch.
pub(crate) fn values_rows(first: usize, rows: usize, cols: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(rows * (cols * 6 + tail.len() + 4));
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        push_placeholders(&mut sql, first + r * cols, cols);
        if !tail.is_empty() {
            sql.push_str(", ");
            sql.push_str(tail);
        }
        sql.push(')');
    }
    sql
}

/// Runs the checkpointer below for another SQLite file (the job queue's).
pub async fn checkpoint_sqlite_file(path: &str) -> StoreResult<()> {
    install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                Ok(())
            })
        })
        .connect(&sqlite_url_rwc(&format!("sqlite://{path}")))
        .await?;
    spawn_checkpointer(pool);
    Ok(())
}

/// Copies committed WAL frames into the SQLite database from a reader
/// connection, so the single writer (whose commits every intake request and
/// worker batch waits on) does not do it inline, and the other core can.
/// Every 200 ms while the WAL grows, backing off to 5 s while it does not.
/// Passive: never blocks a reader or the writer. Ends with the pool.
fn spawn_checkpointer(pool: AnyPool) {
    const BUSY: Duration = Duration::from_millis(200);
    const QUIET: Duration = Duration::from_secs(5);
    tokio::spawn(async move {
        let mut every = BUSY;
        let mut last_frames = -1i64;
        while !pool.is_closed() {
            tokio::time::sleep(every).await;
            match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&pool)
                .await
            {
                Ok(row) => {
                    // (busy, frames in the WAL, frames checkpointed)
                    let frames: i64 = sqlx::Row::try_get(&row, 1).unwrap_or(-1);
                    every = if frames == last_frames {
                        (every * 2).min(QUIET)
                    } else {
                        BUSY
                    };
                    last_frames = frames;
                }
                Err(e) if !pool.is_closed() => {
                    tracing::warn!(error = %e, "WAL checkpoint failed; the writer will checkpoint itself");
                }
                Err(_) => {}
            }
        }
    });
}

/// The file path of a `sqlite:` URL, or None for other engines.
pub fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    Some(path.to_string())
}

fn sqlite_url_rwc(url: &str) -> String {
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Runs a write transaction body, retrying when a concurrent writer raced us
/// to a natural key. Each retry starts from a fresh transaction, so it sees the
/// winner's committed row.
#[macro_export]
macro_rules! with_write_retry {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut $tx = $store.begin_write().await?;
            let result: $crate::StoreResult<_> = $body;
            match result {
                Ok(v) => {
                    $tx.commit().await?;
                    break Ok(v);
                }
                Err(e)
                    if attempt < 8
                        && (matches!(e, $crate::StoreError::Retry) || e.is_unique_violation()) =>
                {
                    let _ = $tx.rollback().await;
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt) * 5))
                        .await;
                    continue;
                }
                Err(e) => {
                    let _ = $tx.rollback().await;
                    break Err(e);
                }
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        assert_eq!(
            sqlite_path("sqlite://data/crm.db").as_deref(),
            Some("data/crm.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc").as_deref(),
            Some("/tmp/x.db")
        );
        assert_eq!(sqlite_path("postgres://h/db"), None);
        assert_eq!(sqlite_url_rwc("sqlite://a.db"), "sqlite://a.db?mode=rwc");
    }

    #[test]
    fn statement_chunks_respect_rows_and_bytes() {
        let rows: Vec<usize> = vec![10; 600];
        let sizes: Vec<usize> = statement_chunks(&rows, usize::MAX, |r| *r)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(
            sizes,
            vec![INSERT_CHUNK, INSERT_CHUNK, 600 - 2 * INSERT_CHUNK]
        );
        let max = Engine::Postgres.statement_bytes();
        let k = max / 5;
        let big = vec![2 * k, 2 * k, 2 * k, 10 * k, 1];
        let sizes: Vec<usize> = statement_chunks(&big, max, |r| *r)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, vec![2, 1, 1, 1]);
        let none: Vec<usize> = Vec::new();
        assert!(statement_chunks(&none, max, |r| *r).is_empty());
    }

    #[test]
    fn multi_row_values() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
        assert_eq!(
            values_rows(3, 2, 2, "0, $1"),
            "($3, $4, 0, $1), ($5, $6, 0, $1)"
        );
        assert_eq!(values_rows(1, 2, 1, ""), "($1), ($2)");
    }
}
