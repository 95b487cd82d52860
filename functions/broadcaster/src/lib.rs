//! Broadcaster: sends signed transactions to the node and follows them until they are included.
//!
//! - A `signed` (or `retrying`) transaction is sent with `eth_sendRawTransaction`. "Already
//!   known" counts as sent; "nonce too low" is decided on chain (mined by us is success). A
//!   failure that may pass is retried with backoff through the message's visibility timeout;
//!   on the queue's last delivery the transaction needs review and the message is dead-lettered.
//! - A `broadcast` transaction is checked for a receipt. Until it has one with enough
//!   confirmations, a fresh message is enqueued with a delay (waiting never eats into the
//!   redrive policy's receive count). A transaction the node no longer knows (dropped from the
//!   pool) is re-sent with the identical bytes; one stuck below the base fee is replaced at the
//!   same nonce with fees bumped, re-signed through KMS, up to a price cap.

use std::time::Duration;

use alloy::primitives::B256;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use follow::Progress;
use tx_shared::adapters::{
    dynamo::DynamoStore, kms::KmsSigner, pool::NodePool, rpc::RpcNode, sqs::SqsQueue,
};
use tx_shared::aws::AwsClients;
use tx_shared::backoff::Backoff;
use tx_shared::batch::{self, Delivery, RetryLater};
use tx_shared::by_chain::ByChain;
use tx_shared::config::{ChainDecl, Chains, ConfigError, Env};
use tx_shared::domain::{Inclusion, SignedTx, Status, Transaction, TxMessage};
use tx_shared::lanes::KeyPool;
use tx_shared::nonce_filler::fill_for;
use tx_shared::ports::{
    Account, BroadcastQueue, ChainNode, Lookup, NodeError, NonceCounter, Reading, Redelivery,
    StoreError, TransactionSigner, Transitions,
};
use tx_shared::retry::schedule_retry;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub table_name: String,
    /// Where a transaction whose nonce another sender took goes to be signed again: the
    /// signer's priority queue, ahead of the backlog.
    pub sign_priority_queue_url: String,
    pub broadcast_queue_url: String,
    /// Operators' retries arrive here, ahead of the backlog.
    pub broadcast_priority_queue_url: Option<String>,
    /// The chains served: each one's keys (each transaction's replacements and fillers are
    /// signed by its own lane's), nodes, confirmations and fee policy.
    pub chains: Chains,
    pub rpc_timeout: Duration,
    pub receipt_poll: Duration,
    pub backoff: Backoff,
}

/// How stuck transactions are re-priced (the rule is the domain's `replacement_fees`).
pub use tx_shared::domain::fees::BumpPolicy as FeePolicy;

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
            sign_priority_queue_url: env.required("SIGN_PRIORITY_QUEUE_URL")?,
            broadcast_queue_url: env.required("BROADCAST_QUEUE_URL")?,
            broadcast_priority_queue_url: env.optional("BROADCAST_PRIORITY_QUEUE_URL")?,
            chains: env.chains()?,
            rpc_timeout: Duration::from_millis(env.or_default("RPC_TIMEOUT_MS", 45_000)?),
            receipt_poll: Duration::from_secs(env.or_default("RECEIPT_POLL_SECONDS", 5)?),
            backoff: env.backoff()?,
        })
    }
}

pub struct Broadcaster<S, Q, P, N, K> {
    pub store: S,
    /// The broadcast queue: receipt checks are enqueued to it, and retries are delayed through
    /// its visibility timeout.
    pub queue: Q,
    /// The signer's queue, for a transaction whose nonce another sender took.
    pub to_signer: P,
    pub node: N,
    /// Only for replacements and nonce fillers.
    pub keys: KeyPool<K>,
    pub chain_id: u64,
    pub confirmations: u64,
    pub receipt_poll: Duration,
    pub reprice_after_blocks: u64,
    pub fees: FeePolicy,
    pub backoff: Backoff,
}

pub type AwsBroadcaster =
    Broadcaster<DynamoStore, SqsQueue, SqsQueue, NodePool<RpcNode>, KmsSigner>;

impl AwsBroadcaster {
    /// One chain's broadcaster.
    pub fn from_aws(
        config: &Config,
        chain: &ChainDecl,
        clients: &AwsClients,
    ) -> Result<Self, ConfigError> {
        Ok(Broadcaster {
            store: DynamoStore::new(clients.dynamodb.clone(), &config.table_name),
            queue: config.broadcast_priority_queue_url.iter().fold(
                SqsQueue::new(clients.sqs.clone(), &config.broadcast_queue_url),
                |queue, priority| queue.with_sibling(priority),
            ),
            to_signer: SqsQueue::new(clients.sqs.clone(), &config.sign_priority_queue_url),
            node: NodePool::for_chain(chain, config.rpc_timeout)?,
            keys: KmsSigner::lanes_of(&clients.kms, chain),
            chain_id: chain.id,
            confirmations: chain.confirmations,
            receipt_poll: config.receipt_poll,
            reprice_after_blocks: chain.reprice_after_blocks,
            fees: chain.bump,
            backoff: config.backoff,
        })
    }

    /// A broadcaster for every chain served, the default chain's first.
    pub fn for_each_chain(
        config: &Config,
        clients: &AwsClients,
    ) -> Result<ByChain<Self>, ConfigError> {
        ByChain::of_chains(&config.chains, |chain| {
            AwsBroadcaster::from_aws(config, chain, clients)
        })
    }
}

/// The Lambda entry point: each record is followed by its transaction's chain's broadcaster.
/// A transaction for a chain no longer declared waits (an alarm: `chain_not_served`).
pub async fn handle<S, Q, P, N, K>(
    broadcasters: &ByChain<Broadcaster<S, Q, P, N, K>>,
    event: SqsEvent,
    deadline: batch::Deadline,
) -> SqsBatchResponse
where
    S: Reading + NonceCounter + Transitions,
    Q: BroadcastQueue + Redelivery,
    P: BroadcastQueue,
    N: ChainNode,
    K: TransactionSigner,
{
    broadcasters
        .first()
        .handle_routed(Some(broadcasters), event, deadline)
        .await
}

/// A transaction's lane key can't sign: while a key can't be read, worth waiting for; when no
/// configured key signs for its address (its lane was removed), a wait a human must end, so
/// it is the waiting alarm (`lane_key_missing`). Either way the transaction is followed on:
/// its bytes may still be mined as they are.
pub(crate) fn lane_key_trouble(
    tx: &Transaction,
    from: alloy::primitives::Address,
    error: &tx_shared::ports::SignError,
) -> NodeError {
    if !error.is_retryable() {
        let reason = format!(
            "lane_key_missing: transaction {} holds a nonce of {from}, and no configured key signs for it (its lane was removed): it can't be re-priced or filled; restore the key",
            tx.id
        );
        tracing::error!(%reason, "a lane's key is missing");
        tx_shared::metrics::waiting(&reason);
    }
    NodeError::Unavailable(format!("re-signing: {error}"))
}

/// Node requests one record makes in a row at most, on its longest usual path: a receipt
/// check that re-sends and meets "nonce too low" (a lookup is two requests: receipt, then
/// transaction): lookup 2, send 1, mined nonce 1, lookup 2, head 1, nonce at depth 1, lookup
/// again 2, pending nonce 1; and a node's chain check at its first use, 1. A deep receipt
/// takes fewer (lookup 2, head 1, receipt 1, canonical block 2). With the node's timeout,
/// what the Lambda timeout must hold (`infra/main.tf`, checked by infra-check).
pub const NODE_CALLS_PER_RECORD: u64 = 12;

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Included with enough confirmations: the transaction is final.
    Final(Status),
    /// Sent or still pending; a receipt check is scheduled.
    AwaitingReceipt,
    /// Can't be sent and won't pass by itself.
    NeedsReview,
    /// Already final or under review, or unknown: a duplicate message.
    NothingToDo,
    /// Waiting for the signer's account to be funded; a fresh message is scheduled.
    Waiting,
    /// Another sender took its nonce: handed back to the signer for a fresh one.
    Resigning,
}

/// How long a send waits for funds before it tries again (without using up a delivery).
pub const FUNDS_WAIT: Duration = Duration::from_secs(60);

/// What a send told us.
pub(crate) enum Sent {
    Accepted,
    /// One of our hashes is already mined.
    Mined(Inclusion, B256),
    /// Another sender's transaction took the nonce, and none of this attempt's hashes is on
    /// chain; the chain's next nonce is `chain_next`.
    NonceLost {
        chain_next: u64,
    },
}

impl<S, Q, P, N, K> Broadcaster<S, Q, P, N, K>
where
    S: Reading + NonceCounter + Transitions,
    Q: BroadcastQueue + Redelivery,
    P: BroadcastQueue,
    N: ChainNode,
    K: TransactionSigner,
{
    /// The Lambda entry point for one chain.
    pub async fn handle(&self, event: SqsEvent, deadline: batch::Deadline) -> SqsBatchResponse {
        self.handle_routed(None, event, deadline).await
    }

    async fn handle_routed(
        &self,
        chains: Option<&ByChain<Self>>,
        event: SqsEvent,
        deadline: batch::Deadline,
    ) -> SqsBatchResponse {
        batch::process(event, deadline, &self.queue, |delivery| async move {
            self.process_routed(chains, delivery).await.map(|_| ())
        })
        .await
    }

    pub async fn process(&self, delivery: Delivery) -> Result<Outcome, RetryLater> {
        self.process_routed(None, delivery).await
    }

    /// Reads the transaction, then goes on with its own chain's broadcaster (among `chains`;
    /// this one's when there is no other).
    async fn process_routed(
        &self,
        chains: Option<&ByChain<Self>>,
        delivery: Delivery,
    ) -> Result<Outcome, RetryLater> {
        let id = delivery.message.transaction_id;
        let tx = match self.store.get(id).await {
            Ok(Some(tx)) => tx,
            Ok(None) => {
                tracing::warn!("no such transaction");
                return Ok(Outcome::NothingToDo);
            }
            Err(e) => return Err(self.retry(&delivery, &e.to_string()).await),
        };
        chains
            .and_then(|c| c.get(tx.chain_id))
            .unwrap_or(self)
            .process_read(delivery, tx)
            .await
    }

    async fn process_read(
        &self,
        delivery: Delivery,
        tx: Transaction,
    ) -> Result<Outcome, RetryLater> {
        let id = tx.id;
        let attempt = delivery.receive_count;
        if tx.status.is_final() || tx.status == Status::NeedsReview {
            return Ok(Outcome::NothingToDo);
        }
        // A message of an earlier generation (before an operator's retry or a lost nonce) is
        // stale: every move to a new generation sends messages of its own, so this chain ends.
        if delivery.message.generation < tx.generation {
            tracing::info!(
                message_generation = delivery.message.generation,
                generation = tx.generation,
                "a message of an earlier generation; dropped"
            );
            return Ok(Outcome::NothingToDo);
        }
        if tx.chain_id != self.chain_id {
            let reason = tx_shared::by_chain::not_served(tx.chain_id, "follow it");
            return self.wait(&delivery, &reason, FUNDS_WAIT).await;
        }
        let Some(signed) = tx.signed.clone() else {
            return Err(RetryLater::new(format!(
                "transaction is {} and not signed yet",
                tx.status
            )));
        };
        if tx.status == Status::Broadcast {
            // One follow chain per transaction: only the check the record names goes on.
            if tx.follow_token.is_some() && delivery.message.follow != tx.follow_token {
                tracing::info!("a duplicate receipt check (another one follows it); dropped");
                return Ok(Outcome::NothingToDo);
            }
            return self
                .follow(&tx, &signed, Progress::of(&delivery.message))
                .await;
        }
        match self.send(&tx, &signed).await {
            Ok(Sent::Accepted) => {
                match self.store.record_broadcast(id).await {
                    Ok(()) => {
                        tracing::info!(tx_hash = %signed.hash, nonce = signed.nonce, attempt, "broadcast")
                    }
                    // A duplicate message got there first; carry on with the receipt.
                    Err(StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(self.retry(&delivery, &e.to_string()).await),
                }
                self.follow(&tx, &signed, Progress::at(0)).await
            }
            // Ours is mined: followed like any sent transaction, so its receipt is judged deep
            // and canonical before it is final.
            Ok(Sent::Mined(..)) => {
                match self.store.record_broadcast(id).await {
                    Ok(()) | Err(StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(self.retry(&delivery, &e.to_string()).await),
                }
                self.follow(&tx, &signed, Progress::at(1)).await
            }
            Ok(Sent::NonceLost { chain_next }) => self.resign(&tx, &signed, chain_next).await,
            Err(e @ (NodeError::Reverted(_) | NodeError::Rejected { .. })) => {
                // Refused as such: unless its nonce is gone, taken by another sender (an
                // operator's re-send after a filler, say), in which case it is signed again.
                if let Ok(Sent::NonceLost { chain_next }) =
                    self.nonce_used(&tx, &signed, &e.to_string()).await
                {
                    return self.resign(&tx, &signed, chain_next).await;
                }
                self.give_up(
                    &tx,
                    &format!("{e} (the node refuses the signed transaction)"),
                    true,
                )
                .await
            }
            // Waiting for the account to be funded is not a failed attempt (the balance alarm
            // calls a human); the transaction waits without using up its deliveries.
            Err(e @ NodeError::InsufficientFunds(_)) => {
                let reason =
                    format!("insufficient_funds: the signer's account can't pay ({e}); fund it");
                self.wait(&delivery, &reason, FUNDS_WAIT).await
            }
            // Below what the pool takes (not a stranger's transaction at our nonce, which the
            // chain settles): re-priced at the same nonce.
            Err(NodeError::Underpriced(detail)) if !detail.contains("replacement") => {
                self.reprice_unsent(&tx, &signed, &delivery, &detail).await
            }
            // The node holds as many of this lane's transactions as it takes: the next block
            // makes room. A wait, checked at the next receipt poll, not a failed attempt (a
            // burst on one lane would otherwise run its messages into review).
            Err(e @ NodeError::PoolFull(_)) => {
                self.wait(&delivery, &e.to_string(), self.receipt_poll)
                    .await
            }
            Err(e) if e.is_retryable() => {
                let retry = self.retry(&delivery, &e.to_string()).await;
                // The node kept refusing the bytes in words nobody listed: now under review,
                // their nonce must not hold every later transaction.
                if matches!(e, NodeError::Unrecognized(_)) && self.backoff.is_last(attempt) {
                    self.fill_if_nowhere(&tx, &signed).await;
                }
                Err(retry)
            }
            Err(e) => self.give_up(&tx, &e.to_string(), false).await,
        }
    }

    /// Sends the signed bytes and decides what the node's answer means.
    async fn send(&self, tx: &Transaction, signed: &SignedTx) -> Result<Sent, NodeError> {
        match self.node.send_raw(&signed.raw).await {
            Ok(hash) if hash == signed.hash => Ok(Sent::Accepted),
            Ok(hash) => Err(NodeError::Rejected {
                code: 0,
                message: format!("the node hashed our bytes as {hash}, not {}", signed.hash),
            }),
            Err(NodeError::AlreadyKnown) => Ok(Sent::Accepted),
            Err(NodeError::NonceTooLow(detail)) => self.nonce_used(tx, signed, &detail).await,
            Err(NodeError::Underpriced(detail)) => {
                // A transaction with our nonce is pending: fine if it is one of ours.
                for hash in tx.attempt_hashes() {
                    if matches!(
                        self.node.lookup(hash).await?,
                        Lookup::Pending | Lookup::Included(_)
                    ) {
                        return Ok(Sent::Accepted);
                    }
                }
                Err(NodeError::Underpriced(detail))
            }
            Err(e) => Err(e),
        }
    }

    /// "Nonce too low": success if one of this attempt's hashes is mined; a lost nonce if the
    /// chain used it for something else; a transient answer otherwise. Every read is asked of
    /// one node: of a pool, a node that lags could otherwise answer "not ours" for a nonce
    /// another node has used by ours.
    async fn nonce_used(
        &self,
        tx: &Transaction,
        signed: &SignedTx,
        detail: &str,
    ) -> Result<Sent, NodeError> {
        let node = self.node.one();
        // The chain's nonce first, the hashes after: a hash of ours mined between the two
        // reads is then found by the second, never taken for a stranger's.
        let mined_next = node.mined_nonce(signed.from).await?;
        if mined_next <= signed.nonce {
            return Err(NodeError::Unavailable(format!(
                "the node said `{detail}` but the chain's next nonce is {mined_next}, ours is {}",
                signed.nonce
            )));
        }
        for hash in tx.attempt_hashes() {
            match node.lookup(hash).await? {
                Lookup::Included(inclusion) => return Ok(Sent::Mined(inclusion, hash)),
                // The nonce is past ours, yet our hash is pending: the node contradicts itself
                // (a lagging backend behind a load balancer). Decide nothing on that.
                Lookup::Pending => {
                    return Err(NodeError::Unavailable(format!(
                        "the chain's next nonce is {mined_next}, past ours ({}), yet {hash} is pending",
                        signed.nonce
                    )));
                }
                Lookup::Unknown => {}
            }
        }
        // None of ours is known: a stranger's, unless a lagging backend missed ours. Decided
        // only once the nonce is used deep enough that no backend lagging less can miss it.
        let depth = tx_shared::chain::stranger_depth(self.confirmations, self.chain_id);
        if !tx_shared::chain::used_deeply(&node, signed.from, signed.nonce, depth).await? {
            return Err(NodeError::Unavailable(format!(
                "nonce {} was used less than {depth} blocks ago, by none of this attempt's hashes the node knows; deciding once it is deeper",
                signed.nonce
            )));
        }
        // And asked again, now that the nonce is deep: a backend that lagged for the first
        // answers has had the time to catch up.
        for hash in tx.attempt_hashes() {
            if let Lookup::Included(inclusion) = node.lookup(hash).await? {
                return Ok(Sent::Mined(inclusion, hash));
            }
        }
        // Something else used our nonce: the counter may be behind the chain too.
        let pending_next = self.node.pending_nonce(signed.from).await?;
        let account = Account {
            chain_id: self.chain_id,
            address: signed.from,
        };
        match self.store.resync_nonce(account, pending_next).await {
            Ok(Some(was)) => tracing::warn!(
                was,
                now = pending_next,
                "nonce counter was behind the chain; re-synced"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not re-sync the nonce counter"),
        }
        Ok(Sent::NonceLost {
            chain_next: mined_next,
        })
    }

    /// Another sender took this attempt's nonce and none of its hashes is on chain, so the
    /// call has not run: it goes back to the signer for a fresh nonce (the next generation),
    /// and the abandoned nonce stays in its history.
    async fn resign(
        &self,
        tx: &Transaction,
        lost: &SignedTx,
        chain_next: u64,
    ) -> Result<Outcome, RetryLater> {
        match self.store.record_nonce_lost(tx.id, lost, chain_next).await {
            Ok(()) => {}
            // Replaced, final or retried since: whoever moved it carries on.
            Err(StoreError::Conflict { .. }) => return Ok(Outcome::NothingToDo),
            Err(e) => return Err(RetryLater::new(e.to_string())),
        }
        tracing::warn!(nonce = lost.nonce, chain_next, tx_hash = %lost.hash, "another sender took the nonce; signing again at a fresh nonce");
        let next = TxMessage {
            generation: tx.generation + 1,
            ..TxMessage::new(tx.id)
        };
        if let Err(e) = self.to_signer.enqueue(&next, Duration::ZERO).await {
            // Recorded `retrying` and due now: the sweeper hands it to the signer.
            tracing::warn!(error = %e, "could not hand the transaction to the signer; the sweeper will");
        }
        Ok(Outcome::Resigning)
    }

    /// Refused as underpriced at its first send: re-signed at the same nonce at the market's
    /// price (up to the cap) and sent, then followed; over the cap, it waits like a first
    /// signature above the cap (`fee_above_cap`, the waiting alarm).
    async fn reprice_unsent(
        &self,
        tx: &Transaction,
        signed: &SignedTx,
        delivery: &Delivery,
        detail: &str,
    ) -> Result<Outcome, RetryLater> {
        let repriced = match self.market().await {
            Ok(market) => self.replace(tx, signed, market).await,
            Err(e) => Err(e),
        };
        match repriced {
            Ok(follow::Repriced::Sent(replacement)) => {
                tracing::warn!(%detail, new = %replacement.hash, "underpriced at its first send; re-priced");
                match self.store.record_broadcast(tx.id).await {
                    Ok(()) | Err(StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(self.retry(delivery, &e.to_string()).await),
                }
                let now = match self.store.get(tx.id).await {
                    Ok(Some(now)) => now,
                    Ok(None) => return Ok(Outcome::NothingToDo),
                    Err(e) => return Err(self.retry(delivery, &e.to_string()).await),
                };
                self.follow(&now, &replacement, Progress::at(0)).await
            }
            Ok(follow::Repriced::CapReached { needed, cap }) => {
                let reason = format!(
                    "fee_above_cap: the node takes no less than {needed} wei per gas, over MAX_FEE_PER_GAS_WEI ({cap})"
                );
                self.wait(delivery, &reason, FUNDS_WAIT).await
            }
            Ok(follow::Repriced::Superseded) => Ok(Outcome::NothingToDo),
            Err(e) => Err(self.retry(delivery, &e.to_string()).await),
        }
    }

    /// A failure that will not pass: needs review. If the signed bytes can never be accepted,
    /// their nonce is filled so later transactions are not stuck behind it.
    async fn give_up(
        &self,
        tx: &Transaction,
        reason: &str,
        fill: bool,
    ) -> Result<Outcome, RetryLater> {
        tracing::error!(%reason, "the transaction needs review");
        match self
            .store
            .record_needs_review(tx.id, reason, tx.generation)
            .await
        {
            Ok(()) => {}
            // Moved on since (retried, replaced, final): its verdict stands, nothing is filled.
            Err(StoreError::Conflict { .. }) => return Ok(Outcome::NothingToDo),
            Err(e) => return Err(RetryLater::new(e.to_string())),
        }
        if let (true, Some(nonce)) = (fill, tx.nonce) {
            self.fill(tx, nonce).await;
        }
        Ok(Outcome::NeedsReview)
    }

    /// Fills `nonce` with the key of the transaction's lane.
    async fn fill(&self, tx: &Transaction, nonce: u64) {
        let key = match tx.from {
            Some(from) => self.keys.key_for(from).await,
            None => Err(tx_shared::ports::SignError::Failed(
                "the transaction's lane is not recorded".into(),
            )),
        };
        match key {
            Ok(key) => fill_for(&self.store, &self.node, key, self.chain_id, tx.id, nonce).await,
            Err(e) => {
                let from = tx.from.unwrap_or_default();
                tracing::error!(error = %lane_key_trouble(tx, from, &e), nonce, "no key to fill the nonce with");
            }
        }
    }

    /// Fills the attempt's nonce if the chain has not used it and no node knows any of the
    /// attempt's hashes: the bytes are nowhere, and never will be sent.
    async fn fill_if_nowhere(&self, tx: &Transaction, signed: &SignedTx) {
        // Only if the verdict stands: an operator's retry since may be sending these bytes.
        let reviewed = self
            .store
            .get(tx.id)
            .await
            .ok()
            .flatten()
            .is_some_and(|now| {
                now.status == Status::NeedsReview && now.generation == tx.generation
            });
        if !reviewed {
            return;
        }
        // One node for all of it: "not mined" from one and "unknown" from another that lags
        // would fill a nonce our bytes may still take.
        let node = self.node.one();
        let nowhere = async {
            if node.mined_nonce(signed.from).await? > signed.nonce {
                return Ok(false);
            }
            for hash in tx.attempt_hashes() {
                if node.lookup(hash).await? != Lookup::Unknown {
                    return Ok(false);
                }
            }
            Ok::<_, NodeError>(true)
        };
        match nowhere.await {
            Ok(true) => {
                self.fill(tx, signed.nonce).await;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, nonce = signed.nonce, "could not tell whether the nonce is free; not filled")
            }
        }
    }

    /// Waits for something outside the transaction (funds, fees under the cap, room in the
    /// pool) without using up a delivery: a fresh message after `delay`, and the waiting alarm.
    async fn wait(
        &self,
        delivery: &Delivery,
        reason: &str,
        delay: Duration,
    ) -> Result<Outcome, RetryLater> {
        tx_shared::retry::wait_for(&self.store, &self.queue, &delivery.message, reason, delay)
            .await?;
        Ok(Outcome::Waiting)
    }

    async fn retry(&self, delivery: &Delivery, reason: &str) -> RetryLater {
        schedule_retry(
            &self.store,
            &self.backoff,
            &delivery.message,
            delivery.receive_count,
            reason,
        )
        .await
    }
}

mod follow;

#[cfg(test)]
mod tests;
