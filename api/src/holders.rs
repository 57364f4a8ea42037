//! Who holds each customer, as the live stream asks it for every event: a
//! short-lived cache in front of the store, forgotten for a customer as soon
//! as an assignment event for it passes (so a handed-over customer's next
//! event already goes to the new holders).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crm_domain::ids::CustomerId;
use crm_domain::people::Holding;
use crm_store::{Store, StoreResult};

const FRESH_FOR: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 50_000;

#[derive(Default)]
pub struct HoldersCache {
    entries: Mutex<HashMap<CustomerId, (Holding, Instant)>>,
}

impl HoldersCache {
    pub async fn get(&self, store: &Store, id: &CustomerId) -> StoreResult<Holding> {
        if let Ok(map) = self.entries.lock()
            && let Some((h, at)) = map.get(id)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(h.clone());
        }
        let h = store.holding(id).await?;
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, (_, at)| at.elapsed() < FRESH_FOR);
            }
            map.insert(id.clone(), (h.clone(), Instant::now()));
        }
        Ok(h)
    }

    pub fn forget(&self, id: &CustomerId) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(id);
        }
    }
}
