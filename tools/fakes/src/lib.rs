//! Scripted stand-ins for the node, the key and the queues, for fast unit tests of the handlers'
//! decisions over the in-memory store ([`tx_shared::adapters::memory::MemoryStore`], whose contract
//! is DynamoDB's). A crate of its own, and only ever a dev-dependency: nothing here reaches a
//! function's build.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use alloy::consensus::TxEip1559;
use alloy::primitives::{Address, B256, Bytes, keccak256};

use tx_shared::domain::{Inclusion, NewTransaction, SignedTx, TxId, TxMessage};
use tx_shared::ports::{
    Account, BroadcastQueue, ChainNode, Claim, GasPlan, Head, Intake, LeaseToken, Lookup,
    NodeError, NonceCounter, NonceReservation, QueueError, Redelivery, RequestPublisher, SignError,
    Signature, SigningLease, TransactionSigner,
};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sets one of the scripted answers (`set(&node.mined_nonce, Ok(3))`).
pub fn set<T>(cell: &Mutex<T>, value: T) {
    *lock(cell) = value;
}

/// A node whose answers are scripted per call kind; an unscripted call gets the default.
#[derive(Debug)]
pub struct ScriptedNode {
    pub plans: Mutex<VecDeque<Result<GasPlan, NodeError>>>,
    pub sends: Mutex<VecDeque<Result<B256, NodeError>>>,
    pub lookups: Mutex<VecDeque<Result<Lookup, NodeError>>>,
    pub pending_nonce: Mutex<Result<u64, NodeError>>,
    pub mined_nonce: Mutex<Result<u64, NodeError>>,
    /// `mined_nonce_at` any block: `None` answers as `mined_nonce`.
    pub mined_nonce_deep: Mutex<Option<Result<u64, NodeError>>>,
    pub balance: Mutex<Result<u128, NodeError>>,
    pub base_fee: Mutex<Result<u128, NodeError>>,
    /// The latest block's number (`head`, `block_number`).
    pub head: Mutex<u64>,
    pub chain_id: Mutex<Result<u64, NodeError>>,
    pub tip: Mutex<Result<u128, NodeError>>,
    /// What `on_canonical_chain` answers, for any hash.
    pub canonical: Mutex<Result<bool, NodeError>>,
    /// Every raw transaction sent, in order.
    pub sent: Mutex<Vec<Bytes>>,
    /// The receipt `inclusion` answers: the last one a lookup found (a node keeps its
    /// receipts), unless set.
    pub receipt: Mutex<Option<Inclusion>>,
}

impl Default for ScriptedNode {
    fn default() -> Self {
        ScriptedNode {
            plans: Mutex::default(),
            sends: Mutex::default(),
            lookups: Mutex::default(),
            pending_nonce: Mutex::new(Ok(0)),
            mined_nonce: Mutex::new(Ok(0)),
            mined_nonce_deep: Mutex::new(None),
            balance: Mutex::new(Ok(10u128.pow(18))),
            base_fee: Mutex::new(Ok(1_000_000_000)),
            head: Mutex::new(1),
            chain_id: Mutex::new(Ok(31337)),
            tip: Mutex::new(Ok(1_000_000_000)),
            canonical: Mutex::new(Ok(true)),
            sent: Mutex::default(),
            receipt: Mutex::default(),
        }
    }
}

impl ScriptedNode {
    /// The plan every unscripted estimate gets: 26,000 gas at 2 gwei, 1 gwei tip.
    pub const PLAN: GasPlan = GasPlan {
        gas_limit: 26_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
    };

    pub fn script_plan(&self, answer: Result<GasPlan, NodeError>) -> &Self {
        lock(&self.plans).push_back(answer);
        self
    }

    pub fn script_send(&self, answer: Result<B256, NodeError>) -> &Self {
        lock(&self.sends).push_back(answer);
        self
    }

    pub fn script_lookup(&self, answer: Result<Lookup, NodeError>) -> &Self {
        lock(&self.lookups).push_back(answer);
        self
    }

    pub fn sent(&self) -> Vec<Bytes> {
        lock(&self.sent).clone()
    }
}

impl ChainNode for ScriptedNode {
    async fn pending_nonce(&self, _: Address) -> Result<u64, NodeError> {
        lock(&self.pending_nonce).clone()
    }

    async fn mined_nonce(&self, _: Address) -> Result<u64, NodeError> {
        lock(&self.mined_nonce).clone()
    }

    async fn mined_nonce_at(&self, _: Address, _: u64) -> Result<u64, NodeError> {
        match lock(&self.mined_nonce_deep).clone() {
            Some(answer) => answer,
            None => lock(&self.mined_nonce).clone(),
        }
    }

    async fn lookup(&self, _: B256) -> Result<Lookup, NodeError> {
        let answer = lock(&self.lookups)
            .pop_front()
            .unwrap_or(Ok(Lookup::Pending));
        if let Ok(Lookup::Included(inclusion)) = answer {
            *lock(&self.receipt) = Some(inclusion);
        }
        answer
    }

    async fn head(&self) -> Result<Head, NodeError> {
        Ok(Head {
            number: *lock(&self.head),
            base_fee: lock(&self.base_fee).clone()?,
        })
    }

    async fn plan_gas(&self, _: Address, _: Address, _: &Bytes) -> Result<GasPlan, NodeError> {
        lock(&self.plans).pop_front().unwrap_or(Ok(Self::PLAN))
    }

    async fn send_raw(&self, raw: &Bytes) -> Result<B256, NodeError> {
        lock(&self.sent).push(raw.clone());
        lock(&self.sends)
            .pop_front()
            .unwrap_or_else(|| Ok(keccak256(raw)))
    }

    async fn inclusion(&self, _: B256) -> Result<Option<Inclusion>, NodeError> {
        Ok(*lock(&self.receipt))
    }

    async fn block_number(&self) -> Result<u64, NodeError> {
        Ok(*lock(&self.head))
    }

    async fn balance(&self, _: Address) -> Result<u128, NodeError> {
        lock(&self.balance).clone()
    }

    async fn chain_id(&self) -> Result<u64, NodeError> {
        lock(&self.chain_id).clone()
    }

    async fn suggested_tip(&self) -> Result<u128, NodeError> {
        lock(&self.tip).clone()
    }

    async fn on_canonical_chain(&self, _: B256) -> Result<bool, NodeError> {
        lock(&self.canonical).clone()
    }
}

/// A key that "signs" by hashing the transaction: the raw bytes are the hash's preimage, and
/// the hash is what a node would answer for them ([`ScriptedNode::send_raw`]).
#[derive(Debug, Default)]
pub struct FakeKey {
    pub failures: Mutex<VecDeque<SignError>>,
    pub signed: Mutex<Vec<TxEip1559>>,
    /// Its address, if not [`FakeKey::ADDRESS`].
    pub address: Option<Address>,
    /// Its address can't be read (a disabled or unreachable key).
    pub unreadable: bool,
}

impl FakeKey {
    pub const ADDRESS: Address = Address::repeat_byte(0xab);

    /// A key of another lane.
    pub fn at(address: Address) -> Self {
        FakeKey {
            address: Some(address),
            ..FakeKey::default()
        }
    }

    pub fn signed(&self) -> Vec<TxEip1559> {
        lock(&self.signed).clone()
    }
}

impl TransactionSigner for FakeKey {
    async fn address(&self) -> Result<Address, SignError> {
        if self.unreadable {
            return Err(SignError::Unavailable("KMSInvalidStateException".into()));
        }
        Ok(self.address.unwrap_or(Self::ADDRESS))
    }

    async fn sign(&self, tx: TxEip1559) -> Result<Signature, SignError> {
        if let Some(failure) = lock(&self.failures).pop_front() {
            return Err(failure);
        }
        let raw = Bytes::from(format!("{tx:?}").into_bytes());
        lock(&self.signed).push(tx);
        Ok(Signature {
            hash: keccak256(&raw),
            raw,
        })
    }
}

/// A queue that records what it was given (and, as a redelivery, the delays asked for).
#[derive(Debug, Default)]
pub struct RecordingQueue {
    pub enqueued: Mutex<Vec<(TxMessage, Duration)>>,
    pub redelivered: Mutex<Vec<Duration>>,
    /// The next sends (enqueue or publish) fail with these, in order; nothing is recorded.
    pub failures: Mutex<VecDeque<QueueError>>,
}

impl RecordingQueue {
    pub fn enqueued(&self) -> Vec<(TxMessage, Duration)> {
        lock(&self.enqueued).clone()
    }

    pub fn fail_next(&self, error: QueueError) -> &Self {
        lock(&self.failures).push_back(error);
        self
    }

    fn record(&self, msg: &TxMessage, delay: Duration) -> Result<(), QueueError> {
        if let Some(failure) = lock(&self.failures).pop_front() {
            return Err(failure);
        }
        lock(&self.enqueued).push((msg.clone(), delay));
        Ok(())
    }
}

impl BroadcastQueue for RecordingQueue {
    async fn enqueue(&self, msg: &TxMessage, delay: Duration) -> Result<(), QueueError> {
        self.record(msg, delay)
    }
}

impl Redelivery for RecordingQueue {
    async fn redeliver_after(
        &self,
        _: Option<&str>,
        _: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        lock(&self.redelivered).push(delay);
        Ok(())
    }
}

/// As the requests' topic: what was published, as "enqueued" without a delay.
impl RequestPublisher for RecordingQueue {
    async fn publish(&self, msg: &TxMessage) -> Result<(), QueueError> {
        self.record(msg, Duration::ZERO)
    }
}

/// A `ping()` request of client `alice`, as the api stores it.
pub fn ping_request() -> NewTransaction {
    NewTransaction {
        id: TxId::generate(),
        message_type: "ping()".into(),
        function_signature: "ping()".into(),
        data: Bytes::from(vec![0x5c, 0x36, 0xb1, 0x86]),
        chain_id: 31337,
        client: "alice".parse().unwrap_or_else(|e| panic!("{e}")),
        idempotency: None,
        created_at: time::OffsetDateTime::now_utc(),
    }
}

/// A `received` transaction in `store`, as the api leaves it.
pub async fn received<S: Intake>(store: &S) -> TxId {
    received_on(store, 31337).await
}

/// [`received`], for chain `chain_id`.
pub async fn received_on<S: Intake>(store: &S, chain_id: u64) -> TxId {
    let new = NewTransaction {
        chain_id,
        ..ping_request()
    };
    store
        .insert_new(&new)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    new.id
}

/// A transaction whose signer took a nonce of [`FakeKey`]'s account and has not signed yet: the
/// counter seeded at `first_nonce` (if it has none), the next nonce taken under a lease.
/// Returns its id, the lease and the nonce.
pub async fn reserved<S>(store: &S, first_nonce: u64) -> (TxId, LeaseToken, u64)
where
    S: Intake + SigningLease + NonceCounter,
{
    reserved_on(store, 31337, first_nonce).await
}

/// [`reserved`], on chain `chain_id`.
pub async fn reserved_on<S>(store: &S, chain_id: u64, first_nonce: u64) -> (TxId, LeaseToken, u64)
where
    S: Intake + SigningLease + NonceCounter,
{
    let id = received_on(store, chain_id).await;
    let Ok(Claim::Granted { token, .. }) =
        store.claim_for_signing(id, Duration::from_secs(30)).await
    else {
        panic!("{id} could not be claimed");
    };
    let account = Account {
        chain_id,
        address: FakeKey::ADDRESS,
    };
    store
        .seed_nonce(account, first_nonce)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let Ok(NonceReservation::Assigned(nonce)) = store.reserve_nonce(id, &token, account).await
    else {
        panic!("{id} got no nonce");
    };
    (id, token, nonce)
}

/// A transaction `signed` by [`FakeKey`], as the signer leaves it: [`reserved`], then `raw` the
/// signed bytes and their keccak the hash (what [`ScriptedNode::send_raw`] answers).
pub async fn signed<S>(store: &S, first_nonce: u64, raw: Bytes) -> (TxId, SignedTx)
where
    S: Intake + SigningLease + NonceCounter,
{
    signed_on(store, 31337, first_nonce, raw).await
}

/// [`signed`], on chain `chain_id`.
pub async fn signed_on<S>(
    store: &S,
    chain_id: u64,
    first_nonce: u64,
    raw: Bytes,
) -> (TxId, SignedTx)
where
    S: Intake + SigningLease + NonceCounter,
{
    let (id, token, nonce) = reserved_on(store, chain_id, first_nonce).await;
    let tx = SignedTx {
        nonce,
        from: FakeKey::ADDRESS,
        to: Address::repeat_byte(0x7a),
        gas_limit: 26_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        hash: keccak256(&raw),
        raw,
    };
    store
        .record_signed(id, &token, &tx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (id, tx)
}
