//! One job's queue on the process's queue engine (the SQLite file or Redis).
//!
//! `JobQueue` (crm-runtime) holds one storage typed for `IngestJob` and its
//! upkeep (push, promote, vacuum) is written for `crm.ingest`. Every job needs
//! the same on its own queue, so `NamedQueue` derives it from that handle:
//! the same pool or connection and apalis configuration, another queue name,
//! and storages typed for any payload.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink, TaskSinkError};
use apalis_core::backend::BackendConfig;
use apalis_core::backend::Vacuum;
use apalis_redis::RedisStorage;
use apalis_sqlite::{SqlitePool, SqliteStorage};
use crm_runtime::queue::{FORGET_DONE, JobQueue, PROMOTE_DUE, QueueBackend, RedisConn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::Job;

#[derive(Debug, thiserror::Error)]
pub enum QueueOpError {
    #[error("encode a job for {queue}")]
    Encode {
        queue: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{op} on {queue} (SQLite queue)")]
    Sqlite {
        op: &'static str,
        queue: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("push to {queue} (SQLite queue)")]
    SqlitePush {
        queue: &'static str,
        #[source]
        source: apalis_sqlite::Error,
    },
    #[error("push to {queue} (Redis queue)")]
    RedisPush {
        queue: &'static str,
        #[source]
        source: TaskSinkError<apalis_redis::Error>,
    },
    #[error("{op} on {queue} (Redis queue)")]
    Redis {
        op: &'static str,
        queue: &'static str,
        #[source]
        source: redis::RedisError,
    },
    #[error("vacuum {queue} (Redis queue)")]
    RedisVacuum {
        queue: &'static str,
        #[source]
        source: apalis_redis::Error,
    },
}

#[derive(Clone)]
pub(crate) enum Engine {
    Sqlite {
        pool: SqlitePool,
        config: apalis_sqlite::Config,
    },
    Redis {
        conn: RedisConn,
        config: apalis_redis::Config,
    },
}

/// A queue name on the shared engine, and the process's push signal (which
/// wakes this process's workers at once).
#[derive(Clone)]
pub struct NamedQueue {
    name: &'static str,
    engine: Engine,
    pushed: Arc<Notify>,
}

impl NamedQueue {
    pub fn new(queue: &JobQueue, name: &'static str) -> Self {
        let engine = match queue.backend() {
            QueueBackend::Sqlite(s) => Engine::Sqlite {
                pool: s.pool().clone(),
                config: s.config().clone().queue(name),
            },
            QueueBackend::Redis(s) => Engine::Redis {
                conn: s.clone().get_connection().clone(),
                config: s.get_config().clone().queue(name),
            },
        };
        Self {
            name,
            engine,
            pushed: queue.pushed(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn pushed(&self) -> Arc<Notify> {
        self.pushed.clone()
    }

    pub(crate) fn sqlite<P>(pool: &SqlitePool, config: &apalis_sqlite::Config) -> SqliteStorage<P> {
        SqliteStorage::new(pool).with_config(config.clone())
    }

    pub(crate) fn redis<P>(
        conn: &RedisConn,
        config: &apalis_redis::Config,
    ) -> RedisStorage<P, RedisConn> {
        RedisStorage::new(conn.clone()).with_config(config.clone())
    }

    /// Pushes one job per payload. Storage-level retries are off
    /// (`max_attempts(1)`): a job's retry policy lives in the database.
    pub async fn push<P>(&self, payloads: Vec<P>) -> Result<(), QueueOpError>
    where
        P: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static,
    {
        if payloads.is_empty() {
            return Ok(());
        }
        let queue = self.name;
        match &self.engine {
            Engine::Sqlite { pool, .. } => {
                // One autocommitted insert per job, as `JobQueue::push_ingest`
                // does: apalis' own push adds BEGIN and COMMIT round trips.
                let tasks = payloads
                    .iter()
                    .map(|p| {
                        serde_json::to_vec(p)
                            .map(|args| TaskBuilder::new(args).max_attempts(1).build())
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|source| QueueOpError::Encode { queue, source })?;
                let mut conn = pool
                    .acquire()
                    .await
                    .map_err(|source| QueueOpError::Sqlite {
                        op: "push",
                        queue,
                        source,
                    })?;
                apalis_sqlite::queries::push_tasks(&mut *conn, queue, &tasks)
                    .await
                    .map_err(|source| QueueOpError::SqlitePush { queue, source })?;
            }
            Engine::Redis { conn, config } => {
                let tasks: Vec<_> = payloads
                    .into_iter()
                    .map(|p| TaskBuilder::new(p).max_attempts(1).build())
                    .collect();
                Self::redis::<P>(conn, config)
                    .push_all(futures::stream::iter(tasks))
                    .await
                    .map_err(|source| QueueOpError::RedisPush { queue, source })?;
            }
        }
        self.pushed.notify_waiters();
        Ok(())
    }

    /// Moves due jobs from apalis-redis' scheduled set to its active list, at
    /// most `chunk` at a time; see `JobQueue::promote_due` for why (a backlog
    /// would overflow the Lua `unpack` in apalis' fetch). No-op on SQLite.
    pub(crate) async fn promote_due(&self, chunk: usize) -> Result<usize, QueueOpError> {
        let Engine::Redis { conn, config } = &self.engine else {
            return Ok(0);
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut conn = conn.clone();
        redis::Script::new(PROMOTE_DUE)
            .key(config.scheduled_jobs_set())
            .key(config.active_jobs_list())
            .key(config.signal_list())
            .arg(now)
            .arg(chunk)
            .invoke_async(&mut conn)
            .await
            .map_err(|source| QueueOpError::Redis {
                op: "promote due jobs",
                queue: self.name,
                source,
            })
    }

    /// Forgets finished jobs (see `JobQueue::vacuum_done`): their outcome
    /// lives in the database, and apalis-sqlite's acks slow down as finished
    /// rows pile up; apalis-redis keeps every job's data forever.
    pub(crate) async fn vacuum_done(&self) -> Result<u64, QueueOpError> {
        let queue = self.name;
        match &self.engine {
            Engine::Sqlite { pool, .. } => {
                sqlx::query("DELETE FROM Jobs WHERE job_type = ?1 AND status IN ('Done', 'Killed')")
                    .bind(queue)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(|source| QueueOpError::Sqlite {
                        op: "vacuum",
                        queue,
                        source,
                    })
            }
            Engine::Redis { conn, config } => {
                let mut storage = Self::redis::<()>(conn, config);
                let dropped = Vacuum::vacuum(&mut storage)
                    .await
                    .map_err(|source| QueueOpError::RedisVacuum { queue, source })?;
                let mut conn = conn.clone();
                let _forgotten: u64 = redis::Script::new(FORGET_DONE)
                    .key(config.done_jobs_set())
                    .key(config.job_data_hash())
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|source| QueueOpError::Redis {
                        op: "forget done jobs",
                        queue,
                        source,
                    })?;
                Ok(dropped as u64)
            }
        }
    }

    /// How often `vacuum_done` is worth running: apalis-sqlite's acks slow
    /// down within seconds; apalis-redis' vacuum reads every job's data.
    pub(crate) fn vacuum_every(&self) -> Duration {
        match &self.engine {
            Engine::Sqlite { .. } => Duration::from_millis(50),
            Engine::Redis { .. } => Duration::from_secs(5),
        }
    }
}

/// Pushes one `J` job per payload onto `J::QUEUE`.
pub async fn push<J: Job>(queue: &JobQueue, payloads: Vec<J::Payload>) -> Result<(), QueueOpError> {
    NamedQueue::new(queue, J::QUEUE).push(payloads).await
}
