//! The narrow interfaces the domain needs from the outside world. Adapters in
//! [`crate::adapters`] implement them over DynamoDB, SNS/SQS, KMS and JSON-RPC.

use std::future::Future;
use std::time::Duration;

use alloy::consensus::TxEip1559;
use alloy::primitives::{Address, B256, Bytes};

use time::OffsetDateTime;

use crate::auth::ClientId;

use crate::domain::{
    HistoryEntry, Inclusion, NewTransaction, SignedTx, Status, Transaction, TxId, TxMessage,
};

/// Errors of the transaction store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("idempotency key was already used for a different request (transaction {existing})")]
    IdempotencyConflict { existing: TxId },
    #[error("transaction {0} does not exist")]
    NotFound(TxId),
    /// A conditional write lost: someone else moved the transaction first.
    #[error("transaction {id} could not move to {to}: it changed meanwhile")]
    Conflict { id: TxId, to: Status },
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Only this client's transactions; `None` lists everyone's (operators).
    pub client: Option<ClientId>,
    pub status: Option<Status>,
    pub limit: u32,
    pub cursor: Option<String>,
    /// Canonical function signature, e.g. `add_weight(address,uint256)`.
    pub function_signature: Option<String>,
    /// Created at or after.
    pub from: Option<OffsetDateTime>,
    /// Created before.
    pub to: Option<OffsetDateTime>,
    /// Current transaction hash.
    pub tx_hash: Option<B256>,
    /// Only this chain's.
    pub chain_id: Option<u64>,
    /// Only those that took a nonce of this lane (sender address).
    pub lane: Option<Address>,
}

/// Whose transactions a count covers: one client's or (`None`) everyone's, on one chain or
/// (`None`) on all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountScope<'a> {
    pub client: Option<&'a ClientId>,
    pub chain_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Transaction>,
    pub next_cursor: Option<String>,
}

/// What an operator's retry does to a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdminRetry {
    /// `retrying`: the next attempt now, not after the backoff.
    SkipWait,
    /// Its nonce is still open: send the same signed bytes again.
    ResendSigned,
    /// Its nonce is gone (or it never had one): sign again, with a fresh nonce.
    #[serde(rename = "resign_fresh_nonce")]
    ResignFresh,
}

impl AdminRetry {
    pub const fn as_str(self) -> &'static str {
        match self {
            AdminRetry::SkipWait => "skip_wait",
            AdminRetry::ResendSigned => "resend_signed",
            AdminRetry::ResignFresh => "resign_fresh_nonce",
        }
    }
}

/// A failed attempt and when the next one is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRecord {
    pub reason: String,
    /// The delivery that failed, 1-based.
    pub attempt: u32,
    pub next_attempt_at: OffsetDateTime,
    pub backoff_ceiling: Duration,
}

/// An account's nonce counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterState {
    /// The next nonce a transaction will take.
    pub next: u64,
    /// When a nonce was last taken (`None`: never, or before this was recorded).
    pub reserved_at: Option<OffsetDateTime>,
    /// The first nonce taken since holders are indexed (`NonceCounter::nonce_holders`): below
    /// it, a nonce's holder may be missing from the index (`None`: none taken since).
    pub indexed_from: Option<u64>,
    /// What the watchdog last saw of the lane (`NonceCounter::report_lane`).
    pub lane: Option<crate::lanes::LaneReport>,
}

/// How many transactions are in each status (counted up to a cap).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub counts: Vec<(Status, u64)>,
    /// Some status has more than the cap: its count is a lower bound.
    pub capped: bool,
}

/// Stores new requests, and withdraws one whose publication failed (the api).
pub trait Intake: Send + Sync {
    fn insert_new(
        &self,
        tx: &NewTransaction,
    ) -> impl Future<Output = Result<Inserted, StoreError>> + Send;
    /// Removes a request whose publication failed, if nothing has happened to it yet.
    /// Returns whether it was removed.
    fn discard_unpublished(
        &self,
        tx: &Transaction,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Reads transactions: one, a page, the counts, and the sweeper's overdue ones.
pub trait Reading: Send + Sync {
    /// Counts per status, of the transactions `scope` covers.
    fn count_by_status(
        &self,
        cap: u64,
        scope: CountScope<'_>,
    ) -> impl Future<Output = Result<StatusCounts, StoreError>> + Send;
    fn get(&self, id: TxId)
    -> impl Future<Output = Result<Option<Transaction>, StoreError>> + Send;
    fn list(&self, query: &ListQuery) -> impl Future<Output = Result<Page, StoreError>> + Send;
    /// Transactions of `status` whose next step was due before `due_before` (or, with no step
    /// scheduled, that have not changed since then): the sweeper's candidates.
    fn list_overdue(
        &self,
        status: Status,
        due_before: OffsetDateTime,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Transaction>, StoreError>> + Send;
}

/// The right to sign a transaction, held by one invocation at a time, and what it signed.
pub trait SigningLease: Send + Sync {
    /// The right to sign an unsigned `received` or `retrying` transaction, for `lease`.
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
    /// → `signed`, only for the lease holder.
    fn record_signed(
        &self,
        id: TxId,
        token: &LeaseToken,
        signed: &SignedTx,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The signing account's nonce counter.
pub trait NonceCounter: Send + Sync {
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
    /// Raises the account's counter to `chain_next` if it is behind the chain. Returns the
    /// counter's value before, if it had to move.
    fn resync_nonce(
        &self,
        account: Account,
        chain_next: u64,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;
    /// The account's counter, if it has one.
    fn nonce_counter(
        &self,
        account: Account,
    ) -> impl Future<Output = Result<Option<CounterState>, StoreError>> + Send;
    /// Moves the counter back from `from` to `to`, only if it still says `from` (nobody took
    /// a nonce since it was read). Returns whether it moved.
    fn rewind_nonce(
        &self,
        account: Account,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Transactions holding a nonce of `account` at or above `from`, lowest nonce first, at
    /// most `limit` (read from an index: a nonce taken a moment ago may be missing).
    fn nonce_holders(
        &self,
        account: Account,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Transaction>, StoreError>> + Send;
    /// Keeps the watchdog's view of the lane beside its counter, if the counter exists (a lane
    /// that never took a nonce has nothing in flight to weigh); the counter is not touched.
    fn report_lane(
        &self,
        account: Account,
        report: &crate::lanes::LaneReport,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Every other move of a transaction along its status machine, each a conditional write.
pub trait Transitions: Send + Sync {
    /// → `broadcast`.
    fn record_broadcast(&self, id: TxId) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Same nonce, higher fees: swaps the signed transaction if `old` is still the current one.
    fn record_replacement(
        &self,
        id: TxId,
        old: B256,
        signed: &SignedTx,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `broadcast` → `confirmed` or `reverted`.
    fn record_inclusion(
        &self,
        id: TxId,
        inclusion: Inclusion,
        hash: B256,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `confirmed` or `reverted` → `broadcast`: its nonce (`nonce`) is not mined on the chain
    /// any more (`chain_next` is the chain's next nonce), so the block that included it was
    /// reorganised away. It is followed again. Refused (`Conflict`) if it moved on, or holds
    /// another nonce.
    fn record_reorged(
        &self,
        id: TxId,
        nonce: u64,
        chain_next: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// → `retrying`, unsigned, next generation: another sender took the nonce of the attempt
    /// signed as `lost`, and none of its hashes is on chain, so the call is signed again at a
    /// fresh nonce. Refused (`Conflict`) unless `lost` is still the current signature of a
    /// `signed`, `broadcast` or `retrying` transaction.
    fn record_nonce_lost(
        &self,
        id: TxId,
        lost: &SignedTx,
        chain_next: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// → `retrying`: counts the failed attempt and schedules the next.
    fn record_retry(
        &self,
        id: TxId,
        retry: &RetryRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// → `retrying` without counting an attempt: the transaction waits for something outside
    /// it (funds, fees below the cap) and its next attempt is at `next_attempt_at`. Refused
    /// (a conflict) for a message of an `generation` older than the transaction's: an
    /// operator's retry has taken over.
    fn record_wait(
        &self,
        id: TxId,
        reason: &str,
        next_attempt_at: OffsetDateTime,
        generation: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// → `needs_review`, decided by a message of `generation`: refused (`Conflict`) if an
    /// operator's retry or a lost nonce started a newer one since, so an old duplicate can't
    /// undo it.
    fn record_needs_review(
        &self,
        id: TxId,
        reason: &str,
        generation: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// → `reverted` without ever being sent: the call reverts when estimated.
    fn record_reverted_unsent(
        &self,
        id: TxId,
        reason: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A `broadcast` transaction's next receipt check is due at `next_check_at`, by the follow
    /// chain's next link `token`, only if the record still names `current` (`None`: no chain
    /// yet). Refused (`Conflict`) unless it is `broadcast` and still names `current`.
    fn follow(
        &self,
        id: TxId,
        next_check_at: OffsetDateTime,
        current: Option<&str>,
        token: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Notes when the next check is due, without changing the status.
    fn schedule(
        &self,
        id: TxId,
        next_attempt_at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Marks the transaction's message as dead-lettered and the transaction as needing review
    /// (unless it is already final), once per dead-lettered message.
    fn record_dead_letter(
        &self,
        id: TxId,
        queue: &str,
        message_id: &str,
        generation: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// An operator's retry, guarded by the status the decision was made on.
    fn record_admin_retry(
        &self,
        id: TxId,
        seen: Status,
        action: AdminRetry,
        by: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Appends to the history without changing anything else.
    fn record_event(
        &self,
        id: TxId,
        entry: HistoryEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What `/health` shows of a chain's node: a label, never its URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct NodeHealth {
    pub node: String,
    pub healthy: bool,
}

/// The chain's nodes as the watchdog last probed them, for `/health` (every function has
/// its own view of its nodes; this one is shared).
pub trait NodesHealth: Send + Sync {
    fn report_nodes(
        &self,
        chain_id: u64,
        nodes: &[NodeHealth],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The last report and when it was made.
    fn nodes_health(
        &self,
        chain_id: u64,
    ) -> impl Future<Output = Result<Option<(Vec<NodeHealth>, OffsetDateTime)>, StoreError>> + Send;
}

/// What the pipeline did on one chain in one minute: counts of its steps, and for each time
/// between stages the sum and number of the measured seconds (`crate::metrics::Progress`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinuteProgress {
    pub counts: std::collections::BTreeMap<String, u64>,
    pub seconds: std::collections::BTreeMap<String, (f64, u64)>,
}

/// Webhook deliveries not all queued: from `first` on, none is known to be.
#[derive(Debug, thiserror::Error)]
#[error("webhook deliveries from #{first} on were not queued: {error}")]
pub struct NotQueued {
    pub first: usize,
    #[source]
    pub error: QueueError,
}

/// Queues webhook deliveries, one message per event and endpoint.
pub trait WebhookQueue: Send + Sync {
    /// All of `messages` but those the queue refuses as they are (a message too large): their
    /// indexes, with why. A failure says from which message on none is known queued (those
    /// before it are; a delivery is at least once, and its event id lets a receiver drop a
    /// repeat).
    fn queue_deliveries(
        &self,
        messages: &[crate::webhooks::DeliveryMessage],
    ) -> impl Future<Output = Result<Vec<(usize, String)>, NotQueued>> + Send;
}

/// A client's webhook endpoints, and each transaction's deliveries.
pub trait WebhookStore: Send + Sync {
    /// The client's endpoints (none: an empty registry at version 0).
    fn endpoints(
        &self,
        client: &ClientId,
    ) -> impl Future<Output = Result<crate::webhooks::Registry, StoreError>> + Send;

    /// Stores `registry` if the stored one is still at `registry.version`, which then moves
    /// on by one. `Ok(false)`: someone changed it meanwhile (read again, decide again).
    fn save_endpoints(
        &self,
        client: &ClientId,
        registry: &crate::webhooks::Registry,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Keeps an event in its transaction's log, once however often it is logged, and at most
    /// [`crate::webhooks::MAX_LOGGED_EVENTS`] of them (the rest only counted).
    fn log_event(
        &self,
        tx: TxId,
        event: &crate::webhooks::LoggedEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds an attempt to its transaction's log (beyond
    /// [`crate::webhooks::MAX_LOGGED_ATTEMPTS`], only counted).
    fn log_attempt(
        &self,
        tx: TxId,
        attempt: &crate::webhooks::Attempt,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn deliveries(
        &self,
        tx: TxId,
    ) -> impl Future<Output = Result<crate::webhooks::DeliveryLog, StoreError>> + Send;
}

/// The pipeline's progress per chain and minute (a minute is its Unix time over 60), for the
/// status page's charts: the notifier adds each stream batch's; kept for two hours.
pub trait ProgressLog: Send + Sync {
    /// Adds `step` to the chain's minute.
    fn add_progress(
        &self,
        chain_id: u64,
        minute: i64,
        step: &MinuteProgress,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The chain's minutes in `minutes` that have any progress, oldest first (at most 100).
    fn progress(
        &self,
        chain_id: u64,
        minutes: std::ops::Range<i64>,
    ) -> impl Future<Output = Result<Vec<(i64, MinuteProgress)>, StoreError>> + Send;
}

/// The minutes [`ProgressLog::progress`] reads at most at once.
pub const MAX_PROGRESS_MINUTES: i64 = 100;

/// The minutes of `asked` a [`ProgressLog`] reads: at most the latest
/// [`MAX_PROGRESS_MINUTES`] (empty when `asked` is empty or backwards).
pub fn progress_window(asked: std::ops::Range<i64>) -> std::ops::Range<i64> {
    asked.start.max(asked.end - MAX_PROGRESS_MINUTES)..asked.end
}

/// Every role at once: what the DynamoDB adapter and the in-memory twin offer. A handler names
/// only the roles it uses.
pub trait TransactionStore:
    Intake + Reading + SigningLease + NonceCounter + Transitions + NodesHealth + ProgressLog
{
}

impl<S> TransactionStore for S where
    S: Intake + Reading + SigningLease + NonceCounter + Transitions + NodesHealth + ProgressLog
{
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

/// Control over the delivery being processed: when SQS shows it again.
pub trait Redelivery: Send + Sync {
    /// `queue_arn` is the delivery's `eventSourceARN`: a consumer may read several queues.
    fn redeliver_after(
        &self,
        queue_arn: Option<&str>,
        receipt_handle: &str,
        delay: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Hands signed transactions to the broadcaster, now or after a delay.
pub trait BroadcastQueue: Send + Sync {
    fn enqueue(
        &self,
        msg: &TxMessage,
        delay: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Every node error's text starts with a stable reason (`node_unavailable: …`) and goes on with
/// the node's own words, scrubbed of URLs and secrets where the error is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The node already has this exact transaction.
    #[error("already_known: the node already knows this transaction")]
    AlreadyKnown,
    /// The nonce is used: by this very transaction (fine) or by another one (not fine). The
    /// caller must look on chain before deciding.
    #[error("nonce_too_low: {0}")]
    NonceTooLow(String),
    /// Another transaction with this nonce is in the pool with fees at least as high.
    #[error("underpriced: {0}")]
    Underpriced(String),
    #[error("insufficient_funds: {0}")]
    InsufficientFunds(String),
    #[error("node_timeout: the node did not answer within {0:?}")]
    Timeout(Duration),
    /// The node's pool has no room for one more of the sender's transactions.
    #[error("pool_full: the node's pool has no room for the sender's next transaction: {0}")]
    PoolFull(String),
    #[error("node_unavailable: the node is unavailable: {0}")]
    Unavailable(String),
    /// The node answered with an error in wording nobody listed (`adapters::node_errors`).
    #[error("node_unrecognized: the node refused with an answer not in the table: {0}")]
    Unrecognized(String),
    #[error("call_reverts: the call reverts: {0}")]
    Reverted(String),
    #[error("node_rejected: the node rejected the request (code {code}): {message}")]
    Rejected { code: i64, message: String },
}

/// Whether waiting can fix a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retryability {
    Retryable,
    Permanent,
}

impl NodeError {
    /// The one classification of node failures, with the reason (see docs/failure-model.md).
    pub const fn classify(&self) -> (Retryability, &'static str) {
        use Retryability::*;
        match self {
            NodeError::AlreadyKnown => (Permanent, "not a failure: the node has our transaction"),
            NodeError::NonceTooLow(_) => (
                Retryable,
                "decided on chain: mined by us is success, else wait for the chain to catch up",
            ),
            NodeError::Underpriced(_) => (
                Retryable,
                "a transaction with our nonce is pending; wait for it",
            ),
            NodeError::InsufficientFunds(_) => (
                Retryable,
                "the signer can be funded; retried until the attempts run out",
            ),
            NodeError::Timeout(_) => (Retryable, "slow node; the next attempt may be faster"),
            NodeError::PoolFull(_) => (
                Retryable,
                "the pool (or the sender's share of it) is full: blocks make room; a wait, not an attempt",
            ),
            NodeError::Unavailable(_) => (
                Retryable,
                "HTTP 5xx, dropped connection, rate limit or internal error",
            ),
            NodeError::Unrecognized(_) => (
                Retryable,
                "an answer nobody listed: retried up to the attempt cap, then reviewed with its nonce filled",
            ),
            NodeError::Reverted(_) => (
                Permanent,
                "the call itself reverts; sending it would only burn gas",
            ),
            NodeError::Rejected { .. } => (
                Permanent,
                "the node refuses this transaction as such; retrying sends the same bytes",
            ),
        }
    }

    pub const fn is_retryable(&self) -> bool {
        matches!(self.classify().0, Retryability::Retryable)
    }
}

/// Gas and fee parameters for one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasPlan {
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// The latest block, as far as the fee market and re-pricing care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub number: u64,
    pub base_fee: u128,
}

/// What the node knows of a transaction hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Unknown: never seen, or dropped from the pool.
    Unknown,
    Pending,
    Included(Inclusion),
}

/// The JSON-RPC node.
pub trait ChainNode: Send + Sync {
    /// Next nonce counting pending transactions.
    fn pending_nonce(
        &self,
        address: Address,
    ) -> impl Future<Output = Result<u64, NodeError>> + Send;
    /// Next nonce counting only mined transactions.
    fn mined_nonce(&self, address: Address) -> impl Future<Output = Result<u64, NodeError>> + Send;
    /// The same, as of block `block`.
    fn mined_nonce_at(
        &self,
        address: Address,
        block: u64,
    ) -> impl Future<Output = Result<u64, NodeError>> + Send;
    fn lookup(&self, hash: B256) -> impl Future<Output = Result<Lookup, NodeError>> + Send;
    /// The latest block: its number and base fee, read together.
    fn head(&self) -> impl Future<Output = Result<Head, NodeError>> + Send;
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
    /// Whether the block the receipt of `hash` names is the canonical block at its height:
    /// `false` for a receipt from a block a reorganisation took away (or a node that lies).
    fn on_canonical_chain(
        &self,
        hash: B256,
    ) -> impl Future<Output = Result<bool, NodeError>> + Send;
    /// The tip that gets a transaction included now (`eth_maxPriorityFeePerGas`).
    fn suggested_tip(&self) -> impl Future<Output = Result<u128, NodeError>> + Send;
    /// The chain the node serves (`eth_chainId`).
    fn chain_id(&self) -> impl Future<Output = Result<u64, NodeError>> + Send;
    /// The account's balance in wei at the latest block.
    fn balance(&self, address: Address) -> impl Future<Output = Result<u128, NodeError>> + Send;

    /// Every node, asked now whether it answers and serves the chain (a single node is one,
    /// `node-1`).
    fn probe(&self) -> impl Future<Output = Vec<NodeHealth>> + Send {
        async move {
            vec![NodeHealth {
                node: "node-1".into(),
                healthy: self.block_number().await.is_ok(),
            }]
        }
    }

    /// One node, for a decision made of several reads. Behind a pool each read could come
    /// from another node, and a node that lags could answer half of a question that a node
    /// ahead answered the other half of ("the nonce is used deep" from one, "not by ours"
    /// from the other: a call signed twice). A single node is its own.
    fn one(&self) -> impl ChainNode + '_
    where
        Self: Sized,
    {
        self
    }
}

/// A reference to a node is the node (what [`ChainNode::one`] gives by default).
impl<T: ChainNode> ChainNode for &T {
    fn pending_nonce(
        &self,
        address: Address,
    ) -> impl Future<Output = Result<u64, NodeError>> + Send {
        (**self).pending_nonce(address)
    }
    fn mined_nonce(&self, address: Address) -> impl Future<Output = Result<u64, NodeError>> + Send {
        (**self).mined_nonce(address)
    }
    fn mined_nonce_at(
        &self,
        address: Address,
        block: u64,
    ) -> impl Future<Output = Result<u64, NodeError>> + Send {
        (**self).mined_nonce_at(address, block)
    }
    fn lookup(&self, hash: B256) -> impl Future<Output = Result<Lookup, NodeError>> + Send {
        (**self).lookup(hash)
    }
    fn head(&self) -> impl Future<Output = Result<Head, NodeError>> + Send {
        (**self).head()
    }
    fn plan_gas(
        &self,
        from: Address,
        to: Address,
        data: &Bytes,
    ) -> impl Future<Output = Result<GasPlan, NodeError>> + Send {
        (**self).plan_gas(from, to, data)
    }
    fn send_raw(&self, raw: &Bytes) -> impl Future<Output = Result<B256, NodeError>> + Send {
        (**self).send_raw(raw)
    }
    fn inclusion(
        &self,
        hash: B256,
    ) -> impl Future<Output = Result<Option<Inclusion>, NodeError>> + Send {
        (**self).inclusion(hash)
    }
    fn block_number(&self) -> impl Future<Output = Result<u64, NodeError>> + Send {
        (**self).block_number()
    }
    fn on_canonical_chain(
        &self,
        hash: B256,
    ) -> impl Future<Output = Result<bool, NodeError>> + Send {
        (**self).on_canonical_chain(hash)
    }
    fn suggested_tip(&self) -> impl Future<Output = Result<u128, NodeError>> + Send {
        (**self).suggested_tip()
    }
    fn chain_id(&self) -> impl Future<Output = Result<u64, NodeError>> + Send {
        (**self).chain_id()
    }
    fn balance(&self, address: Address) -> impl Future<Output = Result<u128, NodeError>> + Send {
        (**self).balance(address)
    }
    fn one(&self) -> impl ChainNode + '_ {
        (**self).one()
    }
    fn probe(&self) -> impl Future<Output = Vec<NodeHealth>> + Send {
        (**self).probe()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("key_unavailable: the signing key is unavailable: {0}")]
    Unavailable(String),
    #[error("key_failed: signing failed: {0}")]
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
