//! A request stored but not queued: the answer must name it, or a client without an
//! Idempotency-Key sends it again and the call runs twice (the sweeper delivers the first).

use axum::body::to_bytes;
use axum::http::Request;
use tower::ServiceExt;
use tx_shared::adapters::memory::MemoryStore;
use tx_shared::ports::{QueueError, SignError, Signature};

use super::*;
use crate::tests::one_chain;

/// How the withdrawal of an unpublished request goes wrong.
#[derive(Clone, Copy)]
enum Trouble {
    /// The delete fails (the table became unreachable after the write); the item stays.
    DeleteFails,
    /// The delete committed, timed out, and its retry was cancelled on the missing item.
    DeletedButCancelled,
    /// The delete fails and so does reading it back.
    StoreGone,
}

/// Stores as DynamoDB does, then has `Trouble` withdrawing.
struct CannotWithdraw(MemoryStore, Trouble);

impl Intake for CannotWithdraw {
    async fn insert_new(&self, new: &NewTransaction) -> Result<Inserted, StoreError> {
        self.0.insert_new(new).await
    }
    async fn discard_unpublished(
        &self,
        tx: &tx_shared::domain::Transaction,
    ) -> Result<bool, StoreError> {
        match self.1 {
            Trouble::DeletedButCancelled => {
                self.0.discard_unpublished(tx).await?;
                Ok(false)
            }
            Trouble::DeleteFails | Trouble::StoreGone => {
                Err(StoreError::Unavailable("the table timed out".into()))
            }
        }
    }
}

impl Reading for CannotWithdraw {
    async fn get(&self, id: TxId) -> Result<Option<tx_shared::domain::Transaction>, StoreError> {
        match self.1 {
            Trouble::StoreGone => Err(StoreError::Unavailable("the table timed out".into())),
            _ => self.0.get(id).await,
        }
    }
    async fn list(&self, query: &ListQuery) -> Result<tx_shared::ports::Page, StoreError> {
        self.0.list(query).await
    }
    async fn count_by_status(
        &self,
        limit: u64,
        scope: tx_shared::ports::CountScope<'_>,
    ) -> Result<tx_shared::ports::StatusCounts, StoreError> {
        self.0.count_by_status(limit, scope).await
    }
    async fn list_overdue(
        &self,
        status: Status,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<tx_shared::domain::Transaction>, StoreError> {
        self.0.list_overdue(status, before, limit).await
    }
}

/// Lanes and nodes: as stored.
impl NonceCounter for CannotWithdraw {
    async fn reserve_nonce(
        &self,
        id: TxId,
        token: &tx_shared::ports::LeaseToken,
        account: tx_shared::ports::Account,
    ) -> Result<tx_shared::ports::NonceReservation, StoreError> {
        self.0.reserve_nonce(id, token, account).await
    }
    async fn seed_nonce(
        &self,
        account: tx_shared::ports::Account,
        next: u64,
    ) -> Result<(), StoreError> {
        self.0.seed_nonce(account, next).await
    }
    async fn resync_nonce(
        &self,
        account: tx_shared::ports::Account,
        next: u64,
    ) -> Result<Option<u64>, StoreError> {
        self.0.resync_nonce(account, next).await
    }
    async fn nonce_counter(
        &self,
        account: tx_shared::ports::Account,
    ) -> Result<Option<tx_shared::ports::CounterState>, StoreError> {
        self.0.nonce_counter(account).await
    }
    async fn rewind_nonce(
        &self,
        account: tx_shared::ports::Account,
        from: u64,
        to: u64,
    ) -> Result<bool, StoreError> {
        self.0.rewind_nonce(account, from, to).await
    }
    async fn nonce_holders(
        &self,
        account: tx_shared::ports::Account,
        from: u64,
        limit: u32,
    ) -> Result<Vec<tx_shared::domain::Transaction>, StoreError> {
        self.0.nonce_holders(account, from, limit).await
    }
    async fn report_lane(
        &self,
        account: tx_shared::ports::Account,
        report: &tx_shared::lanes::LaneReport,
    ) -> Result<(), StoreError> {
        self.0.report_lane(account, report).await
    }
}

impl tx_shared::ports::ProgressLog for CannotWithdraw {
    async fn add_progress(
        &self,
        chain_id: u64,
        minute: i64,
        step: &tx_shared::ports::MinuteProgress,
    ) -> Result<(), StoreError> {
        self.0.add_progress(chain_id, minute, step).await
    }
    async fn progress(
        &self,
        chain_id: u64,
        minutes: std::ops::Range<i64>,
    ) -> Result<Vec<(i64, tx_shared::ports::MinuteProgress)>, StoreError> {
        self.0.progress(chain_id, minutes).await
    }
}

impl NodesHealth for CannotWithdraw {
    async fn report_nodes(
        &self,
        chain_id: u64,
        nodes: &[tx_shared::ports::NodeHealth],
    ) -> Result<(), StoreError> {
        self.0.report_nodes(chain_id, nodes).await
    }
    async fn nodes_health(
        &self,
        chain_id: u64,
    ) -> Result<Option<(Vec<tx_shared::ports::NodeHealth>, time::OffsetDateTime)>, StoreError> {
        self.0.nodes_health(chain_id).await
    }
}

struct DownTopic;

impl RequestPublisher for DownTopic {
    async fn publish(&self, _: &TxMessage) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("SNS: throttled".into()))
    }
}

struct NoKey;

impl TransactionSigner for NoKey {
    async fn address(&self) -> Result<Address, SignError> {
        Ok(Address::repeat_byte(0xab))
    }
    async fn sign(&self, _: alloy::consensus::TxEip1559) -> Result<Signature, SignError> {
        Err(SignError::Failed("not here".into()))
    }
}

/// POSTs a ping with the topic down and `trouble` withdrawing; the 503's body and the store.
async fn unqueued(trouble: Trouble) -> (serde_json::Value, MemoryStore) {
    const KEY: &str = "alice-key-0123456789";
    let auth = Authenticator::Local(tx_shared::auth::LocalAuth {
        api_keys: tx_shared::auth::ApiKeys::parse(&format!("alice:{KEY}"))
            .unwrap_or_else(|e| panic!("{e}")),
        admin_token: "admin-token-0123456789".into(),
    });
    let store = CannotWithdraw(MemoryStore::new(), trouble);
    let app = Arc::new(
        App::new(
            store,
            DownTopic,
            one_chain(MessageTypePolicy::allow_all(), KeyPool::one(NoKey)),
            None,
        )
        .with_auth(auth),
    );
    let request = Request::post("/transaction/broadcast")
        .header("content-type", "application/json")
        .header("x-api-key", KEY)
        .body(Body::from(
            r#"{"message_type":"ping()","data":"0x5c36b186"}"#,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let response = router(app.clone())
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "not_queued");
    assert!(
        !body.to_string().contains("timed out") && !body.to_string().contains("SNS"),
        "no internals: {body}"
    );
    let Ok(app) = Arc::try_unwrap(app) else {
        panic!("the app is still shared");
    };
    (body, app.store.0)
}

fn named(body: &serde_json::Value) -> Option<TxId> {
    body["error"]["transaction_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
}

#[tokio::test]
async fn a_request_stored_but_not_queued_is_named_in_the_503() {
    let (body, store) = unqueued(Trouble::DeleteFails).await;
    let id = named(&body).unwrap_or_else(|| panic!("no transaction_id: {body}"));
    let stored = store.get(id).await.ok().flatten();
    assert_eq!(stored.map(|tx| tx.status), Some(Status::Received));
}

#[tokio::test]
async fn a_withdrawal_whose_retry_was_cancelled_is_read_back_as_withdrawn() {
    let (body, store) = unqueued(Trouble::DeletedButCancelled).await;
    assert_eq!(
        named(&body),
        None,
        "nothing stored, nothing to follow: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("was not stored; retry it"), "{body}");
    let listed = store
        .count_by_status(10, Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.counts.iter().map(|(_, n)| n).sum::<u64>(), 0);
}

#[tokio::test]
async fn a_withdrawal_nobody_can_confirm_names_the_transaction_to_look_up() {
    let (body, _) = unqueued(Trouble::StoreGone).await;
    let id = named(&body).unwrap_or_else(|| panic!("no transaction_id: {body}"));
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("not known yet") && message.contains(&id.to_string()),
        "{body}"
    );
}

impl tx_shared::ports::WebhookStore for CannotWithdraw {
    async fn endpoints(
        &self,
        client: &tx_shared::auth::ClientId,
    ) -> Result<tx_shared::webhooks::Registry, StoreError> {
        self.0.endpoints(client).await
    }
    async fn save_endpoints(
        &self,
        client: &tx_shared::auth::ClientId,
        registry: &tx_shared::webhooks::Registry,
    ) -> Result<bool, StoreError> {
        self.0.save_endpoints(client, registry).await
    }
    async fn log_event(
        &self,
        tx: TxId,
        event: &tx_shared::webhooks::LoggedEvent,
    ) -> Result<(), StoreError> {
        self.0.log_event(tx, event).await
    }
    async fn log_attempt(
        &self,
        tx: TxId,
        attempt: &tx_shared::webhooks::Attempt,
    ) -> Result<(), StoreError> {
        self.0.log_attempt(tx, attempt).await
    }
    async fn deliveries(&self, tx: TxId) -> Result<tx_shared::webhooks::DeliveryLog, StoreError> {
        self.0.deliveries(tx).await
    }
}
