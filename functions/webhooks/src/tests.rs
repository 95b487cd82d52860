//! The deliverer against real HTTP receivers on this machine, and the in-memory store (whose
//! contract with DynamoDB is `tests/store_contract.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tx_broadcaster_client::webhook;
use tx_shared::adapters::memory::MemoryStore;
use tx_shared::auth::ClientId;
use tx_shared::domain::TxId;
use tx_shared::ports::{QueueError, WebhookQueue, WebhookStore};
use tx_shared::stream::TransactionRecord;
use tx_shared::webhooks::{
    AddressPolicy, AttemptOutcome, DeliveryMessage, Endpoint, EventKind, NewEndpoint,
};

use super::*;

const LOCAL: AddressPolicy = AddressPolicy::LOOPBACK_ONLY;

/// What a receiver got: each request's headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A receiver on this machine answering `status` (with `Location` when given) after `delay`.
async fn receiver(status: u16, location: Option<String>, delay: Duration) -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                move |State(received): State<Received>, headers: HeaderMap, body: String| {
                    let location = location.clone();
                    async move {
                        received
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((headers, body));
                        tokio::time::sleep(delay).await;
                        let mut answer = HeaderMap::new();
                        if let Some(to) = location.and_then(|l| l.parse().ok()) {
                            answer.insert("location", to);
                        }
                        (
                            StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
                            answer,
                        )
                    }
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/hook"), received)
}

fn alice() -> ClientId {
    "alice".parse().unwrap_or_else(|e| panic!("{e}"))
}

/// An endpoint of alice's at `url`, stored; skipping the URL check (to store what a check
/// under another policy, or a later DNS answer, would let through).
async fn registered(store: &MemoryStore, url: &str, events: &[&str]) -> Endpoint {
    let events: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
    let mut endpoint = Endpoint::register(
        &NewEndpoint {
            url: "https://hooks.example.com/",
            events: &events,
            description: None,
        },
        AddressPolicy::PUBLIC_ONLY,
        time::OffsetDateTime::now_utc().unix_timestamp(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    endpoint.url = url.to_owned();
    let mut registry = store
        .endpoints(&alice())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    registry
        .add(endpoint.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.save_endpoints(&alice(), &registry).await.ok(),
        Some(true)
    );
    endpoint
}

fn message(endpoint: &Endpoint, kind: EventKind) -> DeliveryMessage {
    DeliveryMessage {
        event_id: "evt_00000000000000000000000000000001".into(),
        kind,
        transaction_id: TxId::generate(),
        client: "alice".into(),
        endpoint_id: endpoint.id.clone(),
        body: r#"{"id":"evt_00000000000000000000000000000001","type":"confirmed"}"#.into(),
        redelivery: false,
    }
}

fn delivery(message: DeliveryMessage, attempt: u32) -> Delivery<DeliveryMessage> {
    Delivery {
        message,
        message_id: "m-1".into(),
        queue_arn: None,
        receive_count: attempt,
    }
}

fn deliverer(
    store: &MemoryStore,
    policy: AddressPolicy,
    timeout: Duration,
) -> Deliverer<MemoryStore> {
    Deliverer {
        store: store.clone(),
        sender: HttpSender::new(policy, timeout),
        backoff: Backoff::new(Duration::from_secs(2), 2.0, Duration::from_secs(60), 3)
            .unwrap_or_else(|e| panic!("{e}")),
    }
}

async fn attempts(store: &MemoryStore, tx: TxId) -> Vec<tx_shared::webhooks::Attempt> {
    store
        .deliveries(tx)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .attempts
}

#[tokio::test]
async fn a_delivery_is_signed_with_the_endpoints_secret_and_logged() {
    let store = MemoryStore::new();
    let (url, received) = receiver(204, None, Duration::ZERO).await;
    let endpoint = registered(&store, &url, &["confirmed"]).await;
    let message = message(&endpoint, EventKind::Confirmed);
    let outcome = deliverer(&store, LOCAL, Duration::from_secs(5))
        .deliver(delivery(message.clone(), 1))
        .await;
    assert_eq!(outcome, Ok(()));
    let received = received.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(received.len(), 1);
    let (headers, body) = &received[0];
    assert_eq!(body, &message.body);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        headers["tx-broadcaster-event-id"],
        message.event_id.as_str()
    );
    assert_eq!(headers["tx-broadcaster-event"], "confirmed");
    let signature = headers[webhook::SIGNATURE_HEADER]
        .to_str()
        .unwrap_or_default();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let secrets = endpoint.secrets_in_force(0);
    assert_eq!(
        webhook::verify(signature, body.as_bytes(), &secrets, now, 300),
        Ok(())
    );
    assert!(webhook::verify(signature, body.as_bytes(), &["whsec_other"], now, 300).is_err());
    let log = attempts(&store, message.transaction_id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].outcome, log[0].status_code, log[0].attempt),
        (AttemptOutcome::Delivered, Some(204), 1)
    );
    assert_eq!(log[0].error, None);
}

#[tokio::test]
async fn a_failure_backs_off_with_jitter_and_the_last_attempt_gives_up() {
    let store = MemoryStore::new();
    let (url, received) = receiver(500, None, Duration::ZERO).await;
    let endpoint = registered(&store, &url, &["confirmed"]).await;
    let message = message(&endpoint, EventKind::Confirmed);
    let deliverer = deliverer(&store, LOCAL, Duration::from_secs(5));
    for attempt in 1..=2 {
        let retry = deliverer
            .deliver(delivery(message.clone(), attempt))
            .await
            .err()
            .unwrap_or_else(|| panic!("a 500 was taken as delivered"));
        let ceiling = deliverer.backoff.ceiling(attempt);
        assert!(
            retry.after.is_some_and(|after| after <= ceiling),
            "{retry:?}"
        );
        assert_eq!(retry.reason, "the endpoint answered 500");
    }
    let last = deliverer.deliver(delivery(message.clone(), 3)).await;
    assert!(
        last.is_err(),
        "the last failure must leave the message to the dead letters"
    );
    assert_eq!(received.lock().unwrap_or_else(|e| e.into_inner()).len(), 3);
    let log = attempts(&store, message.transaction_id).await;
    let outcomes: Vec<_> = log.iter().map(|a| (a.attempt, a.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (1, AttemptOutcome::Failed),
            (2, AttemptOutcome::Failed),
            (3, AttemptOutcome::GaveUp)
        ]
    );
    assert!(log.iter().all(|a| a.status_code == Some(500)));
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let store = MemoryStore::new();
    let (elsewhere, reached) = receiver(200, None, Duration::ZERO).await;
    let (url, _) = receiver(307, Some(elsewhere), Duration::ZERO).await;
    let endpoint = registered(&store, &url, &["confirmed"]).await;
    let message = message(&endpoint, EventKind::Confirmed);
    let outcome = deliverer(&store, LOCAL, Duration::from_secs(5))
        .deliver(delivery(message.clone(), 1))
        .await;
    assert!(outcome.is_err());
    assert!(reached.lock().unwrap_or_else(|e| e.into_inner()).is_empty());
    let log = attempts(&store, message.transaction_id).await;
    assert_eq!(log[0].status_code, Some(307));
    assert_eq!(
        log[0].error.as_deref(),
        Some("the endpoint answered 307; redirects are not followed")
    );
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_in_time_fails_the_attempt() {
    let store = MemoryStore::new();
    let (url, _) = receiver(200, None, Duration::from_secs(30)).await;
    let endpoint = registered(&store, &url, &["confirmed"]).await;
    let message = message(&endpoint, EventKind::Confirmed);
    let started = std::time::Instant::now();
    let outcome = deliverer(&store, LOCAL, Duration::from_secs(1))
        .deliver(delivery(message.clone(), 1))
        .await;
    assert!(outcome.is_err());
    assert!(started.elapsed() < Duration::from_secs(20));
    let log = attempts(&store, message.transaction_id).await;
    assert_eq!(
        (log[0].outcome, log[0].error.as_deref()),
        (AttemptOutcome::Failed, Some("no answer within 1 s"))
    );
}

#[tokio::test]
async fn on_aws_a_name_resolving_to_a_private_address_is_refused_before_connecting() {
    let store = MemoryStore::new();
    let (url, received) = receiver(200, None, Duration::ZERO).await;
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .unwrap_or("0");
    // A public-looking name whose DNS answer is this machine (a rebinding attack's second
    // answer), and the metadata endpoint by name.
    let endpoint = registered(
        &store,
        &format!("https://hooks.example.com:{port}/hook"),
        &["confirmed"],
    )
    .await;
    let metadata = registered(
        &store,
        "https://metadata.example.com/latest",
        &["confirmed"],
    )
    .await;
    let deliverer = Deliverer {
        sender: HttpSender::new(AddressPolicy::PUBLIC_ONLY, Duration::from_secs(5))
            .with_host(
                "hooks.example.com",
                "127.0.0.1".parse().unwrap_or_else(|e| panic!("{e}")),
            )
            .with_host(
                "metadata.example.com",
                "169.254.169.254".parse().unwrap_or_else(|e| panic!("{e}")),
            ),
        ..deliverer(&store, AddressPolicy::PUBLIC_ONLY, Duration::from_secs(5))
    };
    for endpoint in [&endpoint, &metadata] {
        let message = message(endpoint, EventKind::Confirmed);
        assert!(
            deliverer
                .deliver(delivery(message.clone(), 1))
                .await
                .is_err()
        );
        let log = attempts(&store, message.transaction_id).await;
        assert_eq!(log[0].outcome, AttemptOutcome::Refused);
        assert_eq!(
            log[0].error.as_deref(),
            Some("the host resolves to a private, loopback, link-local or reserved address")
        );
    }
    // An address stored plainly (from a release that checked less) is refused as well.
    let plain = registered(&store, &url, &["confirmed"]).await;
    let message = message(&plain, EventKind::Confirmed);
    assert!(
        deliverer
            .deliver(delivery(message.clone(), 1))
            .await
            .is_err()
    );
    assert_eq!(
        attempts(&store, message.transaction_id).await[0].outcome,
        AttemptOutcome::Refused
    );
    assert!(
        received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    );
}

#[tokio::test]
async fn an_endpoint_removed_or_no_longer_subscribed_gets_nothing_unless_an_operator_redelivers() {
    let store = MemoryStore::new();
    let (url, received) = receiver(200, None, Duration::ZERO).await;
    let endpoint = registered(&store, &url, &["accepted"]).await;
    let deliverer = deliverer(&store, LOCAL, Duration::from_secs(5));
    let unwanted = message(&endpoint, EventKind::Confirmed);
    assert_eq!(
        deliverer.deliver(delivery(unwanted.clone(), 1)).await,
        Ok(())
    );
    assert_eq!(
        attempts(&store, unwanted.transaction_id).await[0].outcome,
        AttemptOutcome::Skipped
    );
    assert!(
        received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    );
    // An operator's re-delivery of an event the endpoint was sent once goes.
    let again = DeliveryMessage {
        redelivery: true,
        ..unwanted
    };
    assert_eq!(deliverer.deliver(delivery(again, 1)).await, Ok(()));
    assert_eq!(received.lock().unwrap_or_else(|e| e.into_inner()).len(), 1);
    let mut removed = message(&endpoint, EventKind::Accepted);
    removed.endpoint_id = tx_shared::webhooks::EndpointId::generate();
    assert_eq!(
        deliverer.deliver(delivery(removed.clone(), 1)).await,
        Ok(())
    );
    assert_eq!(
        attempts(&store, removed.transaction_id).await[0].outcome,
        AttemptOutcome::Skipped
    );
}

#[tokio::test]
async fn during_a_rotation_a_delivery_verifies_with_the_old_secret_and_the_new() {
    let store = MemoryStore::new();
    let (url, received) = receiver(200, None, Duration::ZERO).await;
    let endpoint = registered(&store, &url, &["confirmed"]).await;
    let old = endpoint.secrets_in_force(0)[0].to_owned();
    let mut registry = store
        .endpoints(&alice())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let new = registry
        .get_mut(&endpoint.id)
        .map(|e| e.rotate(now, Duration::from_secs(3600)))
        .unwrap_or_else(|| panic!("the endpoint"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.save_endpoints(&alice(), &registry).await.ok(),
        Some(true)
    );
    let message = message(&endpoint, EventKind::Confirmed);
    assert_eq!(
        deliverer(&store, LOCAL, Duration::from_secs(5))
            .deliver(delivery(message, 1))
            .await,
        Ok(())
    );
    let received = received.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (headers, body) = &received[0];
    let signature = headers[webhook::SIGNATURE_HEADER]
        .to_str()
        .unwrap_or_default();
    let now = now as u64;
    for secret in [old.as_str(), new.expose()] {
        assert_eq!(
            webhook::verify(signature, body.as_bytes(), &[secret], now, 300),
            Ok(())
        );
    }
}

#[test]
fn the_lambda_tells_its_two_event_sources_apart() {
    let read = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("{e}"));
    // The samples `cargo lambda invoke` takes.
    let stream = read(include_str!("../../../events/notifier-stream.json"));
    assert!(matches!(
        WebhookEvent::parse(stream),
        Ok(WebhookEvent::Stream(_))
    ));
    let queue = read(include_str!("../../../events/webhooks-sqs.json"));
    let Ok(WebhookEvent::Queue(batch)) = WebhookEvent::parse(queue) else {
        panic!("the queue sample is not a queue batch");
    };
    let body = batch.records[0].body.as_deref().unwrap_or_default();
    assert!(serde_json::from_str::<DeliveryMessage>(body).is_ok());
    assert!(WebhookEvent::parse(serde_json::json!({ "Records": [] })).is_err());
    assert!(WebhookEvent::parse(serde_json::json!("hello")).is_err());
}

/// A queue that takes messages until `fail_from` (then answers that none from there on is
/// queued), and refuses the ones listed in `refuse` as SQS refuses a message as it is.
#[derive(Default)]
struct ScriptedQueue {
    fail_from: Option<usize>,
    refuse: Vec<usize>,
    queued: Mutex<Vec<DeliveryMessage>>,
}

impl WebhookQueue for ScriptedQueue {
    async fn queue_deliveries(
        &self,
        messages: &[DeliveryMessage],
    ) -> Result<Vec<(usize, String)>, tx_shared::ports::NotQueued> {
        let upto = self.fail_from.unwrap_or(messages.len()).min(messages.len());
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        for (i, message) in messages.iter().enumerate().take(upto) {
            if !self.refuse.contains(&i) {
                queued.push(message.clone());
            }
        }
        if upto < messages.len() {
            return Err(tx_shared::ports::NotQueued {
                first: upto,
                error: QueueError::Unavailable("throttled".into()),
            });
        }
        Ok(self
            .refuse
            .iter()
            .map(|&i| (i, "too large".to_owned()))
            .collect())
    }
}

/// `count` records of alice's transactions confirming, each with its sequence number.
fn confirmations(count: usize) -> Vec<TransactionRecord> {
    (0..count)
        .map(|i| {
            let mut old =
                tx_shared::domain::Transaction::received(&tx_shared::domain::NewTransaction {
                    id: TxId::generate(),
                    message_type: "f()".into(),
                    function_signature: "f()".into(),
                    data: Default::default(),
                    chain_id: 31337,
                    client: alice(),
                    idempotency: None,
                    created_at: time::OffsetDateTime::now_utc(),
                });
            old.status = tx_shared::domain::Status::Broadcast;
            let mut new = old.clone();
            new.status = tx_shared::domain::Status::Confirmed;
            TransactionRecord {
                id: new.id,
                change: Some(tx_shared::metrics::Change::Modify),
                old: Some(old),
                new: Some(new),
                sequence_number: Some(format!("seq-{i}")),
            }
        })
        .collect()
}

#[tokio::test]
async fn a_batch_that_could_not_all_be_queued_is_handed_back_from_the_first_record_not_queued() {
    let store = MemoryStore::new();
    // Two endpoints: two messages per record.
    registered(&store, "https://a.example.com/", &["confirmed"]).await;
    registered(&store, "https://b.example.com/", &["confirmed"]).await;
    let records = confirmations(3);
    let fan_out = FanOut::new(
        store.clone(),
        ScriptedQueue {
            fail_from: Some(3),
            ..ScriptedQueue::default()
        },
    );
    let outcome = fan_out.fan_out(&records).await;
    // Messages 0 and 1 (record 0) and 2 (record 1's first) were queued; 3 on were not.
    let failed_at = outcome.as_ref().err().map(|f| f.failed_at);
    assert_eq!(failed_at, Some(1));
    assert_eq!(
        stream_answer(&records, outcome).ok(),
        Some(serde_json::json!({ "batchItemFailures": [{ "itemIdentifier": "seq-1" }] }))
    );
    assert_eq!(fan_out.queue.queued.lock().map(|q| q.len()).unwrap_or(0), 3);
    // Every event was kept in its log before queueing: a retry from record 1 finds them kept.
    for record in &records {
        let log = store
            .deliveries(record.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log.events.len(), 1);
    }
}

#[tokio::test]
async fn a_message_the_queue_refuses_as_it_is_is_dropped_and_the_rest_go() {
    let store = MemoryStore::new();
    registered(&store, "https://a.example.com/", &["confirmed"]).await;
    let records = confirmations(3);
    let fan_out = FanOut::new(
        store.clone(),
        ScriptedQueue {
            refuse: vec![1],
            ..ScriptedQueue::default()
        },
    );
    let done = fan_out
        .fan_out(&records)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        done,
        FannedOut {
            events: 3,
            deliveries: 2
        }
    );
    assert_eq!(
        stream_answer(&records, Ok(done)).ok(),
        Some(serde_json::json!({}))
    );
    // Without a sequence number to hand back from, the batch fails whole.
    let mut unnumbered = confirmations(1);
    unnumbered[0].sequence_number = None;
    let failed = FanOutFailed {
        failed_at: 0,
        error: WebhookError::UnknownEvent("x".into()),
    };
    assert!(stream_answer(&unnumbered, Err(failed)).is_err());
}

#[tokio::test]
async fn a_client_without_endpoints_is_read_once_in_a_while_and_one_with_endpoints_every_batch() {
    let store = MemoryStore::new();
    let fan_out = FanOut::new(store.clone(), ScriptedQueue::default());
    // No endpoints: read once, then taken as none for a while.
    let records = confirmations(2);
    let done = fan_out
        .fan_out(&records)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done, FannedOut::default());
    assert!(fan_out.known_without_endpoints(&alice()));
    // Its first endpoint: heard once the while is over (a test can't wait it out; forget).
    registered(&store, "https://a.example.com/", &["confirmed"]).await;
    assert_eq!(
        fan_out
            .fan_out(&confirmations(1))
            .await
            .map(|d| d.events)
            .ok(),
        Some(0)
    );
    fan_out
        .no_endpoints
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    assert_eq!(
        fan_out
            .fan_out(&confirmations(1))
            .await
            .map(|d| d.events)
            .ok(),
        Some(1)
    );
    // With endpoints it is not remembered: a removal holds for the next batch.
    assert!(!fan_out.known_without_endpoints(&alice()));
}
