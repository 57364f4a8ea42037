//! Group commit: concurrent callers hand single items to one task, which
//! applies whatever queued up while the previous batch was being written as
//! the next batch (one transaction, one fsync), then answers each caller.
//! The intake writer and the event applier are this one pattern.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// Why a submitted item got no result of its own.
#[derive(Debug, thiserror::Error)]
pub enum BatchError<E: std::error::Error + 'static> {
    #[error("the {0} has stopped")]
    Stopped(&'static str),
    #[error("the {0} did not answer in time")]
    TimedOut(&'static str),
    #[error(transparent)]
    Failed(E),
}

type Reply<O, E> = oneshot::Sender<Result<O, E>>;

pub struct Batcher<I, O, E> {
    name: &'static str,
    tx: mpsc::Sender<(I, Reply<O, E>)>,
    timeout: Duration,
}

impl<I, O, E> Clone for Batcher<I, O, E> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            tx: self.tx.clone(),
            timeout: self.timeout,
        }
    }
}

impl<I, O, E> Batcher<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: std::error::Error + Send + 'static,
{
    /// Starts the batch task. `apply` gets at most `max_batch` items and
    /// returns one result per item, in order (a missing result answers its
    /// caller with `Stopped`). The task ends once every clone is dropped.
    pub fn spawn<F, Fut>(
        name: &'static str,
        max_batch: usize,
        timeout: Duration,
        mut apply: F,
    ) -> (Self, tokio::task::JoinHandle<()>)
    where
        F: FnMut(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Result<O, E>>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<(I, Reply<O, E>)>(max_batch.saturating_mul(16).max(1));
        let task = tokio::spawn(async move {
            let mut queued = Vec::with_capacity(max_batch);
            // 0 means every sender is gone.
            while rx.recv_many(&mut queued, max_batch).await > 0 {
                let (items, replies): (Vec<I>, Vec<Reply<O, E>>) =
                    std::mem::take(&mut queued).into_iter().unzip();
                let results = apply(items).await;
                for (res, reply) in results.into_iter().zip(replies) {
                    let _ = reply.send(res);
                }
            }
        });
        (Self { name, tx, timeout }, task)
    }

    /// Hands one item to the batch task; resolves with its own result once
    /// its batch is applied.
    pub async fn submit(&self, item: I) -> Result<O, BatchError<E>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((item, reply))
            .await
            .map_err(|_| BatchError::Stopped(self.name))?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(r)) => r.map_err(BatchError::Failed),
            Ok(Err(_)) => Err(BatchError::Stopped(self.name)),
            Err(_) => Err(BatchError::TimedOut(self.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Debug, thiserror::Error)]
    #[error("odd")]
    struct Odd;

    #[tokio::test]
    async fn concurrent_items_share_batches_and_get_their_own_results() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let (b, task) = Batcher::spawn(
            "doubler",
            8,
            Duration::from_secs(5),
            move |items: Vec<u32>| {
                seen.lock().unwrap().push(items.len());
                async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    items
                        .into_iter()
                        .map(|i| if i % 2 == 1 { Err(Odd) } else { Ok(i * 2) })
                        .collect()
                }
            },
        );
        let results = futures::future::join_all((0..40u32).map(|i| {
            let b = b.clone();
            async move { (i, b.submit(i).await) }
        }))
        .await;
        for (i, r) in results {
            match r {
                Ok(v) => assert_eq!(v, i * 2),
                Err(BatchError::Failed(Odd)) => assert_eq!(i % 2, 1),
                Err(e) => panic!("{i}: {e}"),
            }
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 40);
        assert!(sizes.iter().all(|n| *n <= 8));
        assert!(sizes.len() < 40, "no batching happened: {sizes:?}");
        drop(b);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_short_answer_leaves_the_rest_stopped_not_hanging() {
        let (b, _task) = Batcher::spawn("short", 4, Duration::from_secs(5), |_: Vec<u8>| async {
            Vec::<Result<u8, Odd>>::new()
        });
        assert!(matches!(
            b.submit(1).await,
            Err(BatchError::Stopped("short"))
        ));
    }
}
