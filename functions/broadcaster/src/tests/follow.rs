//! Following: receipt checks, one chain of them, re-sending and re-pricing, and what decides
//! a transaction's fate.

use std::time::Duration;

use alloy::primitives::Bytes;

use super::*;

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
        b.process(next_check(&b)).await,
        Ok(Outcome::Final(Status::Confirmed))
    );
    assert_eq!(status(&b, id).await.status, Status::Confirmed);
    // A late duplicate finds nothing to do.
    assert_eq!(b.process(next_check(&b)).await, Ok(Outcome::NothingToDo));
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
async fn a_replacement_is_signed_by_the_key_of_the_transactions_own_lane() {
    // Two lanes; the transaction's nonce was taken by the second (FakeKey::ADDRESS).
    let b = TestBroadcaster {
        keys: KeyPool::new(vec![
            FakeKey::at(alloy::primitives::Address::repeat_byte(0x01)),
            FakeKey::default(),
        ]),
        ..broadcaster()
    };
    let (id, _) = signed(&b).await;
    b.process(delivery(id, 1, 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    set(&b.node.base_fee, Ok(10_000_000_000));
    b.process(next_check(&b))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.keys.keys()[0].signed().len(), 0);
    assert_eq!(b.keys.keys()[1].signed().len(), 1);
    assert_eq!(
        status(&b, id).await.signed.map(|s| s.from),
        Some(FakeKey::ADDRESS)
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
        b.process(next_check(&b)).await,
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

#[tokio::test]
async fn a_transaction_the_node_forgot_is_sent_again_with_the_same_bytes() {
    let b = broadcaster();
    let (id, tx) = broadcast(&b).await;
    b.node.script_lookup(Ok(Lookup::Unknown));
    assert_eq!(
        b.process(next_check(&b)).await,
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
        b.process(next_check(&b)).await,
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
        b.process(next_check(&b)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    assert_eq!(status(&b, id).await.all_hashes(), vec![tx.hash]);
    assert!(
        lock_len(&b.keys.keys()[0].signed) == 0,
        "nothing was re-signed"
    );
}

#[tokio::test]
async fn no_replacement_is_made_when_even_the_cap_is_below_the_base_fee() {
    let b = broadcaster();
    let (id, tx) = broadcast(&b).await;
    // Above the policy's 500 gwei cap: no bid under the cap could be included.
    set(&b.node.base_fee, Ok(600_000_000_000));
    for _ in 1..=3 {
        assert_eq!(
            b.process(next_check(&b)).await,
            Ok(Outcome::AwaitingReceipt)
        );
    }
    let now = status(&b, id).await;
    assert_eq!(
        (now.status, now.all_hashes()),
        (Status::Broadcast, vec![tx.hash])
    );
    assert_eq!(lock_len(&b.keys.keys()[0].signed), 0);
}

#[tokio::test]
async fn a_replacement_bids_at_most_the_cap() {
    let b = broadcaster();
    let (id, _) = broadcast(&b).await;
    // 2 x 300 gwei + tip is over the 500 gwei cap, but 500 gwei clears the base fee.
    set(&b.node.base_fee, Ok(300_000_000_000));
    assert_eq!(
        b.process(next_check(&b)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    let bid = status(&b, id)
        .await
        .signed
        .unwrap_or_else(|| panic!("unsigned"));
    assert_eq!(bid.max_fee_per_gas, b.fees.max_fee_per_gas);
}

/// A transaction whose first attempt (nonce 0) reverted on chain, retried by an operator and
/// signed again at nonce 1: the state the second attempt is broadcast from.
async fn second_attempt_after_a_revert(b: &TestBroadcaster) -> (TxId, SignedTx, SignedTx) {
    use tx_shared::ports::AdminRetry;
    use tx_shared::ports::{Claim, NonceReservation, SigningLease};
    let (id, first) = signed(b).await;
    let store = &b.store;
    let ok = |r: Result<(), StoreError>| r.unwrap_or_else(|e| panic!("{e}"));
    ok(store.record_broadcast(id).await);
    let reverted = Inclusion {
        block_number: 1,
        succeeded: false,
    };
    ok(store.record_inclusion(id, reverted, first.hash).await);
    ok(store
        .record_admin_retry(id, Status::Reverted, AdminRetry::ResignFresh, "ops")
        .await);
    let Ok(Claim::Granted { token, .. }) =
        store.claim_for_signing(id, Duration::from_secs(30)).await
    else {
        panic!("not claimed");
    };
    let account = Account {
        chain_id: b.chain_id,
        address: first.from,
    };
    let Ok(NonceReservation::Assigned(1)) = store.reserve_nonce(id, &token, account).await else {
        panic!("not at nonce 1");
    };
    let raw = Bytes::from(vec![0x02, 0x02]);
    let second = SignedTx {
        nonce: 1,
        hash: alloy::primitives::keccak256(&raw),
        raw,
        ..first.clone()
    };
    ok(store.record_signed(id, &token, &second).await);
    (id, first, second)
}

#[tokio::test]
async fn the_receipt_of_an_earlier_attempt_does_not_decide_the_current_one() {
    let b = broadcaster();
    let (id, first, second) = second_attempt_after_a_revert(&b).await;
    assert_eq!(status(&b, id).await.attempt_hashes(), vec![second.hash]);
    // Sent; then the node says: the new hash is pending, the old one reverted in block 1.
    b.node
        .script_lookup(Ok(Lookup::Pending))
        .script_lookup(Ok(Lookup::Included(Inclusion {
            block_number: 1,
            succeeded: false,
        })));
    // The operator's retry made this the second generation: its messages say so.
    let mut second_generation = delivery(id, 1, 0);
    second_generation.message.generation = 1;
    assert_eq!(
        b.process(second_generation).await,
        Ok(Outcome::AwaitingReceipt)
    );
    let tx = status(&b, id).await;
    assert_eq!(tx.status, Status::Broadcast, "{tx:?}");
    assert_eq!(tx.all_hashes(), vec![first.hash, second.hash]);
}

#[tokio::test]
async fn a_duplicate_receipt_check_dies_out_and_one_chain_follows() {
    let b = broadcaster();
    let (id, _) = broadcast(&b).await;
    let check = next_check(&b);
    assert_eq!(b.process(check.clone()).await, Ok(Outcome::AwaitingReceipt));
    // The same check again (a redelivery), and the signer's hand-over again (no chain): both
    // are duplicates now, and nothing more is enqueued for them.
    let enqueued = b.queue.enqueued().len();
    assert_eq!(b.process(check).await, Ok(Outcome::NothingToDo));
    assert_eq!(
        b.process(delivery(id, 1, 0)).await,
        Ok(Outcome::NothingToDo)
    );
    assert_eq!(b.queue.enqueued().len(), enqueued);
    // The chain's own next check goes on.
    assert_eq!(
        b.process(next_check(&b)).await,
        Ok(Outcome::AwaitingReceipt)
    );
}

#[test]
fn receipt_checks_slow_down_as_a_transaction_ages() {
    use crate::follow::check_delay;
    let poll = Duration::from_secs(5);
    assert_eq!(check_delay(poll, 0), poll);
    assert_eq!(check_delay(poll, 59), poll);
    assert_eq!(check_delay(poll, 60), Duration::from_secs(10));
    assert_eq!(check_delay(poll, 180), Duration::from_secs(40));
    assert_eq!(check_delay(poll, 10_000), Duration::from_secs(60));
    // A slow poll is never made faster.
    assert_eq!(
        check_delay(Duration::from_secs(90), 0),
        Duration::from_secs(90)
    );
}

/// The bid the record holds now.
async fn bid(b: &TestBroadcaster, id: TxId) -> SignedTx {
    status(b, id)
        .await
        .signed
        .unwrap_or_else(|| panic!("unsigned"))
}

#[tokio::test]
async fn a_bid_pending_for_the_configured_blocks_with_a_tip_below_the_market_is_bumped() {
    let mut b = broadcaster();
    b.reprice_after_blocks = 5;
    let (id, tx) = broadcast(&b).await;
    set(&b.node.tip, Ok(2_000_000_000));
    // Seen pending at block 10, then at 14: four blocks out, not yet.
    for head in [10, 14] {
        set(&b.node.head, head);
        assert_eq!(
            b.process(next_check(&b)).await,
            Ok(Outcome::AwaitingReceipt)
        );
        assert_eq!(bid(&b, id).await.hash, tx.hash, "at block {head}");
    }
    let carried = next_check(&b).message.pending_since;
    assert_eq!(
        carried,
        Some(PendingSince {
            hash: tx.hash,
            block: 10
        })
    );
    // Five blocks out: replaced with at least the market's tip.
    set(&b.node.head, 15);
    assert_eq!(
        b.process(next_check(&b)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    let now = status(&b, id).await;
    let replacement = bid(&b, id).await;
    assert_ne!(replacement.hash, tx.hash);
    assert!(
        replacement.max_priority_fee_per_gas >= 2_000_000_000,
        "{replacement:?}"
    );
    assert_eq!(now.all_hashes(), vec![tx.hash, replacement.hash]);
    // The new bid's blocks are counted from scratch.
    assert_eq!(next_check(&b).message.pending_since, None);
    set(&b.node.tip, Ok(3_000_000_000));
    set(&b.node.head, 19);
    b.process(next_check(&b))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bid(&b, id).await.hash, replacement.hash);
}

#[tokio::test]
async fn the_block_count_survives_a_node_behind_and_one_that_lost_the_bid_but_not_a_lost_message() {
    let mut b = broadcaster();
    b.reprice_after_blocks = 5;
    let (id, tx) = broadcast(&b).await;
    set(&b.node.tip, Ok(2_000_000_000));
    set(&b.node.head, 10);
    b.process(next_check(&b))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let counted_from = |b: &TestBroadcaster| next_check(b).message.pending_since.map(|p| p.block);
    // A node behind (its head below where the count began) keeps the count, and re-prices
    // nothing: 8 - 10 blocks is no wait at all.
    set(&b.node.head, 8);
    b.process(next_check(&b))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counted_from(&b), Some(10));
    // A node that does not know the bid (another mempool): sent again, the count kept.
    b.node.script_lookup(Ok(Lookup::Unknown));
    b.process(next_check(&b))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counted_from(&b), Some(10));
    assert_eq!(bid(&b, id).await.hash, tx.hash);
    // A check that carries no count (as one the sweeper re-drives) starts one at the head
    // it sees.
    let mut redriven = next_check(&b);
    redriven.message.pending_since = None;
    set(&b.node.head, 14);
    b.process(redriven).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counted_from(&b), Some(14));
    assert_eq!(bid(&b, id).await.hash, tx.hash);
    // Five blocks after that: re-priced.
    set(&b.node.head, 19);
    b.process(next_check(&b))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(bid(&b, id).await.hash, tx.hash);
}

#[tokio::test]
async fn a_bid_at_the_market_tip_is_not_bumped() {
    let mut b = broadcaster();
    b.reprice_after_blocks = 1;
    let (id, tx) = broadcast(&b).await;
    // The market asks 1 gwei, what we bid, however long it waits.
    for head in [10, 100] {
        set(&b.node.head, head);
        assert_eq!(
            b.process(next_check(&b)).await,
            Ok(Outcome::AwaitingReceipt)
        );
    }
    assert_eq!(bid(&b, id).await.hash, tx.hash);
}

#[tokio::test]
async fn a_check_whose_next_message_could_not_be_sent_stays_the_chains() {
    let b = broadcaster();
    let (id, _) = broadcast(&b).await;
    let check = next_check(&b);
    let held = status(&b, id).await.follow_token;
    b.queue
        .fail_next(tx_shared::ports::QueueError::Unavailable("SQS".into()));
    assert!(b.process(check.clone()).await.is_err());
    assert_eq!(
        status(&b, id).await.follow_token,
        held,
        "the record still names it"
    );
    // Its redelivery carries the chain on.
    assert_eq!(b.process(check).await, Ok(Outcome::AwaitingReceipt));
    assert_ne!(status(&b, id).await.follow_token, held);
}

#[tokio::test]
async fn a_receipt_from_a_block_that_is_not_canonical_confirms_nothing() {
    let b = broadcaster();
    let (id, _) = broadcast(&b).await;
    // A receipt in block 1, deep enough, but its block is not the chain's block 1.
    set(&b.node.canonical, Ok(false));
    b.node.script_lookup(Ok(MINED));
    assert_eq!(
        b.process(next_check(&b)).await,
        Ok(Outcome::AwaitingReceipt)
    );
    assert_eq!(status(&b, id).await.status, Status::Broadcast);
    // Once the chain agrees, it is confirmed.
    set(&b.node.canonical, Ok(true));
    b.node.script_lookup(Ok(MINED));
    assert_eq!(
        b.process(next_check(&b)).await,
        Ok(Outcome::Final(Status::Confirmed))
    );
}

#[tokio::test]
async fn a_transaction_whose_lane_was_removed_is_followed_and_alarmed() {
    // Its nonce was taken by FakeKey::ADDRESS, no longer a configured lane.
    let b = TestBroadcaster {
        keys: KeyPool::one(FakeKey::at(alloy::primitives::Address::repeat_byte(0x01))),
        ..broadcaster()
    };
    let (id, tx) = signed(&b).await;
    b.process(delivery(id, 1, 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Stuck below the base fee: a replacement would be made, but no key signs for it.
    set(&b.node.base_fee, Ok(10_000_000_000));
    assert_eq!(
        b.process(next_check(&b)).await,
        Ok(Outcome::AwaitingReceipt),
        "followed on"
    );
    let now = status(&b, id).await;
    assert_eq!(
        (now.status, now.signed.map(|s| s.hash)),
        (Status::Broadcast, Some(tx.hash))
    );
    assert_eq!(b.keys.keys()[0].signed().len(), 0);
    // Mined as it is, it is confirmed all the same.
    b.node.script_lookup(Ok(MINED));
    assert_eq!(
        b.process(next_check(&b)).await,
        Ok(Outcome::Final(Status::Confirmed))
    );
}
