//! What is queued for each endpoint, and what is kept of every attempt.

use serde::{Deserialize, Serialize};

use super::endpoint::EndpointId;
use super::event::EventKind;
use crate::domain::TxId;

/// Events kept per transaction for a re-delivery (each with its body). Beyond them an event is
/// still delivered, but can't be re-delivered; the log says how many.
pub const MAX_LOGGED_EVENTS: u32 = 50;
/// Attempts kept per transaction; beyond them attempts are counted, not kept.
pub const MAX_LOGGED_ATTEMPTS: u32 = 200;
/// Bytes of events (as kept, JSON) per transaction: with at most ~60 KB of attempts, a
/// transaction's log stays well under DynamoDB's 400 KB item.
pub const MAX_LOGGED_EVENT_BYTES: usize = 300_000;

/// One event for one endpoint: a message of the webhook queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub event_id: String,
    pub kind: EventKind,
    pub transaction_id: TxId,
    /// The transaction's client, whose endpoint this is.
    pub client: String,
    pub endpoint_id: EndpointId,
    /// The exact bytes posted (and signed).
    pub body: String,
    /// Sent again by an operator.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redelivery: bool,
}

/// An event as its transaction's log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedEvent {
    pub id: String,
    pub kind: EventKind,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// The endpoints it was queued for.
    pub endpoints: Vec<EndpointId>,
    pub body: String,
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The endpoint answered 2xx.
    Delivered,
    /// Another status, no answer in time, or no connection: it is tried again later.
    Failed,
    /// The last attempt failed: the message is kept in the dead-letter queue.
    GaveUp,
    /// The endpoint's host resolves to an address no delivery may reach (or doesn't resolve).
    Refused,
    /// The endpoint was removed, or no longer wants the event: nothing was sent.
    Skipped,
}

impl AttemptOutcome {
    /// As in JSON and the `Outcome` metric dimension.
    pub const fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::GaveUp => "gave_up",
            AttemptOutcome::Refused => "refused",
            AttemptOutcome::Skipped => "skipped",
        }
    }
}

/// One attempt at one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub event_id: String,
    pub endpoint_id: EndpointId,
    /// 1 on the first try of a message (a re-delivery starts again at 1).
    pub attempt: u32,
    /// Unix milliseconds.
    pub at_ms: i64,
    pub outcome: AttemptOutcome,
    /// The endpoint's HTTP status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why it failed, in a few words (never the endpoint's answer, never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An operator's re-delivery (its attempts count from 1 again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redelivery: bool,
}

/// A transaction's webhook deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryLog {
    /// Oldest first.
    pub events: Vec<LoggedEvent>,
    /// Oldest first.
    pub attempts: Vec<Attempt>,
    /// Events delivered but not kept ([`MAX_LOGGED_EVENTS`]).
    pub unlogged_events: u64,
    /// Attempts made but not kept ([`MAX_LOGGED_ATTEMPTS`]).
    pub unlogged_attempts: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_is_named_as_its_json_says() {
        for outcome in [
            AttemptOutcome::Delivered,
            AttemptOutcome::Failed,
            AttemptOutcome::GaveUp,
            AttemptOutcome::Refused,
            AttemptOutcome::Skipped,
        ] {
            assert_eq!(
                serde_json::to_value(outcome).ok(),
                Some(serde_json::Value::from(outcome.as_str()))
            );
        }
    }
}
