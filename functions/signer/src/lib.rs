//! Signer: turns a received request into a signed EIP-1559 transaction.
//!
//! For each message: claim the transaction (a lease, so concurrent deliveries don't both sign),
//! plan gas and fees, take a nonce atomically (once per transaction, ever), sign through KMS,
//! store the signed bytes, and hand the transaction to the broadcaster. A redelivered message
//! finds the stored signed transaction and only re-enqueues it: it never signs a second one.
//!
//! Failures are classified once: a failure that may pass (node or KMS unavailable, throttled,
//! slow) is retried with backoff through the message's visibility timeout; a call that reverts
//! ends `reverted` without being sent; anything else ends `needs_review`.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy::consensus::TxEip1559;
use alloy::primitives::{Address, TxKind, U256};
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tx_shared::adapters::{dynamo::DynamoStore, kms::KmsSigner, rpc::RpcNode, sqs::SqsQueue};
use tx_shared::backoff::Backoff;
use tx_shared::batch::{self, RetryLater};
use tx_shared::config::{ConfigError, Env};
use tx_shared::domain::{SignedTx, Status, Transaction, TxId, TxMessage};
use tx_shared::nonce_filler::fill_for;
use tx_shared::ports::{
    Account, BroadcastQueue, ChainNode, Claim, LeaseToken, NodeError, NonceReservation, Redelivery,
    StoreError, TransactionSigner, TransactionStore,
};
use tx_shared::retry::schedule_retry;

/// The signer's configuration, from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub table_name: String,
    pub sign_queue_url: String,
    /// Operators' retries arrive here, ahead of the backlog.
    pub sign_priority_queue_url: Option<String>,
    pub broadcast_queue_url: String,
    pub kms_key_id: String,
    pub rpc_url: String,
    pub chain_id: u64,
    pub target_contract: Address,
    pub target_overrides: BTreeMap<String, Address>,
    pub rpc_timeout: Duration,
    pub signing_lease: Duration,
    pub backoff: Backoff,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
            sign_queue_url: env.required("SIGN_QUEUE_URL")?,
            sign_priority_queue_url: env.optional("SIGN_PRIORITY_QUEUE_URL")?,
            broadcast_queue_url: env.required("BROADCAST_QUEUE_URL")?,
            kms_key_id: env.required("KMS_KEY_ID")?,
            rpc_url: env.required("RPC_URL")?,
            chain_id: env.required("CHAIN_ID")?,
            target_contract: env.required("TARGET_CONTRACT")?,
            target_overrides: env.target_overrides("TARGET_CONTRACTS")?,
            rpc_timeout: Duration::from_millis(env.or_default("RPC_TIMEOUT_MS", 45_000)?),
            signing_lease: Duration::from_secs(env.or_default("SIGNING_LEASE_SECONDS", 120)?),
            backoff: env.backoff()?,
        })
    }
}

/// The signer's collaborators. Generic over the ports so the logic reads against the domain.
pub struct Signer<S, Q, R, N, K> {
    pub store: S,
    pub queue: Q,
    /// The sign queue itself: retries are delayed through its visibility timeout.
    pub redelivery: R,
    pub node: N,
    pub key: K,
    pub chain_id: u64,
    pub target_contract: Address,
    pub target_overrides: BTreeMap<String, Address>,
    pub signing_lease: Duration,
    pub backoff: Backoff,
}

/// The signer as deployed: DynamoDB, SQS, JSON-RPC and KMS.
pub type AwsSigner = Signer<DynamoStore, SqsQueue, SqsQueue, RpcNode, KmsSigner>;

impl AwsSigner {
    pub fn from_aws(config: &Config, sdk: &SdkConfig) -> Result<Self, NodeError> {
        let sqs = tx_shared::aws::sqs(sdk);
        Ok(Signer {
            store: DynamoStore::new(tx_shared::aws::dynamodb(sdk), &config.table_name),
            queue: SqsQueue::new(sqs.clone(), &config.broadcast_queue_url),
            redelivery: config.sign_priority_queue_url.iter().fold(
                SqsQueue::new(sqs, &config.sign_queue_url),
                |queue, priority| queue.with_sibling(priority),
            ),
            node: RpcNode::new(&config.rpc_url, config.rpc_timeout)?,
            key: KmsSigner::new(tx_shared::aws::kms(sdk), &config.kms_key_id),
            chain_id: config.chain_id,
            target_contract: config.target_contract,
            target_overrides: config.target_overrides.clone(),
            signing_lease: config.signing_lease,
            backoff: config.backoff,
        })
    }
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Signed(SignedTx),
    /// Already signed earlier: the stored transaction was handed to the broadcaster again.
    AlreadySigned,
    /// Past signing already (broadcast or final): nothing to do.
    NothingToDo(Status),
    /// No such transaction (its request failed to publish and was withdrawn).
    Unknown,
    /// The call reverts when estimated: `reverted`, never sent.
    Reverted,
    /// A failure that can't pass by itself: `needs_review`.
    NeedsReview,
}

/// Why signing one transaction failed, classified once.
enum Failure {
    /// May pass: retry with backoff.
    Transient(String),
    /// The call reverts.
    Reverts(String),
    /// Will not pass by itself.
    Permanent(String),
    /// Another invocation signed it first: the redelivery finds its result.
    LostRace(String),
}

impl Failure {
    /// While planning and signing nothing is sent yet, so only two node answers are final: the
    /// call reverts, or the node refuses the request as such. Pool answers ("already known",
    /// "nonce too low", …) can only be noise here, and pass.
    fn node(err: NodeError) -> Self {
        match err {
            NodeError::Reverted(why) => Failure::Reverts(why),
            e @ NodeError::Rejected { .. } => Failure::Permanent(e.to_string()),
            e => Failure::Transient(e.to_string()),
        }
    }

    fn store(err: StoreError) -> Self {
        match err {
            lost @ StoreError::Conflict { .. } => Failure::LostRace(lost.to_string()),
            e if e.is_retryable() => Failure::Transient(e.to_string()),
            e => Failure::Permanent(e.to_string()),
        }
    }

    fn key(err: tx_shared::ports::SignError) -> Self {
        if err.is_retryable() {
            Failure::Transient(err.to_string())
        } else {
            Failure::Permanent(err.to_string())
        }
    }
}

impl<S, Q, R, N, K> Signer<S, Q, R, N, K>
where
    S: TransactionStore,
    Q: BroadcastQueue,
    R: Redelivery,
    N: ChainNode,
    K: TransactionSigner,
{
    /// The Lambda entry point: every record concurrently, failures reported per record.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        batch::process(event, &self.redelivery, |delivery| async move {
            self.sign(delivery.message.transaction_id, delivery.receive_count)
                .await
                .map(|_| ())
        })
        .await
    }

    /// Signs one transaction; `attempt` is the message's receive count.
    pub async fn sign(&self, id: TxId, attempt: u32) -> Result<Outcome, RetryLater> {
        let claim = match self.store.claim_for_signing(id, self.signing_lease).await {
            Ok(claim) => claim,
            Err(e) => return Err(self.retry(id, attempt, &e.to_string()).await),
        };
        match claim {
            Claim::Missing => {
                tracing::warn!(
                    "no such transaction; its request was withdrawn after a failed publish"
                );
                Ok(Outcome::Unknown)
            }
            Claim::Held => Err(RetryLater::new(
                "another invocation is signing this transaction",
            )),
            Claim::AlreadySigned(tx) => self.hand_over_again(&tx).await,
            Claim::Granted { tx, token } => match self.sign_claimed(&tx, &token).await {
                Ok(signed) => {
                    tracing::info!(nonce = signed.nonce, tx_hash = %signed.hash, "signed");
                    self.enqueue(&tx).await?;
                    Ok(Outcome::Signed(signed))
                }
                Err(failure) => {
                    if let Err(e) = self.store.release_claim(id, &token).await {
                        tracing::warn!(error = %e, "could not release the signing lease; it will expire");
                    }
                    self.fail(id, attempt, failure).await
                }
            },
        }
    }

    async fn fail(&self, id: TxId, attempt: u32, failure: Failure) -> Result<Outcome, RetryLater> {
        match failure {
            Failure::Transient(reason) => Err(self.retry(id, attempt, &reason).await),
            Failure::LostRace(reason) => Err(RetryLater::new(reason)),
            Failure::Reverts(reason) => {
                tracing::warn!(%reason, "the call reverts; not sending it");
                self.settle(id, self.store.record_reverted_unsent(id, &reason).await)?;
                self.fill_gap(id).await;
                Ok(Outcome::Reverted)
            }
            Failure::Permanent(reason) => {
                tracing::error!(%reason, "signing failed for good; the transaction needs review");
                self.settle(id, self.store.record_needs_review(id, &reason).await)?;
                self.fill_gap(id).await;
                Ok(Outcome::NeedsReview)
            }
        }
    }

    /// A final verdict was recorded, or someone else already moved the transaction on.
    fn settle(&self, id: TxId, recorded: Result<(), StoreError>) -> Result<(), RetryLater> {
        match recorded {
            Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => {
                tracing::warn!(transaction_id = %id, error = %e, "could not record the verdict");
                Err(RetryLater::new(e.to_string()))
            }
        }
    }

    async fn retry(&self, id: TxId, attempt: u32, reason: &str) -> RetryLater {
        schedule_retry(&self.store, &self.backoff, id, attempt, reason).await
    }

    async fn sign_claimed(
        &self,
        tx: &Transaction,
        token: &LeaseToken,
    ) -> Result<SignedTx, Failure> {
        let from = self.key.address().await.map_err(Failure::key)?;
        let to = self
            .target_overrides
            .get(&tx.function_signature)
            .copied()
            .unwrap_or(self.target_contract);
        // Plan gas before taking a nonce: a call that can't even be estimated takes none.
        let plan = self
            .node
            .plan_gas(from, to, &tx.data)
            .await
            .map_err(Failure::node)?;
        let nonce = match tx.nonce {
            // A previous attempt took a nonce and failed before storing its signature: reuse it.
            Some(nonce) => nonce,
            None => {
                self.reserve_nonce(
                    tx.id,
                    token,
                    Account {
                        chain_id: self.chain_id,
                        address: from,
                    },
                )
                .await?
            }
        };
        let unsigned = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: plan.gas_limit,
            max_fee_per_gas: plan.max_fee_per_gas,
            max_priority_fee_per_gas: plan.max_priority_fee_per_gas,
            to: TxKind::Call(to),
            value: U256::ZERO,
            access_list: Default::default(),
            input: tx.data.clone(),
        };
        let signature = self.key.sign(unsigned).await.map_err(Failure::key)?;
        let signed = SignedTx {
            nonce,
            from,
            to,
            gas_limit: plan.gas_limit,
            max_fee_per_gas: plan.max_fee_per_gas,
            max_priority_fee_per_gas: plan.max_priority_fee_per_gas,
            hash: signature.hash,
            raw: signature.raw,
        };
        // Our lease may have run out and another invocation signed first: then this signature
        // is dropped unseen, and the redelivery hands theirs over.
        self.store
            .record_signed(tx.id, token, &signed)
            .await
            .map_err(Failure::store)?;
        Ok(signed)
    }

    async fn reserve_nonce(
        &self,
        id: TxId,
        token: &LeaseToken,
        account: Account,
    ) -> Result<u64, Failure> {
        for seeded in [false, true] {
            match self
                .store
                .reserve_nonce(id, token, account)
                .await
                .map_err(Failure::store)?
            {
                NonceReservation::Assigned(nonce) => return Ok(nonce),
                NonceReservation::Uninitialized if !seeded => {
                    let next = self
                        .node
                        .pending_nonce(account.address)
                        .await
                        .map_err(Failure::node)?;
                    tracing::info!(address = %account.address, next, "seeding the nonce counter from the chain");
                    self.store
                        .seed_nonce(account, next)
                        .await
                        .map_err(Failure::store)?;
                }
                NonceReservation::Uninitialized => {}
            }
        }
        Err(Failure::Transient(
            "nonce counter vanished after seeding".into(),
        ))
    }

    /// A transaction that holds a nonce but will never be sent must not block later nonces.
    async fn fill_gap(&self, id: TxId) {
        let Ok(Some(tx)) = self.store.get(id).await else {
            return;
        };
        let (Some(nonce), None) = (tx.nonce, tx.signed.as_ref()) else {
            return;
        };
        fill_for(&self.store, &self.node, &self.key, self.chain_id, id, nonce).await;
    }

    async fn hand_over_again(&self, tx: &Transaction) -> Result<Outcome, RetryLater> {
        let handed_over =
            matches!(tx.status, Status::Signed | Status::Retrying) && tx.signed.is_some();
        if !handed_over {
            return Ok(Outcome::NothingToDo(tx.status));
        }
        tracing::info!("already signed; handing the stored transaction to the broadcaster again");
        self.enqueue(tx).await?;
        Ok(Outcome::AlreadySigned)
    }

    async fn enqueue(&self, tx: &Transaction) -> Result<(), RetryLater> {
        self.queue
            .enqueue(&TxMessage::of(tx), Duration::ZERO)
            .await
            .map_err(|e| RetryLater::new(e.to_string()))
    }
}
