//! Group commit for workers: concurrent jobs hand their actions to one
//! applier, which writes up to `MAX_BATCH` events per transaction. On a
//! single-writer engine (SQLite) this turns N lock acquisitions and commits
//! into one; on PostgreSQL it saves round trips and commits.

use crm_domain::model::{Action, DomainEvent};
use crm_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

type Reply = oneshot::Sender<Result<Vec<DomainEvent>, StoreError>>;

#[derive(Clone)]
pub struct EventApplier {
    tx: mpsc::Sender<(String, Vec<Action>, Reply)>,
}

const MAX_BATCH: usize = 64;

impl EventApplier {
    pub fn spawn(store: Store) -> Self {
        let (tx, mut rx) = mpsc::channel::<(String, Vec<Action>, Reply)>(1024);
        tokio::spawn(async move {
            // Whatever queued up while the last batch was being written
            // becomes the next batch; 0 means every sender is gone.
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let batch = std::mem::take(&mut batch);
                let (work, replies): (Vec<(String, Vec<Action>)>, Vec<Reply>) =
                    batch.into_iter().map(|(id, a, r)| ((id, a), r)).unzip();
                match store.apply_events(&work).await {
                    Ok(results) => {
                        for (res, reply) in results.into_iter().zip(replies) {
                            let _ = reply.send(Ok(res));
                        }
                    }
                    Err(_) if work.len() > 1 => {
                        // One bad event must not fail its neighbours.
                        for ((id, actions), reply) in work.iter().zip(replies) {
                            let _ = reply.send(store.apply_event(id, actions).await);
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(StoreError::Invalid(e.to_string())));
                        }
                    }
                }
            }
        });
        Self { tx }
    }

    /// Applies one event's actions and marks it done; resolves after commit.
    pub async fn apply(
        &self,
        event_id: &str,
        actions: Vec<Action>,
    ) -> Result<Vec<DomainEvent>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((event_id.to_string(), actions, reply))
            .await
            .map_err(|_| StoreError::Invalid("event applier stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Invalid("event applier dropped the event".into()))?
    }
}
