//! The narrow interfaces the domain needs from the outside world. Adapters in
//! [`crate::adapters`] implement them over DynamoDB, SNS/SQS, KMS and JSON-RPC.

use std::future::Future;
use std::time::Duration;

use alloy::consensus::TxEip1559;
use alloy::primitives::{Address, B256, Bytes};

use crate::domain::{Inclusion, NewTransaction, SignedTx, Status, Transaction, TxId, TxMessage};

/// Errors of the transaction store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("idempotency key was already used for a different request (transaction {existing})")]
    IdempotencyConflict { existing: TxId },
    #[error("transaction {0} does not exist")]
    NotFound(TxId),
    /// A conditional write lost: someone else moved the transaction first.
    #[error("transaction {id} is no longer {expected}")]
    Conflict { id: TxId, expected: Status },
    #[error("the list cursor is not valid: {0}")]
    InvalidCursor(String),
    #[error("the transaction store is unavailable: {0}")]
    Unavailable(String),
    #[error("a stored item is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub const fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Outcome of storing a new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    Created(Transaction),
    /// The idempotency key was seen before with the same request: nothing new was stored.
    Duplicate(Transaction),
}

/// Proof that this invocation holds the right to sign a transaction until the lease expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseToken(pub String);

/// Outcome of asking for the right to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Granted {
        tx: Transaction,
        token: LeaseToken,
    },
    /// Another invocation is signing it right now.
    Held,
    /// Already signed (or further along): nothing to sign.
    AlreadySigned(Transaction),
    Missing,
}

/// The signing account a nonce sequence belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub chain_id: u64,
    pub address: Address,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceReservation {
    Assigned(u64),
    /// No counter exists yet for this account: seed it from the chain, then ask again.
    Uninitialized,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub limit: u32,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Transaction>,
    pub next_cursor: Option<String>,
}

pub trait TransactionStore: Send + Sync {
    fn insert_new(
        &self,
        tx: &NewTransaction,
    ) -> impl Future<Output = Result<Inserted, StoreError>> + Send;
    fn get(&self, id: TxId)
    -> impl Future<Output = Result<Option<Transaction>, StoreError>> + Send;
    fn list(&self, query: &ListQuery) -> impl Future<Output = Result<Page, StoreError>> + Send;
    /// Removes a request whose publication failed, if nothing has happened to it yet.
    /// Returns whether it was removed.
    fn discard_unpublished(
        &self,
        tx: &Transaction,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn claim_for_signing(
        &self,
        id: TxId,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;
    /// Gives up a signing lease early (after a failure), so a redelivery need not wait it out.
    fn release_claim(
        &self,
        id: TxId,
        token: &LeaseToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Atomically takes the account's next nonce and assigns it to the transaction.
    fn reserve_nonce(
        &self,
        id: TxId,
        token: &LeaseToken,
        account: Account,
    ) -> impl Future<Output = Result<NonceReservation, StoreError>> + Send;
    /// Seeds the account's counter if it does not exist yet (a no-op otherwise).
    fn seed_nonce(
        &self,
        account: Account,
        next: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `received` → `signed`, only for the lease holder.
    fn record_signed(
        &self,
        id: TxId,
        token: &LeaseToken,
        signed: &SignedTx,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `signed` → `broadcast`.
    fn record_broadcast(&self, id: TxId) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `broadcast` → `confirmed` or `reverted`.
    fn record_inclusion(
        &self,
        id: TxId,
        inclusion: Inclusion,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Counts a failed attempt and remembers why.
    fn record_failure(
        &self,
        id: TxId,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    #[error("the queue rejected the message: {0}")]
    Rejected(String),
}

impl QueueError {
    pub const fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Unavailable(_))
    }
}

/// Announces new requests (SNS → SQS fan-out to the signer).
pub trait RequestPublisher: Send + Sync {
    fn publish(&self, msg: &TxMessage) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Hands signed transactions to the broadcaster, now or after a delay.
pub trait BroadcastQueue: Send + Sync {
    fn enqueue(
        &self,
        msg: &TxMessage,
        delay: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The node already has this exact transaction.
    #[error("the node already knows this transaction")]
    AlreadyKnown,
    #[error("nonce too low: {0}")]
    NonceTooLow(String),
    #[error("the node did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the node is unavailable: {0}")]
    Unavailable(String),
    #[error("the call reverts: {0}")]
    Reverted(String),
    #[error("the node rejected the request (code {code}): {message}")]
    Rejected { code: i64, message: String },
}

impl NodeError {
    pub const fn is_retryable(&self) -> bool {
        matches!(self, NodeError::Timeout(_) | NodeError::Unavailable(_))
    }
}

/// Gas and fee parameters for one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasPlan {
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// The JSON-RPC node.
pub trait ChainNode: Send + Sync {
    fn pending_nonce(
        &self,
        address: Address,
    ) -> impl Future<Output = Result<u64, NodeError>> + Send;
    fn plan_gas(
        &self,
        from: Address,
        to: Address,
        data: &Bytes,
    ) -> impl Future<Output = Result<GasPlan, NodeError>> + Send;
    fn send_raw(&self, raw: &Bytes) -> impl Future<Output = Result<B256, NodeError>> + Send;
    fn inclusion(
        &self,
        hash: B256,
    ) -> impl Future<Output = Result<Option<Inclusion>, NodeError>> + Send;
    fn block_number(&self) -> impl Future<Output = Result<u64, NodeError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the signing key is unavailable: {0}")]
    Unavailable(String),
    #[error("signing failed: {0}")]
    Failed(String),
}

impl SignError {
    pub const fn is_retryable(&self) -> bool {
        matches!(self, SignError::Unavailable(_))
    }
}

/// A signed, encoded transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub hash: B256,
    pub raw: Bytes,
}

/// The key that signs. Private keys never leave it.
pub trait TransactionSigner: Send + Sync {
    fn address(&self) -> impl Future<Output = Result<Address, SignError>> + Send;
    fn sign(&self, tx: TxEip1559) -> impl Future<Output = Result<Signature, SignError>> + Send;
}
