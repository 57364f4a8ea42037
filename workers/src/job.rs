//! What a job is: a type naming its queue and payload, and how to run one.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::WorkerCtx;
use crate::queue::QueueOpError;

/// One kind of background work. A job is a type (usually a unit struct), not
/// a value: the runner builds one apalis worker per job type, typed by its
/// payload, so everything it needs is associated with the type.
///
/// - `NAME` is stable and short: worker names, logs and metrics use it.
/// - `QUEUE` is the apalis queue name, spelled out rather than apalis'
///   default (the payload's type path), so renaming or moving a payload
///   struct does not orphan the jobs already queued. Each job has a queue of
///   its own; never change it once jobs were pushed.
/// - `Payload` is what a push carries, stored as JSON in the queue. Keep it
///   small (ids, not rows): the database is the source of truth, the queue
///   only says "look at this". `Sync + Unpin` are what apalis' storages need
///   of their arguments.
/// - `run` is written `async fn run(..)` in an impl. The trait spells the
///   future out as `impl Future + Send` because apalis drives handlers on a
///   multi-threaded runtime, and an `async fn` in a public trait cannot
///   promise callers a `Send` future.
///
/// Every push is made with `max_attempts(1)`, so apalis never retries on its
/// own: a job keeps its retry state (attempts, backoff, `dead`) in the
/// database, and returns `Err` only when it could not even record its
/// outcome there. A job may run twice (apalis acks after the handler, a
/// sweeper may push again), so its effects must be keyed.
pub trait Job: Send + Sync + 'static {
    const NAME: &'static str;
    const QUEUE: &'static str;
    type Payload: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static;

    fn run(
        ctx: &WorkerCtx,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// Why a job could not record its outcome; apalis marks the task failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job store access failed")]
    Store(#[from] crm_store::StoreError),
    #[error("job could not push follow-up jobs")]
    Push(#[from] QueueOpError),
}
