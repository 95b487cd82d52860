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

use alloy::primitives::Address;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tx_shared::adapters::{
    dynamo::DynamoStore, kms::KmsSigner, pool::NodePool, rpc::RpcNode, sqs::SqsQueue,
};
use tx_shared::aws::AwsClients;
use tx_shared::backoff::Backoff;
use tx_shared::batch::{self, RetryLater};
use tx_shared::by_chain::ByChain;
use tx_shared::config::{ChainDecl, Chains, ConfigError, Env};
use tx_shared::domain::{SignedTx, Status, Transaction, TxId, TxMessage};
use tx_shared::lanes::{KeyPool, LaneView};
use tx_shared::nonce_filler::fill_for;
use tx_shared::ports::{
    Account, BroadcastQueue, ChainNode, Claim, LeaseToken, NodeError, NonceCounter,
    NonceReservation, Reading, Redelivery, SigningLease, StoreError, TransactionSigner,
    Transitions,
};
use tx_shared::retry::{schedule_retry, wait_for};
use tx_shared::validation::{self, BroadcastRequest, MessageTypePolicy};

/// What one transaction may spend, checked before it is signed (the rule is the domain's).
pub use tx_shared::domain::fees::SpendCaps;
use tx_shared::domain::fees::{Fees, OverCap, eip1559};

/// How long a transaction waits (without using up a delivery) for funds or for fees to fall.
pub const WAIT: Duration = Duration::from_secs(60);
/// The lanes are read again at most this often per container.
pub const LANE_VIEWS_FOR: Duration = Duration::from_secs(2);

/// The signer's configuration, from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub table_name: String,
    pub sign_queue_url: String,
    /// Operators' retries arrive here, ahead of the backlog.
    pub sign_priority_queue_url: Option<String>,
    pub broadcast_queue_url: String,
    /// The chains served: each one's keys (a lane each), nodes, targets, allowlist and caps.
    pub chains: Chains,
    pub rpc_timeout: Duration,
    pub signing_lease: Duration,
    pub backoff: Backoff,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let chains = env.chains()?;
        for chain in chains.iter() {
            // Every chain signs: each needs a target and an allowlist.
            chain.target()?;
            chain.policy()?;
        }
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
            sign_queue_url: env.required("SIGN_QUEUE_URL")?,
            sign_priority_queue_url: env.optional("SIGN_PRIORITY_QUEUE_URL")?,
            broadcast_queue_url: env.required("BROADCAST_QUEUE_URL")?,
            chains,
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
    /// The chain's lanes: a new transaction takes the one with the fewest in flight.
    pub keys: KeyPool<K>,
    pub chain_id: u64,
    pub target_contract: Address,
    pub target_overrides: BTreeMap<String, Address>,
    pub signing_lease: Duration,
    pub backoff: Backoff,
    pub policy: MessageTypePolicy,
    pub caps: SpendCaps,
    /// The lanes as last read (counters and the watchdog's reports), and when.
    pub lane_views: std::sync::Mutex<Option<(std::time::Instant, Vec<LaneView>)>>,
    /// How long the lanes as read are weighed before they are read again.
    pub lane_views_for: Duration,
    /// The node was seen serving `chain_id` (see `check_chain`).
    pub chain_checked: std::sync::atomic::AtomicBool,
}

/// The signer as deployed: DynamoDB, SQS, JSON-RPC and KMS.
pub type AwsSigner = Signer<DynamoStore, SqsQueue, SqsQueue, NodePool<RpcNode>, KmsSigner>;

impl AwsSigner {
    /// One chain's signer.
    pub fn from_aws(
        config: &Config,
        chain: &ChainDecl,
        clients: &AwsClients,
    ) -> Result<Self, ConfigError> {
        let sqs = clients.sqs.clone();
        Ok(Signer {
            store: DynamoStore::new(clients.dynamodb.clone(), &config.table_name),
            queue: SqsQueue::new(sqs.clone(), &config.broadcast_queue_url),
            redelivery: config.sign_priority_queue_url.iter().fold(
                SqsQueue::new(sqs, &config.sign_queue_url),
                |queue, priority| queue.with_sibling(priority),
            ),
            node: NodePool::for_chain(chain, config.rpc_timeout)?,
            keys: KmsSigner::lanes_of(&clients.kms, chain),
            chain_id: chain.id,
            target_contract: chain.target()?,
            target_overrides: chain.target_overrides.clone(),
            signing_lease: config.signing_lease,
            backoff: config.backoff,
            policy: chain.policy()?,
            caps: chain.caps,
            lane_views: Default::default(),
            lane_views_for: LANE_VIEWS_FOR,
            chain_checked: Default::default(),
        })
    }

    /// A signer for every chain served, the default chain's first.
    pub fn for_each_chain(
        config: &Config,
        clients: &AwsClients,
    ) -> Result<ByChain<Self>, ConfigError> {
        ByChain::of_chains(&config.chains, |chain| {
            AwsSigner::from_aws(config, chain, clients)
        })
    }
}

/// The Lambda entry point: each record is signed by its transaction's chain's signer. A
/// transaction for a chain no longer declared waits (an alarm: `chain_not_served`).
pub async fn handle<S, Q, R, N, K>(
    signers: &ByChain<Signer<S, Q, R, N, K>>,
    event: SqsEvent,
    deadline: batch::Deadline,
) -> SqsBatchResponse
where
    S: Reading + SigningLease + NonceCounter + Transitions,
    Q: BroadcastQueue,
    R: Redelivery + BroadcastQueue,
    N: ChainNode,
    K: TransactionSigner,
{
    signers
        .first()
        .handle_routed(Some(signers), event, deadline)
        .await
}

/// Node requests one record makes in a row at most: chain id 1, a node's chain check at its
/// first use 1, estimate and fees 2. With the node's timeout, what the Lambda timeout must
/// hold (`infra/main.tf`, checked by infra-check).
pub const NODE_CALLS_PER_RECORD: u64 = 4;

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
    /// Waiting for funds or for fees to fall under the cap; a fresh message is scheduled.
    Waiting,
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
    /// Waits for something outside the transaction (funds, fees under the cap); the attempt
    /// does not count.
    Wait(String),
}

impl Failure {
    /// While planning and signing nothing is sent yet, so only two node answers are final: the
    /// call reverts, or the node refuses the request as such. Pool answers ("already known",
    /// "nonce too low", …) can only be noise here, and pass.
    fn node(err: NodeError) -> Self {
        match err {
            e @ NodeError::Reverted(_) => Failure::Reverts(e.to_string()),
            e @ NodeError::InsufficientFunds(_) => Failure::Wait(format!(
                "insufficient_funds: the signer's account can't pay ({e}); fund it"
            )),
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
    S: Reading + SigningLease + NonceCounter + Transitions,
    Q: BroadcastQueue,
    R: Redelivery + BroadcastQueue,
    N: ChainNode,
    K: TransactionSigner,
{
    /// The Lambda entry point for one chain: every record concurrently, failures reported per
    /// record.
    pub async fn handle(&self, event: SqsEvent, deadline: batch::Deadline) -> SqsBatchResponse {
        self.handle_routed(None, event, deadline).await
    }

    async fn handle_routed(
        &self,
        chains: Option<&ByChain<Self>>,
        event: SqsEvent,
        deadline: batch::Deadline,
    ) -> SqsBatchResponse {
        batch::process(event, deadline, &self.redelivery, |delivery| async move {
            self.sign_message(chains, &delivery.message, delivery.receive_count)
                .await
                .map(|_| ())
        })
        .await
    }

    /// Signs one transaction; `attempt` is the message's receive count.
    pub async fn sign(&self, id: TxId, attempt: u32) -> Result<Outcome, RetryLater> {
        self.sign_message(None, &TxMessage::new(id), attempt).await
    }

    /// Claims the transaction, then signs it with its own chain's signer (among `chains`;
    /// this one's when there is no other).
    async fn sign_message(
        &self,
        chains: Option<&ByChain<Self>>,
        message: &TxMessage,
        attempt: u32,
    ) -> Result<Outcome, RetryLater> {
        let id = message.transaction_id;
        let claim = match self.store.claim_for_signing(id, self.signing_lease).await {
            Ok(claim) => claim,
            Err(e) => return Err(self.retry(message, attempt, &e.to_string()).await),
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
            Claim::Granted { tx, token } => {
                let signer = chains.and_then(|c| c.get(tx.chain_id)).unwrap_or(self);
                signer.sign_granted(message, attempt, &tx, &token).await
            }
        }
    }

    async fn sign_granted(
        &self,
        message: &TxMessage,
        attempt: u32,
        tx: &Transaction,
        token: &LeaseToken,
    ) -> Result<Outcome, RetryLater> {
        match self.sign_claimed(tx, token).await {
            Ok(signed) => {
                tracing::info!(nonce = signed.nonce, tx_hash = %signed.hash, "signed");
                self.enqueue(tx).await?;
                Ok(Outcome::Signed(signed))
            }
            Err(failure) => {
                if let Err(e) = self.store.release_claim(tx.id, token).await {
                    tracing::warn!(error = %e, "could not release the signing lease; it will expire");
                }
                self.fail(message, attempt, failure).await
            }
        }
    }

    async fn fail(
        &self,
        message: &TxMessage,
        attempt: u32,
        failure: Failure,
    ) -> Result<Outcome, RetryLater> {
        let id = message.transaction_id;
        match failure {
            Failure::Wait(reason) => {
                wait_for(&self.store, &self.redelivery, message, &reason, WAIT).await?;
                Ok(Outcome::Waiting)
            }
            Failure::Transient(reason) => {
                let retry = self.retry(message, attempt, &reason).await;
                // The last attempt: under review now. A nonce it took is never sent from here
                // (nothing signed was stored), so it is filled rather than left as a hole.
                if self.backoff.is_last(attempt) {
                    self.fill_gap(message).await;
                }
                Err(retry)
            }
            Failure::LostRace(reason) => Err(RetryLater::new(reason)),
            Failure::Reverts(reason) => {
                tracing::warn!(%reason, "the call reverts; not sending it");
                self.settle(id, self.store.record_reverted_unsent(id, &reason).await)?;
                self.fill_gap(message).await;
                Ok(Outcome::Reverted)
            }
            Failure::Permanent(reason) => {
                tracing::error!(%reason, "signing failed for good; the transaction needs review");
                self.settle(
                    id,
                    self.store
                        .record_needs_review(id, &reason, message.generation)
                        .await,
                )?;
                self.fill_gap(message).await;
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

    async fn retry(&self, message: &TxMessage, attempt: u32, reason: &str) -> RetryLater {
        schedule_retry(&self.store, &self.backoff, message, attempt, reason).await
    }

    async fn sign_claimed(
        &self,
        tx: &Transaction,
        token: &LeaseToken,
    ) -> Result<SignedTx, Failure> {
        if tx.chain_id != self.chain_id {
            let reason = tx_shared::by_chain::not_served(tx.chain_id, "sign it");
            return Err(Failure::Wait(reason));
        }
        // What reaches the table is not trusted to have come through the API: the call is
        // validated again, against this function's own allowlist, before anything is spent.
        let to = self.check_what_is_signed(tx)?;
        self.check_chain().await?;
        // A transaction keeps the lane that took its nonce; a new one takes the least busy.
        let (lane, from) = match (tx.nonce, tx.from) {
            (Some(_), Some(from)) => (self.keys.key_for(from).await.map_err(Failure::key)?, from),
            (Some(nonce), None) => {
                return Err(Failure::Permanent(format!(
                    "nonce {nonce} is recorded without the address that took it"
                )));
            }
            (None, _) => self.lane().await?,
        };
        // Plan gas before taking a nonce: a call that can't even be estimated takes none.
        let plan = self
            .node
            .plan_gas(from, to, &tx.data)
            .await
            .map_err(Failure::node)?;
        self.check_spend(&plan)?;
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
        let unsigned = eip1559(
            self.chain_id,
            nonce,
            to,
            plan.gas_limit,
            plan_fees(&plan),
            tx.data.clone(),
        );
        let signature = lane.sign(unsigned).await.map_err(Failure::key)?;
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

    /// The node must serve the chain this deployment signs for, or everything signed is refused
    /// after its nonce is taken: nothing is taken until they agree. A mismatch is the
    /// deployment's fault, not the transaction's, so it waits without using attempts, and the
    /// wait is an alarm (`TransactionsWaiting`, reason `chain_id_mismatch`).
    ///
    /// A match is remembered for the container's life (a node's URL serves one chain; a slow
    /// node's answer costs seconds); a mismatch is asked again at every transaction, so the
    /// wait ends as soon as the node is put right, without a redeploy.
    async fn check_chain(&self) -> Result<(), Failure> {
        if self
            .chain_checked
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Ok(());
        }
        let served = self.node.chain_id().await.map_err(Failure::node)?;
        if served == self.chain_id {
            self.chain_checked
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Ok(());
        }
        tracing::error!(
            node_chain_id = served,
            chain_id = self.chain_id,
            "the node serves another chain; nothing is signed until the chain's id and nodes agree"
        );
        Err(Failure::Wait(format!(
            "chain_id_mismatch: the node serves chain {served}, this deployment signs for chain {}; fix the chain's id or nodes",
            self.chain_id
        )))
    }

    /// The call must be one the API would accept now, under this deployment's allowlist, and
    /// its target must be known. Returns the target.
    fn check_what_is_signed(&self, tx: &Transaction) -> Result<Address, Failure> {
        let refused = |why: String| Failure::Permanent(format!("refused to sign: {why}"));
        let request = BroadcastRequest {
            message_type: tx.message_type.clone(),
            data: tx.data.to_string(),
            chain: None,
        };
        let call = validation::validate_call(&request, &self.policy)
            .map_err(|e| refused(format!("{} ({e})", e.code())))?;
        if call.function_signature != tx.function_signature {
            return Err(refused(format!(
                "the stored signature `{}` does not match its message type `{}`",
                tx.function_signature, call.function_signature
            )));
        }
        let to = self
            .target_overrides
            .get(&call.function_signature)
            .copied()
            .unwrap_or(self.target_contract);
        if to == Address::ZERO {
            return Err(refused(format!(
                "no target contract is configured for `{}`",
                call.function_signature
            )));
        }
        Ok(to)
    }

    /// The caps apply to the first signature, not only to replacements: too much gas is for
    /// good, too high a fee is waited out.
    fn check_spend(&self, plan: &tx_shared::ports::GasPlan) -> Result<(), Failure> {
        self.caps
            .check(plan.gas_limit, plan_fees(plan))
            .map_err(|over| match over {
                OverCap::GasLimit { .. } => Failure::Permanent(over.to_string()),
                OverCap::FeePerGas { .. } => Failure::Wait(over.to_string()),
            })
    }

    /// The lane a new transaction takes, and its address (see `tx_shared::lanes::choose`).
    /// The lanes are read at most every `lane_views_for` per container; the choice counts
    /// against its lane at once, under the lock, so the records of one batch spread.
    async fn lane(&self) -> Result<(&K, Address), Failure> {
        let addresses = self.keys.addresses().await;
        let cached = self
            .lane_views
            .lock()
            .ok()
            .and_then(|views| views.clone())
            .filter(|(at, _)| at.elapsed() < self.lane_views_for);
        if cached.is_none() {
            let readable: Vec<Address> = addresses.iter().flatten().copied().collect();
            let counters = futures::future::try_join_all(readable.iter().map(|&address| {
                self.store.nonce_counter(Account {
                    chain_id: self.chain_id,
                    address,
                })
            }))
            .await
            .map_err(Failure::store)?;
            let views: Vec<LaneView> = readable
                .iter()
                .zip(counters)
                .map(|(&address, counter)| LaneView {
                    address,
                    next: counter.map(|c| c.next),
                    report: counter.and_then(|c| c.lane),
                    taken_since: 0,
                })
                .collect();
            // Another record of this container may have read them meanwhile, and counted its
            // choice: its view stands.
            if let Ok(mut cache) = self.lane_views.lock()
                && cache
                    .as_ref()
                    .is_none_or(|(at, _)| at.elapsed() >= self.lane_views_for)
            {
                *cache = Some((std::time::Instant::now(), views));
            }
        }
        let chosen = {
            let Ok(mut cache) = self.lane_views.lock() else {
                return Err(Failure::Transient("the lanes' cache is poisoned".into()));
            };
            let Some((_, views)) = cache.as_mut() else {
                return Err(Failure::Transient("no lane could be read".into()));
            };
            if self.keys.is_empty() {
                return Err(Failure::Permanent("no signing key is configured".into()));
            }
            if views.is_empty() {
                return Err(Failure::Transient(
                    "no lane's key can be read now (KMS)".into(),
                ));
            }
            // One configured lane keeps signing behind its own stall, as a single key did.
            let only = (self.keys.len() == 1).then_some(0);
            match tx_shared::lanes::choose(views).or(only) {
                Some(i) => {
                    views[i].taken_since += 1;
                    views[i].next = views[i].next.map(|n| n + 1);
                    Some(views[i].address)
                }
                None => None,
            }
        };
        let Some(address) = chosen else {
            // Several lanes, none open: a nonce taken now would wait behind a stall or a
            // missing balance. Nothing is taken; the wait is the waiting alarm.
            return Err(Failure::Wait(
                "no_lane_open: every lane is stalled or underfunded (GET /health says which); fund or repair one".into(),
            ));
        };
        let position = addresses.iter().position(|a| *a == Some(address));
        match position.and_then(|i| self.keys.keys().get(i)) {
            Some(key) => Ok((key, address)),
            None => Err(Failure::Transient(
                "the lanes changed while one was chosen".into(),
            )),
        }
    }

    /// The nonce a lane gave, for the lanes' cache: its next is past it.
    fn took(&self, address: Address, nonce: u64) {
        if let Ok(mut cache) = self.lane_views.lock()
            && let Some((_, views)) = cache.as_mut()
            && let Some(view) = views.iter_mut().find(|v| v.address == address)
        {
            view.next = Some(view.next.unwrap_or(0).max(nonce + 1));
        }
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
                NonceReservation::Assigned(nonce) => {
                    self.took(account.address, nonce);
                    return Ok(nonce);
                }
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

    /// A transaction that holds a nonce but will never be sent must not block later nonces:
    /// only if this message's verdict stands (under review or reverted, in its generation; a
    /// newer generation may be taking that nonce right now).
    async fn fill_gap(&self, message: &TxMessage) {
        let id = message.transaction_id;
        let Ok(Some(tx)) = self.store.get(id).await else {
            return;
        };
        let settled = matches!(tx.status, Status::NeedsReview | Status::Reverted)
            && tx.generation == message.generation;
        let (true, Some(nonce), None) = (settled, tx.nonce, tx.signed.as_ref()) else {
            return;
        };
        let Some(from) = tx.from else {
            return;
        };
        match self.keys.key_for(from).await {
            Ok(key) => fill_for(&self.store, &self.node, key, self.chain_id, id, nonce).await,
            Err(e) => tracing::error!(error = %e, nonce, "no key to fill the nonce with"),
        }
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

fn plan_fees(plan: &tx_shared::ports::GasPlan) -> Fees {
    Fees {
        max_fee_per_gas: plan.max_fee_per_gas,
        max_priority_fee_per_gas: plan.max_priority_fee_per_gas,
    }
}

#[cfg(test)]
mod tests;
