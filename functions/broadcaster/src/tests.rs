//! The broadcaster's decisions, over the in-memory store (whose contract is DynamoDB's) and a
//! scripted node, key and queue.

use std::time::Duration;

use alloy::primitives::Bytes;
use tx_fakes::{FakeKey, RecordingQueue, ScriptedNode, set};
use tx_shared::adapters::memory::MemoryStore;
use tx_shared::batch::Delivery;
use tx_shared::domain::{Event, PendingSince, TxId};
use tx_shared::ports::Reading;

use super::*;

type TestBroadcaster =
    Broadcaster<MemoryStore, RecordingQueue, RecordingQueue, ScriptedNode, FakeKey>;

fn broadcaster() -> TestBroadcaster {
    Broadcaster {
        store: MemoryStore::new(),
        queue: RecordingQueue::default(),
        to_signer: RecordingQueue::default(),
        node: ScriptedNode::default(),
        keys: KeyPool::one(FakeKey::default()),
        chain_id: 31337,
        confirmations: 1,
        receipt_poll: Duration::from_secs(5),
        reprice_after_blocks: 5,
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

/// The receipt check the broadcaster enqueued last, as SQS would deliver it.
fn next_check(b: &TestBroadcaster) -> Delivery {
    let (message, _) = b
        .queue
        .enqueued()
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no check enqueued"));
    Delivery {
        message,
        message_id: "m-check".into(),
        queue_arn: None,
        receive_count: 1,
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
    set(&b.node.mined_nonce, Ok(1));
    b.node
        .script_send(Err(NodeError::NonceTooLow("nonce too low".into())))
        // Found mined by the nonce check, then judged as every receipt is.
        .script_lookup(Ok(MINED))
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

/// Sent once and followed: the state every later check starts from.
async fn broadcast(b: &TestBroadcaster) -> (TxId, SignedTx) {
    let (id, tx) = signed(b).await;
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    (id, tx)
}

fn lock_len<T>(cell: &std::sync::Mutex<Vec<T>>) -> usize {
    cell.lock().unwrap_or_else(|e| e.into_inner()).len()
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
async fn a_nonce_a_stranger_took_is_signed_again_at_a_fresh_one() {
    let b = broadcaster();
    let (id, tx) = signed(&b).await;
    set(&b.node.mined_nonce, Ok(3));
    set(&b.node.pending_nonce, Ok(4));
    b.node
        .script_send(Err(NodeError::NonceTooLow("nonce too low".into())))
        .script_lookup(Ok(Lookup::Unknown));
    assert_eq!(b.process(delivery(id, 1, 0)).await, Ok(Outcome::Resigning));
    let now = status(&b, id).await;
    assert_eq!(
        (now.status, now.nonce, now.signed.is_none(), now.generation),
        (Status::Retrying, None, true, 1)
    );
    let lost = now.history.last().unwrap_or_else(|| panic!("no history"));
    assert_eq!(
        (lost.event, lost.tx_hash),
        (Event::NonceLost, Some(tx.hash))
    );
    // Handed to the signer as the next generation; nothing filled, nothing reviewed.
    let handed = b.to_signer.enqueued();
    assert_eq!(handed.len(), 1);
    assert_eq!(
        (handed[0].0.transaction_id, handed[0].0.generation),
        (id, 1)
    );
    assert_eq!(lock_len(&b.keys.keys()[0].signed), 0);
    // The counter was raised to the chain's pending nonce.
    let account = Account {
        chain_id: b.chain_id,
        address: tx.from,
    };
    assert_eq!(b.store.resync_nonce(account, 4).await, Ok(None));
    // A late message of the old generation finds nothing to do.
    assert_eq!(
        b.process(delivery(id, 1, 3)).await,
        Ok(Outcome::NothingToDo)
    );
}

#[tokio::test]
async fn a_nonce_past_ours_with_our_hash_still_pending_decides_nothing() {
    let b = broadcaster();
    let (id, tx) = signed(&b).await;
    set(&b.node.mined_nonce, Ok(3));
    b.node
        .script_send(Err(NodeError::NonceTooLow("nonce too low".into())))
        .script_lookup(Ok(Lookup::Pending));
    let retry = b.process(delivery(id, 1, 0)).await;
    assert!(matches!(retry, Err(RetryLater { .. })), "{retry:?}");
    let now = status(&b, id).await;
    assert_eq!(now.signed.map(|s| s.hash), Some(tx.hash));
    assert!(b.to_signer.enqueued().is_empty());
}

#[tokio::test]
async fn a_dropped_transaction_whose_nonce_a_stranger_took_is_signed_again() {
    let b = broadcaster();
    let (id, _) = broadcast(&b).await;
    set(&b.node.mined_nonce, Ok(1));
    b.node
        .script_lookup(Ok(Lookup::Unknown))
        .script_send(Err(NodeError::NonceTooLow("nonce too low".into())))
        .script_lookup(Ok(Lookup::Unknown));
    assert_eq!(b.process(next_check(&b)).await, Ok(Outcome::Resigning));
    assert_eq!(status(&b, id).await.status, Status::Retrying);
    assert_eq!(b.to_signer.enqueued().len(), 1);
}

#[tokio::test]
async fn bytes_refused_in_unlisted_words_until_the_cap_are_reviewed_and_their_nonce_filled() {
    let b = broadcaster();
    let (id, tx) = signed(&b).await;
    let last = b.backoff.max_attempts;
    b.node
        .script_send(Err(NodeError::Unrecognized(
            "code -32000: no such luck".into(),
        )))
        .script_lookup(Ok(Lookup::Unknown));
    assert!(b.process(delivery(id, last, 0)).await.is_err());
    let now = status(&b, id).await;
    assert_eq!(now.status, Status::NeedsReview);
    assert!(
        now.history.iter().any(|e| e.event == Event::NonceFilled),
        "{:?}",
        now.history
    );
    // The refused bytes, then the filler at their nonce.
    assert_eq!(b.node.sent().len(), 2);
    assert_eq!(b.node.sent()[0], tx.raw);
}

#[tokio::test]
async fn bytes_refused_in_unlisted_words_but_known_to_the_node_are_not_filled() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    b.node
        .script_send(Err(NodeError::Unrecognized(
            "code -32000: no such luck".into(),
        )))
        .script_lookup(Ok(Lookup::Pending));
    assert!(
        b.process(delivery(id, b.backoff.max_attempts, 0))
            .await
            .is_err()
    );
    let now = status(&b, id).await;
    assert_eq!(now.status, Status::NeedsReview);
    assert!(now.history.iter().all(|e| e.event != Event::NonceFilled));
    assert_eq!(b.node.sent().len(), 1);
}

#[tokio::test]
async fn underpriced_at_first_send_is_repriced_at_the_same_nonce_and_followed() {
    let b = broadcaster();
    let (id, tx) = signed(&b).await;
    // The pool wants a 3 gwei tip; ours is 1.
    set(&b.node.tip, Ok(3_000_000_000));
    b.node
        .script_send(Err(NodeError::Underpriced(
            "transaction underpriced".into(),
        )))
        .script_lookup(Ok(Lookup::Unknown));
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    let now = status(&b, id).await;
    let bid = now.signed.clone().unwrap_or_else(|| panic!("unsigned"));
    assert_eq!((now.status, bid.nonce), (Status::Broadcast, tx.nonce));
    assert!(bid.max_priority_fee_per_gas >= 3_000_000_000, "{bid:?}");
    assert!(
        bid.max_fee_per_gas * 100 >= tx.max_fee_per_gas * 112,
        "{bid:?}"
    );
    assert_eq!(now.attempts, 0, "re-pricing is not a failed attempt");
    assert_eq!(b.node.sent(), vec![tx.raw.clone(), bid.raw.clone()]);
}

#[tokio::test]
async fn underpriced_at_first_send_over_the_cap_waits_with_the_reason() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    set(&b.node.base_fee, Ok(600_000_000_000));
    b.node
        .script_send(Err(NodeError::Underpriced(
            "transaction underpriced".into(),
        )))
        .script_lookup(Ok(Lookup::Unknown));
    assert_eq!(b.process(delivery(id, 1, 0)).await, Ok(Outcome::Waiting));
    let now = status(&b, id).await;
    assert_eq!((now.status, now.attempts), (Status::Retrying, 0));
    assert!(
        now.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("fee_above_cap")),
        "{:?}",
        now.last_error
    );
}

#[tokio::test]
async fn a_pool_full_for_the_lane_is_a_wait_of_one_poll_not_an_attempt() {
    let b = broadcaster();
    let (id, tx) = signed(&b).await;
    b.node
        .script_send(Err(NodeError::PoolFull("txpool is full".into())));
    // Its last delivery: an attempt counted here would put it under review.
    assert_eq!(b.process(delivery(id, 3, 0)).await, Ok(Outcome::Waiting));
    let now = status(&b, id).await;
    assert_eq!((now.status, now.attempts), (Status::Retrying, 0));
    assert!(
        now.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("pool_full")),
        "{:?}",
        now.last_error
    );
    // A fresh message, due at the next receipt poll, sends the same bytes again.
    let (message, delay) = b
        .queue
        .enqueued()
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("nothing enqueued"));
    assert_eq!(delay, b.receipt_poll);
    let again = Delivery {
        message,
        message_id: "m-2".into(),
        queue_arn: None,
        receive_count: 1,
    };
    assert_eq!(b.process(again).await, Ok(Outcome::AwaitingReceipt));
    assert_eq!(b.node.sent(), vec![tx.raw.clone(), tx.raw]);
}

#[tokio::test]
async fn a_nonce_used_only_in_the_last_blocks_decides_nothing_yet() {
    let b = broadcaster();
    let (id, tx) = signed(&b).await;
    // The head says used; two blocks down it was not: a lagging backend could still be missing
    // the transaction that used it, ours or not.
    set(&b.node.mined_nonce, Ok(1));
    set(&b.node.mined_nonce_deep, Some(Ok(0)));
    b.node
        .script_send(Err(NodeError::NonceTooLow("nonce too low".into())))
        .script_lookup(Ok(Lookup::Unknown));
    let retry = b.process(delivery(id, 1, 0)).await;
    assert!(matches!(retry, Err(RetryLater { .. })), "{retry:?}");
    let now = status(&b, id).await;
    assert_eq!(now.signed.map(|s| s.hash), Some(tx.hash));
    assert!(b.to_signer.enqueued().is_empty(), "not signed again");
}

mod chains;
mod follow;

#[tokio::test]
async fn an_operators_resend_of_bytes_whose_nonce_a_stranger_took_is_signed_again() {
    use tx_shared::ports::AdminRetry;
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    b.store
        .record_needs_review(id, "gave up after 10 attempts", 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    b.store
        .record_admin_retry(id, Status::NeedsReview, AdminRetry::ResendSigned, "ops")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The operator's message (generation 1); the chain says a stranger used nonce 0, deeply.
    set(&b.node.mined_nonce, Ok(2));
    b.node
        .script_send(Err(NodeError::NonceTooLow("nonce too low".into())))
        .script_lookup(Ok(Lookup::Unknown));
    let mut resent = delivery(id, 1, 0);
    resent.message.generation = 1;
    assert_eq!(b.process(resent).await, Ok(Outcome::Resigning));
    let now = status(&b, id).await;
    assert_eq!((now.status, now.generation), (Status::Retrying, 2));
    assert_eq!(b.to_signer.enqueued().len(), 1);
}

#[tokio::test]
async fn refused_bytes_whose_nonce_a_stranger_took_are_signed_again() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    // The node refuses the bytes as such, and a filler took their nonce long ago.
    set(&b.node.mined_nonce, Ok(5));
    b.node
        .script_send(Err(NodeError::Rejected {
            code: -32000,
            message: "intrinsic gas too low".into(),
        }))
        .script_lookup(Ok(Lookup::Unknown))
        .script_lookup(Ok(Lookup::Unknown));
    assert_eq!(b.process(delivery(id, 1, 0)).await, Ok(Outcome::Resigning));
    assert_eq!(status(&b, id).await.status, Status::Retrying);
}

#[tokio::test]
async fn our_own_mined_bytes_found_by_nonce_too_low_are_still_judged_deep_and_canonical() {
    let b = broadcaster();
    let (id, _) = signed(&b).await;
    set(&b.node.mined_nonce, Ok(1));
    set(&b.node.canonical, Ok(false));
    b.node
        .script_send(Err(NodeError::NonceTooLow("nonce too low".into())))
        .script_lookup(Ok(MINED))
        .script_lookup(Ok(MINED));
    // Its receipt's block is not canonical: followed, not confirmed.
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    assert_eq!(status(&b, id).await.status, Status::Broadcast);
}
