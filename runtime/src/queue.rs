//! The job queue handle: apalis-sqlite in a file beside the data (embedded)
//! or apalis-redis (scale-out). A job carries only inbound event ids (the
//! ones one intake batch committed together); the committed `inbound_events`
//! rows are the source of truth (the outbox), so a lost or duplicated job
//! costs nothing: the sweeper re-pushes what is still pending and the worker
//! skips what is done.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_core::backend::Vacuum;
use apalis_redis::RedisStorage;
use apalis_sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteStorage};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::config::QueueKind;
use crm_domain::ids::EventId;

pub const INGEST_QUEUE: &str = "crm.ingest";

/// Wakes a worker for events committed together. One job per intake batch,
/// not per event: the queue's own writes (push, fetch, ack) were most of the
/// cost of an event, and the worker applies the batch in one transaction
/// anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestJob {
    pub event_ids: Vec<EventId>,
}

/// Events per job at most: big enough to amortise the queue, small enough
/// that a burst spreads over several workers and one job's transaction stays
/// short.
pub const EVENTS_PER_JOB: usize = 64;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unreachable at {url}")]
    Connect {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error("queue {op} failed")]
    Backend {
        op: &'static str,
        #[source]
        source: BoxError,
    },
}

/// The queue's engine did not answer in time.
#[derive(Debug, thiserror::Error)]
#[error("timed out")]
struct TimedOut;

/// Wraps an engine error with what we were doing.
fn failed<E: std::error::Error + Send + Sync + 'static>(
    op: &'static str,
) -> impl FnOnce(E) -> QueueError {
    move |e| QueueError::Backend {
        op,
        source: Box::new(e),
    }
}

pub type RedisConn = apalis_redis::ConnectionManager;

#[derive(Clone)]
pub enum QueueBackend {
    Sqlite(SqliteStorage<IngestJob>),
    Redis(RedisStorage<IngestJob, RedisConn>),
}

/// The queue, and a signal raised on every push from this process, which
/// wakes this process's workers at once (`crm serve`) instead of at their
/// next poll.
#[derive(Clone)]
pub struct JobQueue {
    backend: QueueBackend,
    pushed: Arc<Notify>,
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            QueueBackend::Sqlite(_) => f.write_str("JobQueue::Sqlite"),
            QueueBackend::Redis(_) => f.write_str("JobQueue::Redis"),
        }
    }
}

/// Task rows of finished jobs are only bookkeeping; the heartbeat decides how
/// soon a killed worker's jobs go back to the queue.
fn heartbeat() -> Duration {
    Duration::from_secs(5)
}

impl JobQueue {
    fn new(backend: QueueBackend) -> Self {
        Self {
            backend,
            pushed: Arc::new(Notify::new()),
        }
    }

    pub fn backend(&self) -> &QueueBackend {
        &self.backend
    }

    /// Raised after every push made through this handle (or a clone).
    pub fn pushed(&self) -> Arc<Notify> {
        self.pushed.clone()
    }

    pub async fn connect(kind: &QueueKind) -> Result<Self, QueueError> {
        match kind {
            QueueKind::Sqlite(url) => {
                let path = crm_store::sqlite_path(url).unwrap_or_default();
                // Our own pool, not `SqliteStorage::setup`: that one turns
                // `synchronous` OFF, and a job queue must survive a crash.
                let opts = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    // Checkpoints (and their fsyncs) run on a connection of
                    // their own; inline, they stalled pushes and fetches for
                    // the length of an fsync every few hundred jobs.
                    .pragma("wal_autocheckpoint", "16384");
                // One connection: apalis' own writes queue in-process instead
                // of racing each other through SQLite's busy handler.
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .connect_with(opts)
                    .await
                    .map_err(|e| QueueError::Connect {
                        url: crm_domain::util::mask_url(url),
                        source: Box::new(e),
                    })?;
                crm_store::checkpoint_sqlite_file(&path)
                    .await
                    .map_err(|e| QueueError::Connect {
                        url: crm_domain::util::mask_url(url),
                        source: Box::new(e),
                    })?;
                // apalis keeps its own migration history: sharing sqlx's default
                // `_sqlx_migrations` table with anything else breaks both.
                let mut m = SqliteStorage::migrations();
                m.dangerous_set_table_name("_apalis_migrations");
                m.run(&pool).await.map_err(failed("migration"))?;
                let cfg = apalis_sqlite::Config::default()
                    .queue(INGEST_QUEUE)
                    .lock_tasks(false)
                    .batch_size(256)
                    .heartbeat_interval(heartbeat());
                Ok(Self::new(QueueBackend::Sqlite(
                    SqliteStorage::new(&pool).with_config(cfg),
                )))
            }
            QueueKind::Redis(url) => {
                let conn = tokio::time::timeout(
                    Duration::from_secs(10),
                    apalis_redis::connect(url.as_str()),
                )
                .await
                .map_err(|_| QueueError::Connect {
                    url: crm_domain::util::mask_url(url),
                    source: Box::new(TimedOut),
                })?
                .map_err(|e| QueueError::Connect {
                    url: crm_domain::util::mask_url(url),
                    source: Box::new(e),
                })?;
                let cfg = apalis_redis::Config::default()
                    .queue(INGEST_QUEUE)
                    .batch_size(256)
                    .heartbeat_interval(heartbeat());
                Ok(Self::new(QueueBackend::Redis(
                    RedisStorage::new(conn).with_config(cfg),
                )))
            }
        }
    }

    /// Pushes ingest jobs for these events, `EVENTS_PER_JOB` to a job.
    /// Storage-level retries are off (`max_attempts(1)`): retry policy lives
    /// in `inbound_events`, with backoff.
    pub async fn push_ingest(&self, event_ids: &[EventId]) -> Result<(), QueueError> {
        if event_ids.is_empty() {
            return Ok(());
        }
        let jobs = event_ids.chunks(EVENTS_PER_JOB).map(|ids| IngestJob {
            event_ids: ids.to_vec(),
        });
        let pushed = match &self.backend {
            QueueBackend::Sqlite(s) => {
                // apalis' own push wraps the inserts in BEGIN and COMMIT:
                // three hand-offs to SQLite's thread, each a thread wake-up,
                // where one autocommitted insert per job does (a batch's
                // jobs need not land together: the outbox covers a gap).
                let tasks = jobs
                    .map(|job| {
                        serde_json::to_vec(&job)
                            .map(|args| TaskBuilder::new(args).max_attempts(1).build())
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(failed("encode"))?;
                let mut conn = s.pool().acquire().await.map_err(failed("push"))?;
                apalis_sqlite::queries::push_tasks(&mut *conn, INGEST_QUEUE, &tasks)
                    .await
                    .map_err(failed("push"))
            }
            QueueBackend::Redis(s) => {
                let tasks: Vec<_> = jobs
                    .map(|job| TaskBuilder::new(job).max_attempts(1).build())
                    .collect();
                let mut s = s.clone();
                s.push_all(futures::stream::iter(tasks))
                    .await
                    .map_err(failed("push"))
            }
        };
        if pushed.is_ok() {
            self.pushed.notify_waiters();
        }
        pushed
    }

    /// apalis-redis parks every pushed job in its scheduled set, and its fetch
    /// script moves *all* due ones to the active list with one Lua `unpack`,
    /// which fails beyond a few thousand ids: a backlog (workers down while
    /// webhooks keep arriving) would kill every worker. Promoting due jobs
    /// ourselves, a bounded chunk at a time, keeps that set small. Returns how
    /// many moved; a no-op on SQLite.
    pub async fn promote_due(&self, chunk: usize) -> Result<usize, QueueError> {
        let QueueBackend::Redis(s) = &self.backend else {
            return Ok(0);
        };
        let cfg = s.get_config();
        let (scheduled, active, signal) = (
            cfg.scheduled_jobs_set(),
            cfg.active_jobs_list(),
            cfg.signal_list(),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut conn = s.clone().get_connection().clone();
        let moved: Result<usize, _> = redis::Script::new(PROMOTE_DUE)
            .key(scheduled)
            .key(active)
            .key(signal)
            .arg(now)
            .arg(chunk)
            .invoke_async(&mut conn)
            .await;
        moved.map_err(failed("promote"))
    }

    /// Forgets finished jobs; the outcome of every event lives in
    /// `inbound_events`, not in the queue.
    ///
    /// - SQLite: deletes finished rows from apalis' `Jobs` table. Its ack
    ///   statement joins every row locked by the worker against each batch,
    ///   so it slows down as done rows pile up (bench/README.md).
    /// - Redis: apalis keeps every job's data, metadata and result, and its
    ///   id in a done set, forever; its own vacuum drops the first three, and
    ///   done-set members whose data is gone go too.
    pub async fn vacuum_done(&self) -> Result<u64, QueueError> {
        match &self.backend {
            QueueBackend::Sqlite(s) => {
                sqlx::query("DELETE FROM Jobs WHERE job_type = ?1 AND status IN ('Done', 'Killed')")
                    .bind(INGEST_QUEUE)
                    .execute(s.pool())
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(failed("vacuum"))
            }
            QueueBackend::Redis(s) => {
                let mut storage = s.clone();
                let dropped = Vacuum::vacuum(&mut storage)
                    .await
                    .map_err(failed("vacuum"))?;
                let cfg = s.get_config();
                let mut conn = s.clone().get_connection().clone();
                let forgotten: Result<u64, _> = redis::Script::new(FORGET_DONE)
                    .key(cfg.done_jobs_set())
                    .key(cfg.job_data_hash())
                    .invoke_async(&mut conn)
                    .await;
                forgotten.map_err(failed("vacuum"))?;
                Ok(dropped as u64)
            }
        }
    }

    /// How often `vacuum_done` is worth running: apalis-sqlite's acks slow
    /// down within seconds; apalis-redis' vacuum reads every job's data.
    pub fn vacuum_every(&self) -> Duration {
        match &self.backend {
            QueueBackend::Sqlite(_) => Duration::from_millis(50),
            QueueBackend::Redis(_) => Duration::from_secs(5),
        }
    }

    /// Readiness: can we reach the queue's engine?
    pub async fn ping(&self) -> Result<(), QueueError> {
        match &self.backend {
            QueueBackend::Sqlite(s) => sqlx::query("SELECT 1")
                .execute(s.pool())
                .await
                .map(|_| ())
                .map_err(failed("ping")),
            QueueBackend::Redis(s) => {
                let mut conn = s.clone().get_connection().clone();
                redis_ping(&mut conn).await
            }
        }
    }

    /// Jobs waiting to run, for `/metrics`.
    pub async fn depth(&self) -> Result<i64, QueueError> {
        match &self.backend {
            QueueBackend::Sqlite(s) => {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n FROM Jobs WHERE job_type = ?1 AND status IN ('Pending', 'Queued')",
                )
                .bind(INGEST_QUEUE)
                .fetch_one(s.pool())
                .await
                .map_err(failed("depth"))?;
                row.try_get("n").map_err(failed("depth"))
            }
            QueueBackend::Redis(s) => {
                // Jobs pushed with a run time wait in the scheduled set first.
                let active = s.get_config().active_jobs_list();
                let scheduled = s.get_config().scheduled_jobs_set();
                let mut conn = s.clone().get_connection().clone();
                Ok(redis_count(&mut conn, "LLEN", &active).await?
                    + redis_count(&mut conn, "ZCARD", &scheduled).await?)
            }
        }
    }
}

/// Drops done-set members whose job data apalis' vacuum removed (KEYS: the
/// done set, the job data hash). Shared with the workers' per-queue vacuum.
pub const FORGET_DONE: &str = r"
local ids = redis.call('smembers', KEYS[1])
local n = 0
for _, id in ipairs(ids) do
    if redis.call('hexists', KEYS[2], id) == 0 then
        redis.call('srem', KEYS[1], id)
        n = n + 1
    end
end
return n
";

/// Moves up to ARGV[2] jobs due by ARGV[1] from the scheduled set to the
/// active list and signals the workers (KEYS: scheduled, active, signal).
pub const PROMOTE_DUE: &str = r"
local ids = redis.call('zrangebyscore', KEYS[1], 0, ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then
    redis.call('rpush', KEYS[2], unpack(ids))
    redis.call('zrem', KEYS[1], unpack(ids))
    redis.call('del', KEYS[3])
    redis.call('lpush', KEYS[3], 1)
end
return #ids
";

async fn redis_ping(conn: &mut RedisConn) -> Result<(), QueueError> {
    let pong: Result<String, _> = redis::cmd("PING").query_async(conn).await;
    pong.map(|_| ()).map_err(failed("ping"))
}

async fn redis_count(conn: &mut RedisConn, cmd: &str, key: &str) -> Result<i64, QueueError> {
    let n: Result<i64, _> = redis::cmd(cmd).arg(key).query_async(conn).await;
    n.map_err(failed("depth"))
}
