//! Broadcaster: sends signed transactions to the node and follows them until they are included.
//!
//! A `signed` transaction is sent with `eth_sendRawTransaction` ("already known" for our own
//! bytes counts as sent) and becomes `broadcast`. A `broadcast` transaction is checked for a
//! receipt; until it has one with enough confirmations, the message is re-enqueued with a
//! delay (a fresh message, so waiting never eats into the redrive policy's receive count), and
//! the identical signed bytes are offered to the node again in case its pool dropped them.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tx_shared::adapters::{dynamo::DynamoStore, rpc::RpcNode, sqs::SqsQueue};
use tx_shared::batch::{self, Delivery, RetryLater};
use tx_shared::config::{ConfigError, Env};
use tx_shared::domain::{Inclusion, SignedTx, Status, Transaction, TxMessage};
use tx_shared::ports::{BroadcastQueue, ChainNode, NodeError, StoreError, TransactionStore};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub broadcast_queue_url: String,
    pub rpc_url: String,
    pub chain_id: u64,
    pub rpc_timeout: Duration,
    pub confirmations: u64,
    pub receipt_poll: Duration,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let confirmations: u64 = env.or_default("CONFIRMATIONS", 1)?;
        if confirmations == 0 {
            return Err(ConfigError::Invalid {
                name: "CONFIRMATIONS",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
            broadcast_queue_url: env.required("BROADCAST_QUEUE_URL")?,
            rpc_url: env.required("RPC_URL")?,
            chain_id: env.required("CHAIN_ID")?,
            rpc_timeout: Duration::from_millis(env.or_default("RPC_TIMEOUT_MS", 45_000)?),
            confirmations,
            receipt_poll: Duration::from_secs(env.or_default("RECEIPT_POLL_SECONDS", 5)?),
        })
    }
}

pub struct Broadcaster<S, Q, N> {
    pub store: S,
    pub queue: Q,
    pub node: N,
    pub confirmations: u64,
    pub receipt_poll: Duration,
}

pub type AwsBroadcaster = Broadcaster<DynamoStore, SqsQueue, RpcNode>;

impl AwsBroadcaster {
    pub fn from_aws(config: &Config, sdk: &SdkConfig) -> Result<Self, NodeError> {
        Ok(Broadcaster {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &config.table_name),
            queue: SqsQueue::new(aws_sdk_sqs::Client::new(sdk), &config.broadcast_queue_url),
            node: RpcNode::new(&config.rpc_url, config.rpc_timeout)?,
            confirmations: config.confirmations,
            receipt_poll: config.receipt_poll,
        })
    }
}

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Included with enough confirmations: the transaction is final.
    Final(Status),
    /// Sent or still pending; a receipt check is scheduled.
    AwaitingReceipt,
    /// Already final, or unknown: a duplicate message.
    NothingToDo,
}

impl<S, Q, N> Broadcaster<S, Q, N>
where
    S: TransactionStore,
    Q: BroadcastQueue,
    N: ChainNode,
{
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        batch::process(event, |delivery| async move {
            self.process(delivery).await.map(|_| ())
        })
        .await
    }

    pub async fn process(&self, delivery: Delivery) -> Result<Outcome, RetryLater> {
        let id = delivery.message.transaction_id;
        let Some(tx) = self.store.get(id).await.map_err(retry)? else {
            tracing::warn!("no such transaction");
            return Ok(Outcome::NothingToDo);
        };
        let signed = match (&tx.signed, tx.status) {
            (_, status) if status.is_final() => return Ok(Outcome::NothingToDo),
            (Some(signed), Status::Signed | Status::Broadcast) => signed,
            _ => {
                return Err(RetryLater(format!(
                    "transaction is {} and not signed yet",
                    tx.status
                )));
            }
        };
        if tx.status == Status::Signed {
            self.send(&tx, signed).await?;
            match self.store.record_broadcast(id).await {
                Ok(()) => tracing::info!(tx_hash = %signed.hash, nonce = signed.nonce, "broadcast"),
                // A duplicate message got there first; carry on checking the receipt.
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(retry(e)),
            }
        }
        self.follow(&tx, signed, delivery.message.receipt_checks)
            .await
    }

    async fn send(&self, tx: &Transaction, signed: &SignedTx) -> Result<(), RetryLater> {
        match self.node.send_raw(&signed.raw).await {
            Ok(hash) if hash == signed.hash => Ok(()),
            Ok(hash) => {
                // The node hashed our bytes differently: never silently track the wrong hash.
                let reason = format!("node returned hash {hash} for transaction {}", signed.hash);
                self.record_failure(tx, &reason).await;
                Err(RetryLater(reason))
            }
            Err(NodeError::AlreadyKnown) => Ok(()),
            // Our nonce is used: fine if it was used by this very transaction.
            Err(NodeError::NonceTooLow(detail)) => match self.node.inclusion(signed.hash).await {
                Ok(Some(_)) => Ok(()),
                _ => {
                    let reason = format!(
                        "nonce {} is taken and this transaction is not mined: {detail}",
                        signed.nonce
                    );
                    self.record_failure(tx, &reason).await;
                    Err(RetryLater(reason))
                }
            },
            Err(e) => {
                self.record_failure(tx, &e.to_string()).await;
                Err(retry(e))
            }
        }
    }

    /// Checks the receipt; finalizes, or schedules the next check.
    async fn follow(
        &self,
        tx: &Transaction,
        signed: &SignedTx,
        checks: u32,
    ) -> Result<Outcome, RetryLater> {
        if let Some(inclusion) = self.node.inclusion(signed.hash).await.map_err(retry)? {
            let head = self.node.block_number().await.map_err(retry)?;
            if head + 1 >= inclusion.block_number + self.confirmations {
                return self.finalize(tx, inclusion).await;
            }
        } else if checks > 0 {
            // Still not mined: offer the identical bytes again in case the pool dropped them.
            match self.node.send_raw(&signed.raw).await {
                Ok(_) | Err(NodeError::AlreadyKnown) | Err(NodeError::NonceTooLow(_)) => {}
                Err(e) => tracing::warn!(error = %e, "re-sending the pending transaction failed"),
            }
        }
        let next = TxMessage {
            transaction_id: tx.id,
            receipt_checks: checks.saturating_add(1),
        };
        self.queue
            .enqueue(&next, self.receipt_poll)
            .await
            .map_err(retry)?;
        Ok(Outcome::AwaitingReceipt)
    }

    async fn finalize(
        &self,
        tx: &Transaction,
        inclusion: Inclusion,
    ) -> Result<Outcome, RetryLater> {
        let status = if inclusion.succeeded {
            Status::Confirmed
        } else {
            Status::Reverted
        };
        match self.store.record_inclusion(tx.id, inclusion).await {
            Ok(()) => tracing::info!(%status, block = inclusion.block_number, "final"),
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(retry(e)),
        }
        Ok(Outcome::Final(status))
    }

    async fn record_failure(&self, tx: &Transaction, reason: &str) {
        if let Err(e) = self.store.record_failure(tx.id, reason).await {
            tracing::warn!(error = %e, "could not record the failure");
        }
    }
}

fn retry(err: impl std::fmt::Display) -> RetryLater {
    RetryLater(err.to_string())
}
