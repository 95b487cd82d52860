//! Webhooks: tells each client's endpoints of its transactions' events, at least once, signed.
//!
//! One Lambda, two event sources:
//! - the table's stream, through its own event source mapping (retried apart from the status
//!   page's): [`FanOut`] turns each change into events ([`tx_shared::webhooks::events_of`]),
//!   keeps each in its transaction's delivery log and queues one message per endpoint that
//!   wants it;
//! - the webhook queue: [`Deliverer`] signs each message's body with the endpoint's secrets in
//!   force, posts it ([`HttpSender`]: public addresses only, no redirects, a timeout), logs the
//!   attempt, and on failure backs off through the message's visibility (full jitter) until the
//!   queue's cap moves it to its dead-letter queue (alarmed).
//!
//! Neither is on the pipeline's path. Every client's deliveries share this function's
//! concurrency (`webhook_max_concurrency` on AWS).

mod send;

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::Value;
use tx_shared::adapters::dynamo::DynamoStore;
use tx_shared::adapters::sqs::SqsQueue;
use tx_shared::auth::ClientId;
use tx_shared::aws::AwsClients;
use tx_shared::backoff::Backoff;
use tx_shared::batch::{self, Deadline, Delivery, RetryLater};
use tx_shared::config::{ConfigError, Env};
use tx_shared::ports::{QueueError, Reading, StoreError, WebhookQueue, WebhookStore};
use tx_shared::stream::TransactionRecord;
use tx_shared::webhooks::{
    AddressPolicy, Attempt, AttemptOutcome, DeliveryMessage, Event, LoggedEvent, Registry,
    events_of,
};

pub use send::{HttpSender, SendError};

/// Retries of a delivery: the first after up to 30 s, growing threefold to at most 6 hours
/// apart, 12 attempts in all (about a day and a half), as an integrator of Stripe's expects.
pub const DEFAULT_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(30),
    factor: 3.0,
    cap: Duration::from_secs(6 * 3600),
    max_attempts: 12,
};

/// How long an endpoint has to answer, unless `WEBHOOK_TIMEOUT_SECONDS` says (1 to 30).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub table_name: String,
    /// Where endpoints and delivery logs are kept.
    pub webhook_table_name: String,
    pub queue_url: String,
    pub policy: AddressPolicy,
    pub backoff: Backoff,
    pub timeout: Duration,
}

impl Config {
    /// `TABLE_NAME`, `WEBHOOK_TABLE_NAME`, `WEBHOOK_QUEUE_URL`; `WEBHOOK_ALLOW_LOOPBACK` (`true` only for `make
    /// dev` and the tests), `WEBHOOK_TIMEOUT_SECONDS`, and the backoff's settings
    /// (`BACKOFF_BASE_SECONDS`, `BACKOFF_FACTOR`, `BACKOFF_CAP_SECONDS`, `MAX_ATTEMPTS`, the
    /// webhook queue's `maxReceiveCount`), defaulting to [`DEFAULT_BACKOFF`].
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let timeout: u64 = env.or_default("WEBHOOK_TIMEOUT_SECONDS", DEFAULT_TIMEOUT.as_secs())?;
        if !(1..=30).contains(&timeout) {
            return Err(ConfigError::Invalid {
                name: "WEBHOOK_TIMEOUT_SECONDS",
                reason: format!("must be 1 to 30 seconds, got {timeout}"),
            });
        }
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
            webhook_table_name: env.required("WEBHOOK_TABLE_NAME")?,
            queue_url: env.required("WEBHOOK_QUEUE_URL")?,
            policy: AddressPolicy {
                allow_loopback: env.or_default("WEBHOOK_ALLOW_LOOPBACK", false)?,
                allow_public: true,
            },
            backoff: env.backoff_or(DEFAULT_BACKOFF)?,
            timeout: Duration::from_secs(timeout),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the webhook queue: {0}")]
    Queue(#[from] QueueError),
    #[error("not an event the webhooks function takes: {0}")]
    UnknownEvent(String),
}

/// What a stream batch was turned into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FannedOut {
    /// Events some endpoint wanted.
    pub events: usize,
    /// Messages queued: an event per endpoint.
    pub deliveries: usize,
}

/// A stream batch the fan-out could not finish: the records from `failed_at` on must be handed
/// over again (Lambda's `batchItemFailures`, from that record's sequence number); the events of
/// the records before it are kept and queued.
#[derive(Debug, thiserror::Error)]
#[error("record {failed_at} of the batch: {error}")]
pub struct FanOutFailed {
    pub failed_at: usize,
    #[source]
    pub error: WebhookError,
}

/// How long a client found without endpoints is taken to have none: most clients register
/// none, and reading their empty registry for every stream batch would be most of the
/// fan-out's requests. A client's first endpoint hears events from at most this long after it
/// registers it; a client with endpoints is read afresh for every batch (a removal or rotation
/// holds at once).
pub const NO_ENDPOINTS_FOR: Duration = Duration::from_secs(10);
/// Clients remembered without endpoints, at most (then forgotten all at once).
const NO_ENDPOINTS_KEPT: usize = 10_000;

/// From the table's stream to the webhook queue.
pub struct FanOut<S, Q> {
    pub store: S,
    pub queue: Q,
    /// Clients found without endpoints, and when.
    no_endpoints: std::sync::Mutex<HashMap<ClientId, std::time::Instant>>,
}

impl<S, Q> FanOut<S, Q> {
    pub fn new(store: S, queue: Q) -> Self {
        FanOut {
            store,
            queue,
            no_endpoints: std::sync::Mutex::default(),
        }
    }

    fn known_without_endpoints(&self, client: &ClientId) -> bool {
        let known = self
            .no_endpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        known
            .get(client)
            .is_some_and(|at| at.elapsed() < NO_ENDPOINTS_FOR)
    }

    fn remember(&self, client: &ClientId, registry: &Registry) {
        let mut known = self
            .no_endpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !registry.endpoints.is_empty() {
            known.remove(client);
            return;
        }
        if known.len() >= NO_ENDPOINTS_KEPT {
            known.clear();
        }
        known.insert(client.clone(), std::time::Instant::now());
    }
}

impl<S: WebhookStore + Reading, Q: WebhookQueue> FanOut<S, Q> {
    /// Every event of `records` some endpoint of its client wants: kept in its transaction's
    /// log, then queued once per endpoint. Safe to run again on the same records (a failed
    /// batch is): an event is kept once, and a repeated delivery carries the same event id.
    /// What can never succeed (a client's endpoints that no longer read, a message the queue
    /// refuses as it is) is dropped with an error line and a `dropped` count, alarmed: one
    /// such record must not hold back every change behind it on its shard.
    pub async fn fan_out(&self, records: &[TransactionRecord]) -> Result<FannedOut, FanOutFailed> {
        let mut registries: HashMap<ClientId, Option<Registry>> = HashMap::new();
        let mut messages: Vec<DeliveryMessage> = Vec::new();
        // The record each message came from.
        let mut sources: Vec<usize> = Vec::new();
        let mut done = FannedOut::default();
        let mut failed = None;
        for (i, record) in records.iter().enumerate() {
            match self.events_of_record(record, &mut registries).await {
                Ok(events) => {
                    for record_messages in events {
                        done.events += 1;
                        sources.extend(std::iter::repeat_n(i, record_messages.len()));
                        messages.extend(record_messages);
                    }
                }
                Err(error) => {
                    failed = Some(FanOutFailed {
                        failed_at: i,
                        error,
                    });
                    break;
                }
            }
        }
        if !messages.is_empty() {
            match self.queue.queue_deliveries(&messages).await {
                Ok(refused) => {
                    done.deliveries = messages.len() - refused.len();
                    for (i, why) in refused {
                        if let Some(message) = messages.get(i) {
                            tracing::error!(
                                transaction_id = %message.transaction_id,
                                event_id = %message.event_id,
                                endpoint_id = %message.endpoint_id,
                                reason = %why,
                                "the queue refuses this delivery as it is; dropped"
                            );
                            tx_shared::metrics::webhook_dropped(message.transaction_id);
                        }
                    }
                }
                Err(not_queued) => {
                    // Handed over again from the record of the first message not queued: the
                    // records before it are done (their messages are on the queue).
                    let from = sources.get(not_queued.first).copied().unwrap_or_default();
                    return Err(FanOutFailed {
                        failed_at: failed.as_ref().map_or(from, |f| f.failed_at.min(from)),
                        error: not_queued.error.into(),
                    });
                }
            }
        }
        match failed {
            Some(failed) => Err(failed),
            None => Ok(done),
        }
    }

    /// One record's events, each kept in its transaction's log: its messages, an event's each.
    async fn events_of_record(
        &self,
        record: &TransactionRecord,
        registries: &mut HashMap<ClientId, Option<Registry>>,
    ) -> Result<Vec<Vec<DeliveryMessage>>, WebhookError> {
        let Some(change) = record.change else {
            return Ok(Vec::new());
        };
        let read;
        let new = match &record.new {
            Some(tx) => tx,
            // A change whose new image this release can't read (removals have none): as the
            // table has it now.
            None if change != tx_shared::metrics::Change::Remove => {
                match self.store.get(record.id).await {
                    Ok(Some(tx)) => {
                        read = tx;
                        &read
                    }
                    Ok(None) => return Ok(Vec::new()),
                    // Nor does the table's item read: nothing this release can do with it, and
                    // it must not hold back the changes behind it.
                    Err(StoreError::Corrupt(why)) => {
                        tracing::error!(
                            transaction_id = %record.id,
                            reason = %why,
                            "a transaction this release can't read; its events are dropped"
                        );
                        tx_shared::metrics::webhook_dropped(record.id);
                        return Ok(Vec::new());
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => return Ok(Vec::new()),
        };
        let Some(client) = new.client.as_ref() else {
            return Ok(Vec::new());
        };
        let kinds = events_of(change, record.old.as_ref(), new);
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        if !registries.contains_key(client) {
            if self.known_without_endpoints(client) {
                return Ok(Vec::new());
            }
            let registry = match self.store.endpoints(client).await {
                Ok(registry) => {
                    self.remember(client, &registry);
                    Some(registry)
                }
                Err(StoreError::Corrupt(why)) => {
                    tracing::error!(
                        client = %client,
                        reason = %why,
                        "a client's webhook endpoints don't read; its events are dropped until they do"
                    );
                    None
                }
                Err(e) => return Err(e.into()),
            };
            registries.insert(client.clone(), registry);
        }
        let Some(Some(registry)) = registries.get(client) else {
            for _ in &kinds {
                tx_shared::metrics::webhook_dropped(new.id);
            }
            return Ok(Vec::new());
        };
        let mut events = Vec::new();
        for kind in kinds {
            let endpoints: Vec<_> = registry.wanting(kind).map(|e| e.id.clone()).collect();
            if endpoints.is_empty() {
                continue;
            }
            let event = Event::of(new, kind);
            let logged = LoggedEvent {
                id: event.id.clone(),
                kind,
                at_ms: (new.updated_at.unix_timestamp_nanos() / 1_000_000) as i64,
                endpoints: endpoints.clone(),
                body: event.body.clone(),
            };
            self.store.log_event(new.id, &logged).await?;
            events.push(
                endpoints
                    .into_iter()
                    .map(|endpoint_id| DeliveryMessage {
                        event_id: event.id.clone(),
                        kind,
                        transaction_id: new.id,
                        client: client.to_string(),
                        endpoint_id,
                        body: event.body.clone(),
                        redelivery: false,
                    })
                    .collect(),
            );
        }
        Ok(events)
    }
}

/// From the webhook queue to the endpoints.
pub struct Deliverer<S> {
    pub store: S,
    pub sender: HttpSender,
    pub backoff: Backoff,
}

impl<S: WebhookStore> Deliverer<S> {
    /// One batch of the webhook queue: each message delivered, failures backed off.
    pub async fn handle<R: tx_shared::ports::Redelivery>(
        &self,
        event: SqsEvent,
        deadline: Deadline,
        redelivery: &R,
    ) -> SqsBatchResponse {
        batch::process(event, deadline, redelivery, |delivery| {
            self.deliver(delivery)
        })
        .await
    }

    /// Posts one message to its endpoint, signed with the endpoint's secrets in force now,
    /// and logs the attempt. A delivery to an endpoint since removed (or no longer subscribed
    /// to the event, unless an operator re-delivers it) is skipped: nothing is sent.
    pub async fn deliver(&self, delivery: Delivery<DeliveryMessage>) -> Result<(), RetryLater> {
        let message = &delivery.message;
        let attempt = delivery.receive_count.max(1);
        let client: ClientId = message
            .client
            .parse()
            .map_err(|e| RetryLater::new(format!("a delivery for no client: {e}")))?;
        let registry = self
            .store
            .endpoints(&client)
            .await
            .map_err(|e| self.backed_off(e.to_string(), attempt))?;
        let endpoint = registry
            .get(&message.endpoint_id)
            .filter(|e| message.redelivery || e.wants(message.kind));
        let Some(endpoint) = endpoint else {
            self.log(message, attempt, AttemptOutcome::Skipped, None, 0, None)
                .await;
            return Ok(());
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = tx_broadcaster_client::webhook::sign(
            &endpoint.secrets_in_force(now),
            u64::try_from(now).unwrap_or_default(),
            message.body.as_bytes(),
        );
        let started = std::time::Instant::now();
        let sent = self.sender.post(&endpoint.url, message, &signature).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (outcome, status, error) = match sent {
            Ok(status) if (200..300).contains(&status) => {
                (AttemptOutcome::Delivered, Some(status), None)
            }
            Ok(status) if (300..400).contains(&status) => (
                AttemptOutcome::Failed,
                Some(status),
                Some(format!(
                    "the endpoint answered {status}; redirects are not followed"
                )),
            ),
            Ok(status) => (
                AttemptOutcome::Failed,
                Some(status),
                Some(format!("the endpoint answered {status}")),
            ),
            Err(SendError::Refused(reason)) => (AttemptOutcome::Refused, None, Some(reason)),
            Err(SendError::Failed(reason)) => (AttemptOutcome::Failed, None, Some(reason)),
        };
        let outcome = match outcome {
            AttemptOutcome::Delivered => outcome,
            _ if self.backoff.is_last(attempt) => AttemptOutcome::GaveUp,
            _ => outcome,
        };
        self.log(message, attempt, outcome, status, latency_ms, error.clone())
            .await;
        let reason = error.unwrap_or_default();
        match outcome {
            AttemptOutcome::Delivered | AttemptOutcome::Skipped => Ok(()),
            AttemptOutcome::GaveUp => {
                tracing::error!(
                    endpoint_id = %message.endpoint_id,
                    event_id = %message.event_id,
                    %reason,
                    "the last webhook attempt failed; the message goes to the dead-letter queue"
                );
                // Back in a second, past the queue's cap: SQS moves it to the dead letters.
                Err(RetryLater::after(reason, Duration::from_secs(1)))
            }
            AttemptOutcome::Failed | AttemptOutcome::Refused => {
                Err(self.backed_off(reason, attempt))
            }
        }
    }

    /// Delivered again after the `attempt`-th failure's backoff (full jitter).
    fn backed_off(&self, reason: String, attempt: u32) -> RetryLater {
        RetryLater::after(reason, self.backoff.delay(attempt, rand::random()).delay)
    }

    /// Logs an attempt (in its transaction's log, and as metrics). A log that can't be
    /// written loses only the line: the delivery's own outcome stands.
    async fn log(
        &self,
        message: &DeliveryMessage,
        attempt: u32,
        outcome: AttemptOutcome,
        status_code: Option<u16>,
        latency_ms: u64,
        error: Option<String>,
    ) {
        let entry = Attempt {
            event_id: message.event_id.clone(),
            endpoint_id: message.endpoint_id.clone(),
            attempt,
            at_ms: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
            outcome,
            status_code,
            latency_ms,
            error,
            redelivery: message.redelivery,
        };
        let name = outcome.as_str();
        tx_shared::metrics::webhook_attempt(name, latency_ms, message.transaction_id);
        tracing::info!(
            client = %message.client,
            endpoint_id = %message.endpoint_id,
            event_id = %message.event_id,
            attempt,
            outcome = %name,
            status_code,
            latency_ms,
            "webhook attempt"
        );
        if let Err(e) = self.store.log_attempt(message.transaction_id, &entry).await {
            tracing::warn!(error = %e, "could not log the webhook attempt");
        }
    }
}

/// The two events the Lambda receives, told apart by their records' source.
#[derive(Debug)]
pub enum WebhookEvent {
    Stream(StreamEvent),
    Queue(SqsEvent),
}

impl WebhookEvent {
    pub fn parse(event: Value) -> Result<Self, WebhookError> {
        let typed = |e: serde_json::Error| WebhookError::UnknownEvent(e.to_string());
        let source = event
            .get("Records")
            .and_then(|records| records.get(0))
            .and_then(|record| {
                record
                    .get("eventSource")
                    .or_else(|| record.get("EventSource"))
            })
            .and_then(Value::as_str);
        match source {
            Some("aws:dynamodb") => serde_json::from_value(event)
                .map(WebhookEvent::Stream)
                .map_err(typed),
            Some("aws:sqs") => serde_json::from_value(event)
                .map(WebhookEvent::Queue)
                .map_err(typed),
            _ => Err(WebhookError::UnknownEvent(
                "neither a stream batch nor a webhook queue batch".into(),
            )),
        }
    }
}

/// What a stream batch's invocation answers: done, or handed back from the record that
/// failed on (Lambda's `batchItemFailures`: the records before it are done). A record without
/// a sequence number fails the batch as a whole.
pub fn stream_answer(
    records: &[TransactionRecord],
    outcome: Result<FannedOut, FanOutFailed>,
) -> Result<Value, WebhookError> {
    match outcome {
        Ok(done) => {
            tracing::debug!(
                events = done.events,
                deliveries = done.deliveries,
                "fanned out"
            );
            Ok(serde_json::json!({}))
        }
        Err(failed) => match records
            .get(failed.failed_at)
            .and_then(|r| r.sequence_number.clone())
        {
            Some(sequence) => {
                tracing::warn!(error = %failed, "fan-out stopped; the rest of the batch comes again");
                Ok(serde_json::json!({
                    "batchItemFailures": [{ "itemIdentifier": sequence }]
                }))
            }
            None => Err(failed.error),
        },
    }
}

/// The Lambda: both halves over AWS.
pub struct AwsWebhooks {
    pub fan_out: FanOut<DynamoStore, SqsQueue>,
    pub deliverer: Deliverer<DynamoStore>,
    pub queue: SqsQueue,
}

impl AwsWebhooks {
    pub fn from_aws(config: &Config, clients: &AwsClients) -> Self {
        let store = DynamoStore::new(clients.dynamodb.clone(), &config.table_name)
            .with_webhook_table(&config.webhook_table_name);
        let queue = SqsQueue::new(clients.sqs.clone(), &config.queue_url);
        AwsWebhooks {
            fan_out: FanOut::new(store.clone(), queue.clone()),
            deliverer: Deliverer {
                store,
                sender: HttpSender::new(config.policy, config.timeout),
                backoff: config.backoff,
            },
            queue,
        }
    }

    /// One invocation: a stream batch (an error fails it, and Lambda retries it) or a queue
    /// batch (failures reported per message).
    pub async fn handle(&self, event: Value, deadline: Deadline) -> Result<Value, WebhookError> {
        match WebhookEvent::parse(event)? {
            WebhookEvent::Stream(batch) => {
                let records = tx_shared::stream::transaction_records(&batch);
                // Boxed, as is the delivery below: the two state machines side by side are
                // deeper than the compiler lays out by default.
                let outcome = Box::pin(self.fan_out.fan_out(&records)).await;
                stream_answer(&records, outcome)
            }
            WebhookEvent::Queue(batch) => {
                let response = Box::pin(self.deliverer.handle(batch, deadline, &self.queue)).await;
                serde_json::to_value(response)
                    .map_err(|e| WebhookError::UnknownEvent(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
