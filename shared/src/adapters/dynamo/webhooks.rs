//! Webhook endpoints and delivery logs, in the webhook table.
//!
//! - `HOOKS#<client>`: `endpoints` (JSON: every endpoint with its secrets) and `version`, which
//!   every change moves on under a condition, so two changes at once can't lose one another.
//! - `HOOKLOG#<transaction>`: one attribute per event (its id, JSON with the body), counted
//!   by `event_count` and `event_bytes`; `attempts`, a list of JSON entries, counted by
//!   `attempt_count`; `unlogged_events` and `unlogged_attempts` beyond the limits, which keep
//!   the item well under DynamoDB's 400 KB.

use super::*;
use crate::webhooks::{
    Attempt, DeliveryLog, LoggedEvent, MAX_LOGGED_ATTEMPTS, MAX_LOGGED_EVENT_BYTES,
    MAX_LOGGED_EVENTS, Registry,
};

fn hooks_pk(client: &ClientId) -> String {
    format!("HOOKS#{client}")
}

fn hook_log_pk(id: TxId) -> String {
    format!("HOOKLOG#{id}")
}

/// Event attributes are named by the event's id (`evt_…`), which no other attribute is.
const EVENT_PREFIX: &str = "evt_";

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn unjson<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn number(item: &Item, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl DynamoStore {
    /// An event not kept: counted, unless it is kept already.
    async fn count_unlogged_event(&self, tx: TxId, event_id: &str) -> Result<(), StoreError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.hooks_table)
            .key("pk", s(hook_log_pk(tx)))
            .update_expression("ADD unlogged_events :one")
            .condition_expression("attribute_not_exists(#event)")
            .expression_attribute_names("#event", event_id)
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        applied(counted).map(|_| ())
    }
}

impl crate::ports::WebhookStore for DynamoStore {
    async fn endpoints(&self, client: &ClientId) -> Result<Registry, StoreError> {
        let Some(item) = self
            .get_item_in(&self.hooks_table, hooks_pk(client))
            .await?
        else {
            return Ok(Registry::default());
        };
        let endpoints = match item.get("endpoints").and_then(|v| v.as_s().ok()) {
            Some(text) => unjson(text, "webhook endpoints")?,
            None => Vec::new(),
        };
        Ok(Registry {
            endpoints,
            version: number(&item, "version"),
        })
    }

    async fn save_endpoints(
        &self,
        client: &ClientId,
        registry: &Registry,
    ) -> Result<bool, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.hooks_table)
            .item("pk", s(hooks_pk(client)))
            .item("endpoints", s(json(&registry.endpoints)?))
            .item("version", n(registry.version + 1));
        put = if registry.version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :seen")
                .expression_attribute_values(":seen", n(registry.version))
        };
        applied(put.send().await)
    }

    async fn log_event(&self, tx: TxId, event: &LoggedEvent) -> Result<(), StoreError> {
        let entry = json(event)?;
        // Larger than the whole allowance (events' bodies are bounded well under it): counted.
        let room = MAX_LOGGED_EVENT_BYTES.checked_sub(entry.len());
        let Some(room) = room else {
            return self.count_unlogged_event(tx, &event.id).await;
        };
        let kept = self
            .client
            .update_item()
            .table_name(&self.hooks_table)
            .key("pk", s(hook_log_pk(tx)))
            .update_expression(
                "SET #event = :event, event_count = if_not_exists(event_count, :zero) + :one, \
                 event_bytes = if_not_exists(event_bytes, :zero) + :bytes",
            )
            .condition_expression(
                "attribute_not_exists(#event) AND (attribute_not_exists(event_count) OR \
                 (event_count < :max AND event_bytes <= :room))",
            )
            .expression_attribute_names("#event", &event.id)
            .expression_attribute_values(":event", s(entry.clone()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":bytes", n(entry.len()))
            .expression_attribute_values(":max", n(MAX_LOGGED_EVENTS))
            .expression_attribute_values(":room", n(room))
            .send()
            .await;
        if applied(kept)? {
            return Ok(());
        }
        // Kept already (the same change read twice), or the log is full.
        self.count_unlogged_event(tx, &event.id).await
    }

    async fn log_attempt(&self, tx: TxId, attempt: &Attempt) -> Result<(), StoreError> {
        let kept = self
            .client
            .update_item()
            .table_name(&self.hooks_table)
            .key("pk", s(hook_log_pk(tx)))
            .update_expression(
                "SET attempts = list_append(if_not_exists(attempts, :none), :attempt), \
                 attempt_count = if_not_exists(attempt_count, :zero) + :one",
            )
            .condition_expression("attribute_not_exists(attempt_count) OR attempt_count < :max")
            .expression_attribute_values(":attempt", AttributeValue::L(vec![s(json(attempt)?)]))
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(MAX_LOGGED_ATTEMPTS))
            .send()
            .await;
        if applied(kept)? {
            return Ok(());
        }
        self.client
            .update_item()
            .table_name(&self.hooks_table)
            .key("pk", s(hook_log_pk(tx)))
            .update_expression("ADD unlogged_attempts :one")
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn deliveries(&self, tx: TxId) -> Result<DeliveryLog, StoreError> {
        let Some(item) = self.get_item_in(&self.hooks_table, hook_log_pk(tx)).await? else {
            return Ok(DeliveryLog::default());
        };
        let mut events = item
            .iter()
            .filter(|(name, _)| name.starts_with(EVENT_PREFIX))
            .filter_map(|(_, value)| value.as_s().ok())
            .map(|text| unjson::<LoggedEvent>(text, "a webhook event"))
            .collect::<Result<Vec<_>, _>>()?;
        events.sort_by(|a, b| (a.at_ms, &a.id).cmp(&(b.at_ms, &b.id)));
        let attempts = match item.get("attempts").and_then(|v| v.as_l().ok()) {
            Some(list) => list
                .iter()
                .filter_map(|value| value.as_s().ok())
                .map(|text| unjson::<Attempt>(text, "a webhook attempt"))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        Ok(DeliveryLog {
            events,
            attempts,
            unlogged_events: number(&item, "unlogged_events"),
            unlogged_attempts: number(&item, "unlogged_attempts"),
        })
    }
}
