//! Group commit for workers: concurrent jobs hand their actions to one
//! applier, which writes up to `MAX_BATCH` events per transaction. On a
//! single-writer engine (SQLite) this turns N lock acquisitions and commits
//! into one; on PostgreSQL it saves round trips and commits.

use std::time::Duration;

use crm_domain::model::{Action, DomainEvent};
use crm_runtime::batcher::{BatchError, Batcher};
use crm_store::{Store, StoreError};

#[derive(Clone)]
pub struct EventApplier {
    batcher: Batcher<(String, Vec<Action>), Vec<DomainEvent>, StoreError>,
}

const MAX_BATCH: usize = 64;

impl EventApplier {
    pub fn spawn(store: Store) -> Self {
        let (batcher, _task) = Batcher::spawn(
            "event applier",
            MAX_BATCH,
            Duration::from_secs(120),
            move |work: Vec<(String, Vec<Action>)>| {
                let store = store.clone();
                async move {
                    match store.apply_events(&work).await {
                        Ok(results) => results.into_iter().map(Ok).collect(),
                        Err(e) if work.len() == 1 => vec![Err(e)],
                        Err(_) => {
                            // One bad event must not fail its neighbours.
                            let mut out = Vec::with_capacity(work.len());
                            for (id, actions) in &work {
                                out.push(store.apply_event(id, actions).await);
                            }
                            out
                        }
                    }
                }
            },
        );
        Self { batcher }
    }

    /// Applies one event's actions and marks it done; resolves after commit.
    pub async fn apply(
        &self,
        event_id: &str,
        actions: Vec<Action>,
    ) -> Result<Vec<DomainEvent>, BatchError<StoreError>> {
        self.batcher.submit((event_id.to_string(), actions)).await
    }
}
