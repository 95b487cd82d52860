//! Lanes: new transactions spread over the keys, a paused lane takes none, and a transaction
//! keeps the lane that took its nonce.

use tx_shared::lanes::{LaneReport, LaneState};
use tx_shared::ports::{Account, NonceCounter};

use super::*;

const A: Address = Address::repeat_byte(0xa1);
const B: Address = Address::repeat_byte(0xb2);

fn two_lanes() -> TestSigner {
    Signer {
        keys: KeyPool::new(vec![FakeKey::at(A), FakeKey::at(B)]),
        ..allow_all()
    }
}

fn account(address: Address) -> Account {
    Account {
        chain_id: 31337,
        address,
    }
}

async fn signed(s: &TestSigner) -> SignedTx {
    let id = add_weight(s).await;
    match s.sign(id, 1).await {
        Ok(Outcome::Signed(signed)) => signed,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn new_transactions_spread_over_the_lanes_each_with_its_own_nonces() {
    let s = two_lanes();
    let mut by_lane: BTreeMap<Address, Vec<u64>> = BTreeMap::new();
    for _ in 0..6 {
        let tx = signed(&s).await;
        by_lane.entry(tx.from).or_default().push(tx.nonce);
    }
    assert_eq!(by_lane.get(&A), Some(&vec![0, 1, 2]));
    assert_eq!(by_lane.get(&B), Some(&vec![0, 1, 2]));
    // Each signed by its own lane's key.
    assert_eq!(s.keys.keys()[0].signed().len(), 3);
    assert_eq!(s.keys.keys()[1].signed().len(), 3);
}

#[tokio::test]
async fn a_lane_the_watchdog_reports_stalled_or_underfunded_takes_no_new_work() {
    for state in [LaneState::Stalled, LaneState::Underfunded] {
        let s = two_lanes();
        for lane in [A, B] {
            s.store
                .seed_nonce(account(lane), 0)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let report = LaneReport {
            mined: 0,
            state,
            balance_wei: 0,
            at: OffsetDateTime::now_utc(),
        };
        s.store
            .report_lane(account(A), &report)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..4 {
            assert_eq!(signed(&s).await.from, B, "{state:?}");
        }
    }
}

#[tokio::test]
async fn the_busier_lane_by_the_watchdogs_count_waits_its_turn() {
    let s = two_lanes();
    // A has 5 nonces out that the chain has not mined; B has 1.
    for (lane, next, mined) in [(A, 5, 0), (B, 9, 8)] {
        s.store
            .seed_nonce(account(lane), next)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let report = LaneReport {
            mined,
            state: LaneState::Ok,
            balance_wei: 1,
            at: OffsetDateTime::now_utc(),
        };
        s.store
            .report_lane(account(lane), &report)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let lanes: Vec<Address> = {
        let mut lanes = Vec::new();
        for _ in 0..5 {
            lanes.push(signed(&s).await.from);
        }
        lanes
    };
    // B takes nonces 9, 10, 11, 12 until it has as many out as A, then they share.
    assert_eq!(&lanes[..4], &[B, B, B, B]);
}

#[tokio::test]
async fn a_transaction_keeps_the_lane_that_took_its_nonce() {
    let s = two_lanes();
    let id = add_weight(&s).await;
    // Both keys fail once after the nonce is taken, whichever lane it is.
    for key in s.keys.keys() {
        key.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(SignError::Unavailable("throttled".into()));
    }
    assert!(s.sign(id, 1).await.is_err());
    for key in s.keys.keys() {
        key.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
    let first = stored(&s, id).await;
    let (Some(nonce), Some(lane)) = (first.nonce, first.from) else {
        panic!("no nonce taken: {first:?}");
    };
    // The next transaction goes to the other lane (less busy), more to either...
    let other = if lane == A { B } else { A };
    assert_eq!(signed(&s).await.from, other);
    for _ in 0..3 {
        signed(&s).await;
    }
    // ...and the retry signs at its nonce, with its lane's key.
    let Ok(Outcome::Signed(retried)) = s.sign(id, 2).await else {
        panic!("not signed");
    };
    assert_eq!((retried.from, retried.nonce), (lane, nonce));
}

#[tokio::test]
async fn the_records_of_one_batch_spread_over_the_lanes() {
    let s = two_lanes();
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(add_weight(&s).await);
    }
    let outcomes = futures::future::join_all(ids.iter().map(|&id| s.sign(id, 1))).await;
    let mut by_lane: BTreeMap<Address, usize> = BTreeMap::new();
    for outcome in outcomes {
        let Ok(Outcome::Signed(signed)) = outcome else {
            panic!("{outcome:?}");
        };
        *by_lane.entry(signed.from).or_default() += 1;
    }
    assert_eq!(by_lane.get(&A), Some(&3), "{by_lane:?}");
    assert_eq!(by_lane.get(&B), Some(&3), "{by_lane:?}");
}

#[tokio::test]
async fn with_every_lane_paused_nothing_is_taken_and_the_transaction_waits() {
    let s = two_lanes();
    for (lane, state) in [(A, LaneState::Stalled), (B, LaneState::Underfunded)] {
        s.store
            .seed_nonce(account(lane), 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let report = LaneReport {
            mined: 0,
            state,
            balance_wei: 0,
            at: OffsetDateTime::now_utc(),
        };
        s.store
            .report_lane(account(lane), &report)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let id = add_weight(&s).await;
    assert_eq!(s.sign(id, 1).await, Ok(Outcome::Waiting));
    let tx = stored(&s, id).await;
    assert_eq!((tx.nonce, tx.status), (None, Status::Retrying));
    assert!(
        tx.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("no_lane_open")),
        "{tx:?}"
    );
}

#[tokio::test]
async fn a_key_that_cannot_be_read_leaves_only_its_lane_out() {
    let s = Signer {
        keys: KeyPool::new(vec![
            FakeKey {
                unreadable: true,
                ..FakeKey::at(A)
            },
            FakeKey::at(B),
        ]),
        ..allow_all()
    };
    for _ in 0..3 {
        assert_eq!(signed(&s).await.from, B);
    }
}
