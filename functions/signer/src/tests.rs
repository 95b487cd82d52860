//! The signer's decisions, over the in-memory store (whose contract is DynamoDB's) and a scripted
//! node, key and queues: every branch, in milliseconds.

use std::time::Duration;

use alloy::primitives::{Address, Bytes};
use time::OffsetDateTime;
use tx_fakes::{FakeKey, RecordingQueue, ScriptedNode};
use tx_shared::adapters::memory::MemoryStore;
use tx_shared::domain::{NewTransaction, Status, Transaction};
use tx_shared::ports::{GasPlan, Intake, Reading, SignError};

use super::*;

type TestSigner = Signer<MemoryStore, RecordingQueue, RecordingQueue, ScriptedNode, FakeKey>;

const ADD_WEIGHT: &str = "add_weight(address _addr, uint256 _weight)";
const TARGET: Address = Address::repeat_byte(0x7a);

fn signer(policy: MessageTypePolicy) -> TestSigner {
    Signer {
        store: MemoryStore::new(),
        queue: RecordingQueue::default(),
        redelivery: RecordingQueue::default(),
        node: ScriptedNode::default(),
        keys: KeyPool::one(FakeKey::default()),
        chain_id: 31337,
        target_contract: TARGET,
        target_overrides: BTreeMap::new(),
        signing_lease: Duration::from_secs(30),
        backoff: Backoff::new(Duration::from_secs(2), 2.0, Duration::from_secs(60), 3)
            .unwrap_or_else(|e| panic!("{e}")),
        policy,
        caps: SpendCaps::default(),
        lane_views: Default::default(),
        // Read once per test: a slow machine must not make the choice random midway.
        lane_views_for: Duration::from_secs(3600),
        chain_checked: Default::default(),
    }
}

fn allow_all() -> TestSigner {
    signer(MessageTypePolicy::allow_all())
}

/// `add_weight(0x11…11, 42)`.
fn calldata() -> Bytes {
    let hex = "1c41742f0000000000000000000000001111111111111111111111111111111111111111000000000000000000000000000000000000000000000000000000000000002a";
    Bytes::from(alloy::primitives::hex::decode(hex).unwrap_or_else(|e| panic!("{e}")))
}

async fn received(signer: &TestSigner, message_type: &str, signature: &str) -> TxId {
    let new = NewTransaction {
        id: TxId::generate(),
        message_type: message_type.into(),
        function_signature: signature.into(),
        data: calldata(),
        chain_id: 31337,
        client: "alice".parse().unwrap_or_else(|e| panic!("{e}")),
        idempotency: None,
        created_at: OffsetDateTime::now_utc(),
    };
    signer
        .store
        .insert_new(&new)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    new.id
}

async fn add_weight(signer: &TestSigner) -> TxId {
    received(signer, ADD_WEIGHT, "add_weight(address,uint256)").await
}

async fn stored(signer: &TestSigner, id: TxId) -> Transaction {
    signer
        .store
        .get(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{id} is gone"))
}

#[tokio::test]
async fn a_received_call_is_signed_once_at_the_next_nonce_and_handed_over() {
    let signer = allow_all();
    tx_fakes::set(&signer.node.pending_nonce, Ok(7));
    let id = add_weight(&signer).await;
    let outcome = signer.sign(id, 1).await;
    let Ok(Outcome::Signed(signed)) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        (signed.nonce, signed.to, signed.from),
        (7, TARGET, FakeKey::ADDRESS)
    );
    assert_eq!(signed.gas_limit, ScriptedNode::PLAN.gas_limit);
    let tx = stored(&signer, id).await;
    assert_eq!((tx.status, tx.nonce), (Status::Signed, Some(7)));
    assert_eq!(
        signer.queue.enqueued().len(),
        1,
        "handed to the broadcaster"
    );
    // Delivered again: the stored signature is handed over again, never a second one.
    assert_eq!(signer.sign(id, 2).await, Ok(Outcome::AlreadySigned));
    assert_eq!(
        signer.keys.keys()[0]
            .signed
            .lock()
            .map(|s| s.len())
            .unwrap_or(0),
        1
    );
    assert_eq!(signer.queue.enqueued().len(), 2);
    // The next transaction takes the next nonce.
    let next = add_weight(&signer).await;
    assert!(matches!(signer.sign(next, 1).await, Ok(Outcome::Signed(s)) if s.nonce == 8));
}

#[tokio::test]
async fn a_node_that_may_recover_is_retried_with_backoff_and_takes_no_nonce() {
    let signer = allow_all();
    signer
        .node
        .script_plan(Err(NodeError::Timeout(Duration::from_secs(30))));
    let id = add_weight(&signer).await;
    let retry = signer.sign(id, 1).await;
    assert!(
        matches!(&retry, Err(RetryLater { after: Some(_), .. })),
        "{retry:?}"
    );
    let tx = stored(&signer, id).await;
    assert_eq!(
        (tx.status, tx.attempts, tx.nonce),
        (Status::Retrying, 1, None)
    );
    assert!(tx.last_error.is_some_and(|e| e.contains("node_timeout")));
    // The lease was given up: the next delivery signs at once.
    assert!(matches!(signer.sign(id, 2).await, Ok(Outcome::Signed(_))));
}

#[tokio::test]
async fn the_last_attempt_hands_the_transaction_to_a_human() {
    let signer = allow_all();
    signer
        .node
        .script_plan(Err(NodeError::Unavailable("HTTP 503".into())));
    let id = add_weight(&signer).await;
    assert!(signer.sign(id, 3).await.is_err());
    let tx = stored(&signer, id).await;
    assert_eq!(tx.status, Status::NeedsReview);
    assert!(
        tx.last_error
            .is_some_and(|e| e.starts_with("gave up after 3 attempts"))
    );
}

#[tokio::test]
async fn a_call_that_reverts_ends_reverted_unsent() {
    let signer = allow_all();
    signer
        .node
        .script_plan(Err(NodeError::Reverted("execution reverted: nope".into())));
    let id = add_weight(&signer).await;
    assert_eq!(signer.sign(id, 1).await, Ok(Outcome::Reverted));
    let tx = stored(&signer, id).await;
    assert_eq!(
        (tx.status, tx.nonce, tx.signed),
        (Status::Reverted, None, None)
    );
    assert!(
        tx.last_error
            .is_some_and(|e| e.starts_with("call_reverts: "))
    );
    assert!(signer.queue.enqueued().is_empty());
}

#[tokio::test]
async fn what_the_allowlist_does_not_allow_is_refused_before_a_nonce() {
    let signer =
        signer(MessageTypePolicy::allow_only(["ping()"]).unwrap_or_else(|e| panic!("{e}")));
    let id = add_weight(&signer).await;
    assert_eq!(signer.sign(id, 1).await, Ok(Outcome::NeedsReview));
    let tx = stored(&signer, id).await;
    assert_eq!((tx.status, tx.nonce), (Status::NeedsReview, None));
    assert!(
        tx.last_error.is_some_and(
            |e| e.contains("refused to sign") && e.contains("message_type_not_allowed")
        )
    );
    // A stored signature that does not match its message type is refused too.
    let signer = allow_all();
    let forged = received(&signer, ADD_WEIGHT, "ping()").await;
    assert_eq!(signer.sign(forged, 1).await, Ok(Outcome::NeedsReview));
    assert!(
        signer.keys.keys()[0]
            .signed
            .lock()
            .map(|s| s.is_empty())
            .unwrap_or(false)
    );
}

#[tokio::test]
async fn spend_caps_refuse_gas_for_good_and_wait_out_fees() {
    let mut signer = allow_all();
    signer.caps = SpendCaps {
        max_gas_limit: 25_000,
        max_fee_per_gas: 5_000_000_000,
    };
    let id = add_weight(&signer).await;
    assert_eq!(signer.sign(id, 1).await, Ok(Outcome::NeedsReview));
    assert!(
        stored(&signer, id)
            .await
            .last_error
            .is_some_and(|e| e.starts_with("gas_limit_above_cap"))
    );
    let fee_spike = GasPlan {
        gas_limit: 21_000,
        max_fee_per_gas: 9_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
    };
    signer.node.script_plan(Ok(fee_spike));
    let waiting = add_weight(&signer).await;
    assert_eq!(signer.sign(waiting, 1).await, Ok(Outcome::Waiting));
    let tx = stored(&signer, waiting).await;
    assert_eq!(
        (tx.status, tx.attempts, tx.nonce),
        (Status::Retrying, 0, None)
    );
    assert!(
        tx.last_error
            .is_some_and(|e| e.starts_with("fee_above_cap"))
    );
    // Parked as a fresh, delayed message on its own queue: no delivery used up.
    let parked = signer.redelivery.enqueued();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].0.transaction_id, waiting);
    assert_eq!(parked[0].1, WAIT);
    // Fees fell: the parked message signs it.
    signer.node.script_plan(Ok(GasPlan {
        max_fee_per_gas: 4_000_000_000,
        ..fee_spike
    }));
    assert!(matches!(
        signer.sign(waiting, 1).await,
        Ok(Outcome::Signed(_))
    ));
}

#[tokio::test]
async fn an_unfunded_account_waits_without_burning_attempts() {
    let signer = allow_all();
    signer.node.script_plan(Err(NodeError::InsufficientFunds(
        "insufficient funds for gas * price + value".into(),
    )));
    let id = add_weight(&signer).await;
    assert_eq!(signer.sign(id, 1).await, Ok(Outcome::Waiting));
    let tx = stored(&signer, id).await;
    assert_eq!((tx.status, tx.attempts), (Status::Retrying, 0));
    assert!(
        tx.last_error
            .is_some_and(|e| e.starts_with("insufficient_funds"))
    );
}

#[tokio::test]
async fn a_key_failure_after_the_nonce_keeps_the_nonce_for_the_next_attempt() {
    let signer = allow_all();
    signer.keys.keys()[0]
        .failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push_back(SignError::Unavailable("ThrottlingException".into()));
    let id = add_weight(&signer).await;
    assert!(signer.sign(id, 1).await.is_err());
    let tx = stored(&signer, id).await;
    assert_eq!((tx.status, tx.nonce), (Status::Retrying, Some(0)));
    // The next attempt signs with the same nonce, and the counter moved once.
    assert!(matches!(signer.sign(id, 2).await, Ok(Outcome::Signed(s)) if s.nonce == 0));
    let next = add_weight(&signer).await;
    assert!(matches!(signer.sign(next, 1).await, Ok(Outcome::Signed(s)) if s.nonce == 1));
}

#[tokio::test]
async fn unknown_and_finished_transactions_are_left_alone() {
    let signer = allow_all();
    assert_eq!(signer.sign(TxId::generate(), 1).await, Ok(Outcome::Unknown));
    signer
        .node
        .script_plan(Err(NodeError::Reverted("nope".into())));
    let id = add_weight(&signer).await;
    assert_eq!(signer.sign(id, 1).await, Ok(Outcome::Reverted));
    assert_eq!(
        signer.sign(id, 2).await,
        Ok(Outcome::NothingToDo(Status::Reverted))
    );
}

#[tokio::test]
async fn a_node_serving_another_chain_takes_no_nonce_and_the_wait_says_why() {
    let s = allow_all();
    tx_fakes::set(&s.node.chain_id, Ok(1));
    let id = add_weight(&s).await;
    assert_eq!(s.sign(id, 1).await, Ok(Outcome::Waiting));
    let tx = stored(&s, id).await;
    assert_eq!(
        (tx.status, tx.nonce, tx.attempts),
        (Status::Retrying, None, 0)
    );
    assert!(
        tx.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("chain_id_mismatch: the node serves chain 1")),
        "{:?}",
        tx.last_error
    );
    assert!(
        s.keys.keys()[0]
            .signed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    );
    // Once they agree, the next delivery signs it at the account's first nonce.
    tx_fakes::set(&s.node.chain_id, Ok(31337));
    assert!(matches!(s.sign(id, 1).await, Ok(Outcome::Signed(signed)) if signed.nonce == 0));
}

#[tokio::test]
async fn a_nonce_taken_by_a_last_attempt_that_failed_is_filled() {
    let s = allow_all();
    let id = add_weight(&s).await;
    // KMS throttles the last delivery, after the nonce was taken.
    s.keys.keys()[0]
        .failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push_back(SignError::Unavailable("throttled".into()));
    assert!(s.sign(id, s.backoff.max_attempts).await.is_err());
    let tx = stored(&s, id).await;
    assert_eq!((tx.status, tx.nonce), (Status::NeedsReview, Some(0)));
    assert!(
        tx.history
            .iter()
            .any(|e| e.event == tx_shared::domain::Event::NonceFilled),
        "the hole at nonce 0 is filled: {:?}",
        tx.history
    );
    assert_eq!(s.node.sent().len(), 1, "the filler");
}

#[tokio::test]
async fn a_late_duplicate_of_an_older_generation_cannot_undo_an_operators_retry() {
    use tx_shared::ports::{AdminRetry, Transitions};
    let s = allow_all();
    let id = add_weight(&s).await;
    s.store
        .record_needs_review(id, "kms disabled", 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    s.store
        .record_admin_retry(id, Status::NeedsReview, AdminRetry::ResignFresh, "ops")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The first generation's message comes back for its last delivery, and KMS fails it.
    s.keys.keys()[0]
        .failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push_back(SignError::Unavailable("throttled".into()));
    assert!(s.sign(id, s.backoff.max_attempts).await.is_err());
    let tx = stored(&s, id).await;
    assert_eq!(tx.status, Status::Retrying, "{:?}", tx.history);
    assert!(s.node.sent().is_empty(), "nothing filled");
}

mod chains;
mod lanes;
