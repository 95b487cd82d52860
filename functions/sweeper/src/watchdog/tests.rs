//! The watchdog's decisions, over the in-memory store (whose contract is DynamoDB's) and a
//! scripted node and key.

use std::time::Duration;

use alloy::primitives::Bytes;
use tx_fakes::{FakeKey, RecordingQueue, ScriptedNode, set};
use tx_shared::adapters::memory::MemoryStore;
use tx_shared::domain::{Event, Inclusion};
use tx_shared::ports::{Reading, Transitions};

use super::*;

type TestWatchdog = Watchdog<MemoryStore, RecordingQueue, ScriptedNode, FakeKey>;

fn watchdog() -> TestWatchdog {
    Watchdog {
        store: MemoryStore::new(),
        to_broadcaster: RecordingQueue::default(),
        node: ScriptedNode::default(),
        keys: KeyPool::one(FakeKey::default()),
        chain_id: 31337,
        min_balance_wei: 1,
        // Every test's counter moved just now: only a zero settle lets it be repaired.
        settle: Duration::ZERO,
        window: 100,
        budget: Duration::from_secs(60),
    }
}

fn account() -> Account {
    Account {
        chain_id: 31337,
        address: FakeKey::ADDRESS,
    }
}

async fn counter(w: &TestWatchdog) -> Option<u64> {
    w.store
        .nonce_counter(account())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|c| c.next)
}

/// A transaction signed at the account's next nonce (the counter seeded at `first`).
async fn signed(w: &TestWatchdog, first: u64) -> (TxId, tx_shared::domain::SignedTx) {
    let raw = Bytes::from(TxId::generate().to_string().into_bytes());
    tx_fakes::signed(&w.store, first, raw).await
}

/// Signed (the counter seeded at `first`), then confirmed in `block` (1 is the scripted node's
/// head).
async fn confirmed(w: &TestWatchdog, first: u64, block: u64) -> TxId {
    let (id, tx) = signed(w, first).await;
    w.store
        .record_broadcast(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mined = Inclusion {
        block_number: block,
        succeeded: true,
    };
    w.store
        .record_inclusion(id, mined, tx.hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    id
}

async fn watch(w: &TestWatchdog) -> WatchReport {
    let mut lanes = w.watch().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lanes.len(), 1, "one lane");
    lanes.remove(0).report
}

#[tokio::test]
async fn a_key_that_never_signed_has_nothing_to_repair_and_its_counter_is_seeded() {
    let w = watchdog();
    set(&w.node.pending_nonce, Ok(4));
    set(&w.node.mined_nonce, Ok(4));
    let report = watch(&w).await;
    assert_eq!((report.counter, report.stall), (None, None));
    assert!(report.filled.is_empty() && report.rewound_from.is_none());
    assert_eq!(counter(&w).await, Some(4));
}

#[tokio::test]
async fn a_counter_behind_the_chain_is_raised() {
    let w = watchdog();
    confirmed(&w, 0, 1).await;
    set(&w.node.mined_nonce, Ok(5));
    set(&w.node.pending_nonce, Ok(6));
    let report = watch(&w).await;
    assert_eq!(report.resynced_from, Some(1));
    assert_eq!(counter(&w).await, Some(6));
    assert!(report.filled.is_empty() && report.stall.is_none());
}

#[tokio::test]
async fn a_confirmed_transaction_whose_nonce_is_not_mined_is_followed_again() {
    let w = watchdog();
    let id = confirmed(&w, 0, 1).await;
    // The chain went back: nonce 0 is not mined, and the node has no receipt.
    set(&w.node.mined_nonce, Ok(0));
    set(&w.node.pending_nonce, Ok(0));
    w.node.script_lookup(Ok(Lookup::Unknown));
    let report = watch(&w).await;
    assert_eq!(report.reorged, vec![id]);
    let tx = w
        .store
        .get(id)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("gone"));
    assert_eq!((tx.status, tx.inclusion), (Status::Broadcast, None));
    assert!(tx.history.iter().any(|e| e.event == Event::Reorged));
    let handed = w.to_broadcaster.enqueued();
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0].0.transaction_id, id);
    // Its nonce is held again: no rewind, no filler.
    assert_eq!((report.rewound_from, report.filled.len()), (None, 0));
}

#[tokio::test]
async fn a_confirmed_transaction_the_node_still_has_a_receipt_for_stays_confirmed() {
    let w = watchdog();
    let id = confirmed(&w, 0, 1).await;
    // A lagging backend: its nonce view is behind, but the receipt is there.
    set(&w.node.mined_nonce, Ok(0));
    w.node.script_lookup(Ok(Lookup::Included(Inclusion {
        block_number: 1,
        succeeded: true,
    })));
    let report = watch(&w).await;
    assert!(report.reorged.is_empty());
    let tx = w.store.get(id).await.ok().flatten().map(|tx| tx.status);
    assert_eq!(tx, Some(Status::Confirmed));
}

/// Nonce `n` taken and then abandoned: its transaction lost it (nobody holds it now).
async fn abandoned(w: &TestWatchdog) -> u64 {
    let (id, tx) = signed(w, 0).await;
    w.store
        .record_nonce_lost(id, &tx, 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tx.nonce
}

#[tokio::test]
async fn a_counter_ahead_of_the_chain_with_nothing_between_is_rewound() {
    let w = watchdog();
    for _ in 0..3 {
        abandoned(&w).await;
    }
    let report = watch(&w).await;
    assert_eq!(report.rewound_from, Some(3));
    assert_eq!(counter(&w).await, Some(0));
    assert!(report.filled.is_empty() && report.stall.is_none());
}

#[tokio::test]
async fn a_counter_that_took_no_nonce_since_holders_are_indexed_is_left_alone() {
    let w = watchdog();
    // A counter from before the index (or seeded, never used): its holders may be invisible.
    w.store
        .seed_nonce(account(), 7)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let report = watch(&w).await;
    assert_eq!((report.rewound_from, report.filled.len()), (None, 0));
    assert_eq!(counter(&w).await, Some(7));
}

#[tokio::test]
async fn a_counter_moved_within_the_settle_time_is_left_alone() {
    let mut w = watchdog();
    w.settle = Duration::from_secs(60);
    signed(&w, 4).await;
    // The chain says 2: nonces 2 and 3 look like holes, but the counter just moved.
    set(&w.node.mined_nonce, Ok(2));
    set(&w.node.pending_nonce, Ok(2));
    let report = watch(&w).await;
    assert_eq!((report.rewound_from, report.filled.len()), (None, 0));
    assert_eq!(counter(&w).await, Some(5));
}

#[tokio::test]
async fn a_hole_below_a_held_nonce_is_filled() {
    let w = watchdog();
    // Nonce 0 was taken and abandoned (nobody holds it); nonce 1 waits behind it.
    assert_eq!(abandoned(&w).await, 0);
    signed(&w, 0).await;
    let report = watch(&w).await;
    assert_eq!(report.filled, vec![0]);
    assert_eq!(w.node.sent().len(), 1, "one filler");
    assert!(report.stall.is_none());
}

#[tokio::test]
async fn a_nonce_held_by_an_unsigned_transaction_under_review_is_filled_and_noted() {
    let w = watchdog();
    let (id, _, _) = tx_fakes::reserved(&w.store, 0).await;
    w.store
        .record_needs_review(id, "kms disabled; the filler failed", u32::MAX)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    signed(&w, 0).await;
    let report = watch(&w).await;
    assert_eq!(report.filled, vec![0]);
    let tx = w
        .store
        .get(id)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("gone"));
    assert!(tx.history.iter().any(|e| e.event == Event::NonceFilled));
    assert!(report.stall.is_none());
}

#[tokio::test]
async fn a_signed_transaction_under_review_at_the_next_nonce_is_a_stall() {
    let w = watchdog();
    let (id, _) = signed(&w, 0).await;
    w.store
        .record_needs_review(id, "gave up after 10 attempts", u32::MAX)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let report = watch(&w).await;
    assert_eq!(
        report.stall,
        Some(Stall::ReviewHoldsNextNonce {
            nonce: 0,
            transaction_id: id
        })
    );
    assert!(report.filled.is_empty(), "its bytes may still be out there");
}

#[tokio::test]
async fn a_hole_that_cannot_be_filled_is_a_stall() {
    let w = watchdog();
    abandoned(&w).await;
    signed(&w, 0).await;
    w.node
        .script_plan(Err(NodeError::Unavailable("HTTP 502".into())));
    let report = watch(&w).await;
    assert_eq!(report.stall, Some(Stall::HoleNotFilled { nonce: 0 }));
}

#[tokio::test]
async fn a_hole_at_the_chains_nonce_waiting_out_the_settle_time_is_not_yet_a_stall() {
    let mut w = watchdog();
    w.settle = Duration::from_secs(60);
    abandoned(&w).await;
    signed(&w, 0).await;
    let report = watch(&w).await;
    assert_eq!((report.filled.len(), report.stall), (0, None));
}

#[tokio::test]
async fn a_confirmed_transaction_past_a_lagging_nodes_head_stays_confirmed() {
    let w = watchdog();
    // Included in block 5; this node's head is 1 and it has no receipt yet.
    let id = confirmed(&w, 0, 5).await;
    w.node.script_lookup(Ok(Lookup::Unknown));
    let report = watch(&w).await;
    assert!(report.reorged.is_empty());
    let now = w.store.get(id).await.ok().flatten().map(|tx| tx.status);
    assert_eq!(now, Some(Status::Confirmed));
}

#[tokio::test]
async fn an_unsigned_reverted_holder_is_filled_not_left_as_a_silent_stall() {
    let w = watchdog();
    let (id, _, _) = tx_fakes::reserved(&w.store, 0).await;
    w.store
        .record_reverted_unsent(id, "execution reverted")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    signed(&w, 0).await;
    let report = watch(&w).await;
    assert_eq!(report.filled, vec![0]);
    assert!(report.stall.is_none());
}

mod lanes {
    use super::*;
    use tx_shared::lanes::LaneState;

    const B: alloy::primitives::Address = alloy::primitives::Address::repeat_byte(0xb2);

    fn two_lanes() -> TestWatchdog {
        Watchdog {
            keys: KeyPool::new(vec![FakeKey::default(), FakeKey::at(B)]),
            ..watchdog()
        }
    }

    async fn lane_state(
        w: &TestWatchdog,
        address: alloy::primitives::Address,
    ) -> Option<LaneState> {
        let account = Account {
            chain_id: 31337,
            address,
        };
        w.store
            .nonce_counter(account)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .and_then(|c| c.lane)
            .map(|l| l.state)
    }

    #[tokio::test]
    async fn every_lane_is_watched_and_its_view_kept_beside_its_counter() {
        let w = two_lanes();
        signed(&w, 0).await;
        let lanes = w.watch().await.unwrap_or_else(|e| panic!("{e}"));
        let addresses: Vec<_> = lanes.iter().map(|l| l.address).collect();
        assert_eq!(addresses, vec![FakeKey::ADDRESS, B]);
        assert_eq!(lane_state(&w, FakeKey::ADDRESS).await, Some(LaneState::Ok));
        // B never took a nonce: its counter is seeded from the chain (as the signer would),
        // so its state is kept before it takes any work.
        assert_eq!(lane_state(&w, B).await, Some(LaneState::Ok));
        assert_eq!(counter_of(&w, B).await, Some(0));
    }

    #[tokio::test]
    async fn a_lane_that_cannot_pay_at_the_caps_is_underfunded() {
        let w = Watchdog {
            min_balance_wei: 10u128.pow(18) + 1,
            ..two_lanes()
        };
        signed(&w, 0).await;
        let lanes = w.watch().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(lanes.iter().all(|l| l.state == LaneState::Underfunded));
        assert_eq!(
            lane_state(&w, FakeKey::ADDRESS).await,
            Some(LaneState::Underfunded)
        );
    }

    #[tokio::test]
    async fn a_hole_in_a_lane_is_filled_with_that_lanes_key() {
        // FakeKey::ADDRESS is the second lane here.
        let w = Watchdog {
            keys: KeyPool::new(vec![FakeKey::at(B), FakeKey::default()]),
            ..watchdog()
        };
        let (id, _, _) = tx_fakes::reserved(&w.store, 0).await;
        w.store
            .record_needs_review(id, "kms disabled; the filler failed", u32::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        signed(&w, 0).await;
        let lanes = w.watch().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lanes[1].report.filled, vec![0]);
        assert_eq!(w.keys.keys()[0].signed().len(), 0);
        assert_eq!(w.keys.keys()[1].signed().len(), 1);
    }

    #[tokio::test]
    async fn a_lane_whose_key_cannot_be_read_fails_the_run_after_the_others_are_watched() {
        let w = Watchdog {
            keys: KeyPool::new(vec![
                FakeKey {
                    unreadable: true,
                    ..FakeKey::at(B)
                },
                FakeKey::default(),
            ]),
            ..watchdog()
        };
        signed(&w, 0).await;
        assert!(matches!(w.watch().await, Err(WatchError::Key(_))));
        assert_eq!(lane_state(&w, FakeKey::ADDRESS).await, Some(LaneState::Ok));
    }

    async fn counter_of(w: &TestWatchdog, address: alloy::primitives::Address) -> Option<u64> {
        w.store
            .nonce_counter(Account {
                chain_id: 31337,
                address,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|c| c.next)
    }
}
