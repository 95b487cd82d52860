//! Signer: turns a received request into a signed EIP-1559 transaction.
//!
//! For each message: claim the transaction (a lease, so concurrent deliveries don't both sign),
//! plan gas and fees, take a nonce atomically (once per transaction, ever), sign through KMS,
//! store the signed bytes, and hand the transaction to the broadcaster. A redelivered message
//! finds the stored signed transaction and only re-enqueues it: it never signs a second one.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy::consensus::TxEip1559;
use alloy::primitives::{Address, TxKind, U256};
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tx_shared::adapters::{dynamo::DynamoStore, kms::KmsSigner, rpc::RpcNode, sqs::SqsQueue};
use tx_shared::batch::{self, RetryLater};
use tx_shared::config::{ConfigError, Env};
use tx_shared::domain::{SignedTx, Status, Transaction, TxId, TxMessage};
use tx_shared::ports::{
    Account, BroadcastQueue, ChainNode, Claim, LeaseToken, NodeError, NonceReservation, StoreError,
    TransactionSigner, TransactionStore,
};

/// The signer's configuration, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub broadcast_queue_url: String,
    pub kms_key_id: String,
    pub rpc_url: String,
    pub chain_id: u64,
    pub target_contract: Address,
    pub target_overrides: BTreeMap<String, Address>,
    pub rpc_timeout: Duration,
    pub signing_lease: Duration,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
            broadcast_queue_url: env.required("BROADCAST_QUEUE_URL")?,
            kms_key_id: env.required("KMS_KEY_ID")?,
            rpc_url: env.required("RPC_URL")?,
            chain_id: env.required("CHAIN_ID")?,
            target_contract: env.required("TARGET_CONTRACT")?,
            target_overrides: env.target_overrides("TARGET_CONTRACTS")?,
            rpc_timeout: Duration::from_millis(env.or_default("RPC_TIMEOUT_MS", 45_000)?),
            signing_lease: Duration::from_secs(env.or_default("SIGNING_LEASE_SECONDS", 120)?),
        })
    }
}

/// The signer's collaborators. Generic over the ports so the logic reads against the domain.
pub struct Signer<S, Q, N, K> {
    pub store: S,
    pub queue: Q,
    pub node: N,
    pub key: K,
    pub chain_id: u64,
    pub target_contract: Address,
    pub target_overrides: BTreeMap<String, Address>,
    pub signing_lease: Duration,
}

/// The signer as deployed: DynamoDB, SQS, JSON-RPC and KMS.
pub type AwsSigner = Signer<DynamoStore, SqsQueue, RpcNode, KmsSigner>;

impl AwsSigner {
    pub fn from_aws(config: &Config, sdk: &SdkConfig) -> Result<Self, NodeError> {
        Ok(Signer {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &config.table_name),
            queue: SqsQueue::new(aws_sdk_sqs::Client::new(sdk), &config.broadcast_queue_url),
            node: RpcNode::new(&config.rpc_url, config.rpc_timeout)?,
            key: KmsSigner::new(aws_sdk_kms::Client::new(sdk), &config.kms_key_id),
            chain_id: config.chain_id,
            target_contract: config.target_contract,
            target_overrides: config.target_overrides.clone(),
            signing_lease: config.signing_lease,
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
}

impl<S, Q, N, K> Signer<S, Q, N, K>
where
    S: TransactionStore,
    Q: BroadcastQueue,
    N: ChainNode,
    K: TransactionSigner,
{
    /// The Lambda entry point: every record concurrently, failures reported per record.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        batch::process(event, |delivery| async move {
            self.sign(delivery.message.transaction_id).await.map(|_| ())
        })
        .await
    }

    pub async fn sign(&self, id: TxId) -> Result<Outcome, RetryLater> {
        match self
            .store
            .claim_for_signing(id, self.signing_lease)
            .await
            .map_err(retry)?
        {
            Claim::Missing => {
                tracing::warn!(
                    "no such transaction; its request was withdrawn after a failed publish"
                );
                Ok(Outcome::Unknown)
            }
            Claim::Held => Err(RetryLater(
                "another invocation is signing this transaction".into(),
            )),
            Claim::AlreadySigned(tx) => self.hand_over_again(&tx).await,
            Claim::Granted { tx, token } => match self.sign_claimed(&tx, &token).await {
                Ok(signed) => {
                    tracing::info!(nonce = signed.nonce, tx_hash = %signed.hash, "signed");
                    self.enqueue(id).await?;
                    Ok(Outcome::Signed(signed))
                }
                Err(failure) => {
                    self.give_up_claim(id, &token, &failure.0).await;
                    Err(failure)
                }
            },
        }
    }

    async fn sign_claimed(
        &self,
        tx: &Transaction,
        token: &LeaseToken,
    ) -> Result<SignedTx, RetryLater> {
        let from = self.key.address().await.map_err(retry)?;
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
            .map_err(retry)?;
        let nonce = match tx.nonce {
            // A previous attempt took a nonce and died before storing its signature: reuse it.
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
        let signature = self.key.sign(unsigned).await.map_err(retry)?;
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
        match self.store.record_signed(tx.id, token, &signed).await {
            Ok(()) => Ok(signed),
            // Our lease ran out and another invocation signed it first: this signature is
            // dropped unseen, and the redelivery hands theirs over.
            Err(lost @ StoreError::Conflict { .. }) => Err(RetryLater(format!(
                "lost the signing lease: {lost}; the stored transaction wins"
            ))),
            Err(e) => Err(retry(e)),
        }
    }

    async fn reserve_nonce(
        &self,
        id: TxId,
        token: &LeaseToken,
        account: Account,
    ) -> Result<u64, RetryLater> {
        for seeded in [false, true] {
            match self
                .store
                .reserve_nonce(id, token, account)
                .await
                .map_err(retry)?
            {
                NonceReservation::Assigned(nonce) => return Ok(nonce),
                NonceReservation::Uninitialized if !seeded => {
                    let next = self
                        .node
                        .pending_nonce(account.address)
                        .await
                        .map_err(retry)?;
                    tracing::info!(address = %account.address, next, "seeding the nonce counter from the chain");
                    self.store.seed_nonce(account, next).await.map_err(retry)?;
                }
                NonceReservation::Uninitialized => {}
            }
        }
        Err(RetryLater("nonce counter vanished after seeding".into()))
    }

    async fn hand_over_again(&self, tx: &Transaction) -> Result<Outcome, RetryLater> {
        if tx.status != Status::Signed {
            return Ok(Outcome::NothingToDo(tx.status));
        }
        tracing::info!("already signed; handing the stored transaction to the broadcaster again");
        self.enqueue(tx.id).await?;
        Ok(Outcome::AlreadySigned)
    }

    async fn enqueue(&self, id: TxId) -> Result<(), RetryLater> {
        self.queue
            .enqueue(&TxMessage::new(id), Duration::ZERO)
            .await
            .map_err(retry)
    }

    async fn give_up_claim(&self, id: TxId, token: &LeaseToken, reason: &str) {
        if let Err(e) = self.store.record_failure(id, reason).await {
            tracing::warn!(error = %e, "could not record the failure");
        }
        if let Err(e) = self.store.release_claim(id, token).await {
            tracing::warn!(error = %e, "could not release the signing lease; it will expire");
        }
    }
}

fn retry(err: impl std::fmt::Display) -> RetryLater {
    RetryLater(err.to_string())
}
