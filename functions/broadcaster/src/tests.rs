//! The broadcaster's decisions, over the in-memory store (whose contract is DynamoDB's) and a
//! scripted node, key and queue.

use std::time::Duration;

use alloy::primitives::Bytes;
use tx_fakes::{FakeKey, RecordingQueue, ScriptedNode};
use tx_shared::adapters::memory::MemoryStore;
use tx_shared::batch::Delivery;
use tx_shared::domain::TxId;
use tx_shared::ports::Reading;

use super::*;

type TestBroadcaster = Broadcaster<MemoryStore, RecordingQueue, ScriptedNode, FakeKey>;

fn broadcaster() -> TestBroadcaster {
    Broadcaster {
        store: MemoryStore::new(),
        queue: RecordingQueue::default(),
        node: ScriptedNode::default(),
        key: FakeKey::default(),
        chain_id: 31337,
        confirmations: 1,
        receipt_poll: Duration::from_secs(5),
        fees: FeePolicy {
            bump_percent: 12,
            max_fee_per_gas: 500_000_000_000,
        },
        backoff: Backoff::new(Duration::from_secs(2), 2.0, Duration::from_secs(60), 3)
            .unwrap_or_else(|e| panic!("{e}")),
    }
}

/// A transaction signed at nonce 0, as the signer leaves it.
async fn signed(b: &TestBroadcaster) -> (TxId, SignedTx) {
    tx_fakes::signed(&b.store, 0, Bytes::from(vec![0x02, 0x01])).await
}

fn delivery(id: TxId, receive_count: u32, receipt_checks: u32) -> Delivery {
    Delivery {
        message: TxMessage {
            receipt_checks,
            ..TxMessage::new(id)
        },
        message_id: "m-1".into(),
        queue_arn: None,
        receive_count,
    }
}

async fn status(b: &TestBroadcaster, id: TxId) -> Transaction {
    b.store
        .get(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("gone"))
}

const MINED: Lookup = Lookup::Included(Inclusion {
    block_number: 1,
    succeeded: true,
});

#[tokio::test]
async fn a_signed_transaction_is_sent_then_followed_until_mined() {
    let b = broadcaster();
    let (id, tx) = signed(&b).await;
    // Sent; the first check finds it pending: a check is scheduled.
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    assert_eq!(b.node.sent(), vec![tx.raw.clone()]);
    assert_eq!(status(&b, id).await.status, Status::Broadcast);
    let checks = b.queue.enqueued();
    assert_eq!(checks.len(), 1);
    assert_eq!(
        (checks[0].0.receipt_checks, checks[0].1),
        (1, b.receipt_poll)
    );
    // The next check finds it mined.
    b.node.script_lookup(Ok(MINED));
    assert_eq!(
        b.process(delivery(id, 1, 1)).await,
        Ok(Outcome::Final(Status::Confirmed))
    );
    assert_eq!(status(&b, id).await.status, Status::Confirmed);
    // A late duplicate finds nothing to do.
    assert_eq!(
        b.process(delivery(id, 1, 2)).await,
        Ok(Outcome::NothingToDo)
    );
}

#[tokio::test]
async fn a_receipt_with_status_zero_is_reverted() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    b.node.script_lookup(Ok(Lookup::Included(Inclusion {
        block_number: 1,
        succeeded: false,
    })));
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::Final(Status::Reverted))
    );
}

#[tokio::test]
async fn already_known_is_sent() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    b.node.script_send(Err(NodeError::AlreadyKnown));
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    assert_eq!(status(&b, id).await.status, Status::Broadcast);
}

#[tokio::test]
async fn nonce_too_low_is_success_when_our_hash_is_mined() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    b.node
        .script_send(Err(NodeError::NonceTooLow("nonce too low".into())))
        .script_lookup(Ok(MINED));
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::Final(Status::Confirmed))
    );
}

#[tokio::test]
async fn a_node_that_may_recover_is_retried_and_the_last_attempt_is_reviewed() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    b.node
        .script_send(Err(NodeError::Unavailable("HTTP 503".into())));
    let retry = b.process(delivery(id, 1, 0)).await;
    assert!(
        matches!(retry, Err(RetryLater { after: Some(_), .. })),
        "{retry:?}"
    );
    let tx = status(&b, id).await;
    assert_eq!((tx.status, tx.attempts), (Status::Retrying, 1));
    b.node
        .script_send(Err(NodeError::Unavailable("HTTP 503".into())));
    assert!(b.process(delivery(id, 3, 0)).await.is_err());
    assert_eq!(status(&b, id).await.status, Status::NeedsReview);
}

#[tokio::test]
async fn an_unfunded_account_waits_without_burning_attempts() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    b.node.script_send(Err(NodeError::InsufficientFunds(
        "insufficient funds for gas * price + value".into(),
    )));
    assert_eq!(b.process(delivery(id, 1, 0)).await, Ok(Outcome::Waiting));
    let tx = status(&b, id).await;
    assert_eq!((tx.status, tx.attempts), (Status::Retrying, 0));
    assert!(
        tx.last_error
            .is_some_and(|e| e.starts_with("insufficient_funds"))
    );
    let parked = b.queue.enqueued();
    assert_eq!((parked.len(), parked[0].1), (1, FUNDS_WAIT));
}

#[tokio::test]
async fn a_refused_transaction_ends_in_review_with_its_reason() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    b.node.script_send(Err(NodeError::Rejected {
        code: -32000,
        message: "intrinsic gas too low".into(),
    }));
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::NeedsReview)
    );
    let tx = status(&b, id).await;
    assert_eq!(tx.status, Status::NeedsReview);
    assert!(
        tx.last_error
            .is_some_and(|e| e.starts_with("node_rejected: "))
    );
}

#[tokio::test]
async fn a_transaction_stuck_below_the_base_fee_is_replaced_at_the_same_nonce() {
    let b = broadcaster();
    let (id, tx) = signed(&b).await;
    b.process(delivery(id, 1, 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    *b.node.base_fee.lock().unwrap_or_else(|e| e.into_inner()) = Ok(10_000_000_000);
    assert_eq!(
        b.process(delivery(id, 1, 1)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    let replaced = status(&b, id).await;
    let now = replaced
        .signed
        .clone()
        .unwrap_or_else(|| panic!("unsigned"));
    assert_eq!(now.nonce, tx.nonce);
    assert!(now.max_fee_per_gas >= 20_000_000_000, "{now:?}");
    assert_eq!(replaced.all_hashes(), vec![tx.hash, now.hash]);
    assert_eq!(b.node.sent().last(), Some(&now.raw));
}

fn set<T>(cell: &std::sync::Mutex<T>, value: T) {
    *cell.lock().unwrap_or_else(|e| e.into_inner()) = value;
}

/// Sent once and followed: the state every later check starts from.
async fn broadcast(b: &TestBroadcaster) -> (TxId, SignedTx) {
    let (id, tx) = signed(b).await;
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    (id, tx)
}

#[tokio::test]
async fn a_transaction_the_node_forgot_is_sent_again_with_the_same_bytes() {
    let b = broadcaster();
    let (id, tx) = broadcast(&b).await;
    b.node.script_lookup(Ok(Lookup::Unknown));
    assert_eq!(
        b.process(delivery(id, 1, 1)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    assert_eq!(b.node.sent(), vec![tx.raw.clone(), tx.raw.clone()]);
    assert_eq!(status(&b, id).await.all_hashes(), vec![tx.hash]);
}

#[tokio::test]
async fn a_forgotten_transaction_refused_back_below_the_base_fee_is_replaced() {
    let b = broadcaster();
    let (id, tx) = broadcast(&b).await;
    set(&b.node.base_fee, Ok(10_000_000_000));
    b.node
        .script_lookup(Ok(Lookup::Unknown))
        .script_send(Err(NodeError::Underpriced(
            "transaction underpriced".into(),
        )));
    assert_eq!(
        b.process(delivery(id, 1, 1)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    let now = status(&b, id).await;
    let replacement = now.signed.clone().unwrap_or_else(|| panic!("unsigned"));
    assert_eq!(replacement.nonce, tx.nonce);
    assert_eq!(now.all_hashes(), vec![tx.hash, replacement.hash]);
    assert_eq!(b.node.sent().last(), Some(&replacement.raw));
}

#[tokio::test]
async fn a_forgotten_transaction_refused_back_above_the_base_fee_keeps_its_bytes() {
    let b = broadcaster();
    let (id, tx) = broadcast(&b).await;
    b.node
        .script_lookup(Ok(Lookup::Unknown))
        .script_send(Err(NodeError::Underpriced(
            "transaction underpriced".into(),
        )));
    assert_eq!(
        b.process(delivery(id, 1, 1)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    assert_eq!(status(&b, id).await.all_hashes(), vec![tx.hash]);
    assert!(lock_len(&b.key.signed) == 0, "nothing was re-signed");
}

fn lock_len<T>(cell: &std::sync::Mutex<Vec<T>>) -> usize {
    cell.lock().unwrap_or_else(|e| e.into_inner()).len()
}

#[tokio::test]
async fn replacements_stop_at_the_price_cap() {
    let b = broadcaster();
    let (id, tx) = broadcast(&b).await;
    // Above the policy's 500 gwei cap: the best bid allowed is the cap itself, once.
    set(&b.node.base_fee, Ok(600_000_000_000));
    for check in 1..=3 {
        assert_eq!(
            b.process(delivery(id, 1, check)).await,
            Ok(Outcome::AwaitingReceipt)
        );
    }
    let now = status(&b, id).await;
    let capped = now.signed.clone().unwrap_or_else(|| panic!("unsigned"));
    assert_eq!(capped.max_fee_per_gas, b.fees.max_fee_per_gas);
    assert_eq!(
        (now.status, now.all_hashes()),
        (Status::Broadcast, vec![tx.hash, capped.hash])
    );
    assert_eq!(lock_len(&b.key.signed), 1, "one replacement, at the cap");
}

#[tokio::test]
async fn underpriced_at_first_send_is_sent_when_one_of_ours_holds_the_nonce() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    b.node
        .script_send(Err(NodeError::Underpriced(
            "replacement transaction underpriced".into(),
        )))
        .script_lookup(Ok(Lookup::Pending));
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    assert_eq!(status(&b, id).await.status, Status::Broadcast);
}

#[tokio::test]
async fn underpriced_at_first_send_by_a_stranger_is_retried() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    b.node
        .script_send(Err(NodeError::Underpriced(
            "replacement transaction underpriced".into(),
        )))
        .script_lookup(Ok(Lookup::Unknown));
    let retry = b.process(delivery(id, 1, 0)).await;
    assert!(
        matches!(retry, Err(RetryLater { after: Some(_), .. })),
        "{retry:?}"
    );
    let tx = status(&b, id).await;
    assert_eq!((tx.status, tx.attempts), (Status::Retrying, 1));
}

#[tokio::test]
async fn nonce_too_low_before_the_chain_has_it_is_retried() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    // Our nonce is 0 and the chain's next is 0: the answer contradicts the chain.
    b.node
        .script_send(Err(NodeError::NonceTooLow("nonce too low".into())))
        .script_lookup(Ok(Lookup::Unknown));
    let retry = b.process(delivery(id, 1, 0)).await;
    assert!(matches!(retry, Err(RetryLater { .. })), "{retry:?}");
    assert_eq!(status(&b, id).await.status, Status::Retrying);
}

#[tokio::test]
async fn a_nonce_a_stranger_used_ends_in_review_and_the_counter_catches_up() {
    let b = broadcaster();
    let (id, tx) = signed(&b).await;
    set(&b.node.mined_nonce, Ok(3));
    set(&b.node.pending_nonce, Ok(4));
    b.node
        .script_send(Err(NodeError::NonceTooLow("nonce too low".into())))
        .script_lookup(Ok(Lookup::Unknown));
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::NeedsReview)
    );
    let now = status(&b, id).await;
    assert_eq!(now.status, Status::NeedsReview);
    assert!(
        now.last_error
            .as_deref()
            .is_some_and(|e| e.contains("was used by another transaction")),
        "{:?}",
        now.last_error
    );
    // The counter was raised to the chain's pending nonce; the used nonce is not filled.
    let account = Account {
        chain_id: b.chain_id,
        address: tx.from,
    };
    assert_eq!(b.store.resync_nonce(account, 4).await, Ok(None));
    assert_eq!(lock_len(&b.key.signed), 0);
}
