//! Webhook endpoints and delivery logs, with the DynamoDB adapter's limits and conditions.

use std::collections::BTreeMap;

use super::MemoryStore;
use crate::auth::ClientId;
use crate::domain::TxId;
use crate::ports::StoreError;
use crate::webhooks::{
    Attempt, DeliveryLog, LoggedEvent, MAX_LOGGED_ATTEMPTS, MAX_LOGGED_EVENT_BYTES,
    MAX_LOGGED_EVENTS, Registry,
};

#[derive(Debug, Default)]
pub(super) struct HookLog {
    events: BTreeMap<String, LoggedEvent>,
    event_bytes: usize,
    attempts: Vec<Attempt>,
    unlogged_events: u64,
    unlogged_attempts: u64,
}

impl crate::ports::WebhookStore for MemoryStore {
    async fn endpoints(&self, client: &ClientId) -> Result<Registry, StoreError> {
        Ok(self
            .state()
            .webhooks
            .get(client)
            .cloned()
            .unwrap_or_default())
    }

    async fn save_endpoints(
        &self,
        client: &ClientId,
        registry: &Registry,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let stored = state.webhooks.get(client).map_or(0, |r| r.version);
        if stored != registry.version {
            return Ok(false);
        }
        state.webhooks.insert(
            client.clone(),
            Registry {
                endpoints: registry.endpoints.clone(),
                version: registry.version + 1,
            },
        );
        Ok(true)
    }

    async fn log_event(&self, tx: TxId, event: &LoggedEvent) -> Result<(), StoreError> {
        let bytes = serde_json::to_string(event)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .len();
        let mut state = self.state();
        let log = state.hook_logs.entry(tx).or_default();
        if log.events.contains_key(&event.id) {
            return Ok(());
        }
        let full = log.events.len() >= MAX_LOGGED_EVENTS as usize
            || log.event_bytes + bytes > MAX_LOGGED_EVENT_BYTES;
        if full {
            log.unlogged_events += 1;
        } else {
            log.events.insert(event.id.clone(), event.clone());
            log.event_bytes += bytes;
        }
        Ok(())
    }

    async fn log_attempt(&self, tx: TxId, attempt: &Attempt) -> Result<(), StoreError> {
        let mut state = self.state();
        let log = state.hook_logs.entry(tx).or_default();
        if log.attempts.len() >= MAX_LOGGED_ATTEMPTS as usize {
            log.unlogged_attempts += 1;
        } else {
            log.attempts.push(attempt.clone());
        }
        Ok(())
    }

    async fn deliveries(&self, tx: TxId) -> Result<DeliveryLog, StoreError> {
        let state = self.state();
        let Some(log) = state.hook_logs.get(&tx) else {
            return Ok(DeliveryLog::default());
        };
        let mut events: Vec<LoggedEvent> = log.events.values().cloned().collect();
        events.sort_by(|a, b| (a.at_ms, &a.id).cmp(&(b.at_ms, &b.id)));
        Ok(DeliveryLog {
            events,
            attempts: log.attempts.clone(),
            unlogged_events: log.unlogged_events,
            unlogged_attempts: log.unlogged_attempts,
        })
    }
}
