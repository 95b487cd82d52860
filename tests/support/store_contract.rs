//! The store's contract: what every implementation of the store roles must do, written once and
//! run against DynamoDB on the emulator and against the in-memory twin (`tests/store_contract.rs`),
//! so the two can't drift.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use time::OffsetDateTime;
use tx_shared::auth::ClientId;
use tx_shared::domain::{Event, Idempotency, Inclusion, NewTransaction, SignedTx, Status, TxId};
use tx_shared::ports::{
    Account, AdminRetry, Claim, CountScope, Inserted, LeaseToken, ListQuery, NonceReservation,
    StoreError, TransactionStore, WebhookStore,
};
use tx_shared::webhooks::Registry;

fn client(name: &str) -> ClientId {
    name.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// A new request of `client`, with an idempotency key if given.
pub fn request(client_name: &str, key: Option<(&str, u8)>) -> NewTransaction {
    NewTransaction {
        client: client(client_name),
        idempotency: key.map(|(key, body)| Idempotency {
            key: key.into(),
            request_fingerprint: B256::repeat_byte(body),
        }),
        ..tx_fakes::ping_request()
    }
}

async fn insert<S: TransactionStore>(store: &S, new: &NewTransaction) -> TxId {
    match store.insert_new(new).await {
        Ok(Inserted::Created(tx)) => tx.id,
        other => panic!("insert: {other:?}"),
    }
}

fn account(seed: u8) -> Account {
    Account {
        chain_id: 31337,
        // A fresh account per run: the counter is shared by every test on one table.
        address: Address::from_slice(&{
            let mut bytes = [seed; 20];
            bytes[..16].copy_from_slice(&rand::random::<[u8; 16]>());
            bytes
        }),
    }
}

async fn claim<S: TransactionStore>(store: &S, id: TxId) -> LeaseToken {
    match store.claim_for_signing(id, Duration::from_secs(60)).await {
        Ok(Claim::Granted { token, .. }) => token,
        other => panic!("claim: {other:?}"),
    }
}

fn signed(nonce: u64, from: Address, byte: u8) -> SignedTx {
    SignedTx {
        nonce,
        from,
        to: Address::repeat_byte(0x7a),
        gas_limit: 30_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        hash: B256::repeat_byte(byte),
        raw: Bytes::from(vec![0x02, byte]),
    }
}

/// Takes a nonce for `id` (seeding the account's counter at 0) and stores its signature.
async fn sign<S: TransactionStore>(store: &S, id: TxId, account: Account, byte: u8) -> SignedTx {
    let token = claim(store, id).await;
    store
        .seed_nonce(account, 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let NonceReservation::Assigned(nonce) = store
        .reserve_nonce(id, &token, account)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("the counter was seeded");
    };
    let tx = signed(nonce, account.address, byte);
    store
        .record_signed(id, &token, &tx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tx
}

/// The stored transaction, which must exist.
async fn fetch<S: TransactionStore>(store: &S, id: TxId) -> tx_shared::domain::Transaction {
    store
        .get(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{id} is gone"))
}

async fn status<S: TransactionStore>(store: &S, id: TxId) -> Status {
    fetch(store, id).await.status
}

fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict { .. }))
}

pub async fn intake_and_idempotency<S: TransactionStore>(store: &S) {
    let first = request("alice", Some(("order-1", 1)));
    let id = insert(store, &first).await;
    let stored = store.get(id).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored.as_ref().map(|tx| tx.status), Some(Status::Received));
    assert_eq!(stored.and_then(|tx| tx.client), Some(client("alice")));
    // The same request again: the same transaction, nothing new.
    let again = NewTransaction {
        id: TxId::generate(),
        ..first.clone()
    };
    assert!(matches!(store.insert_new(&again).await, Ok(Inserted::Duplicate(tx)) if tx.id == id));
    // Another body under the same key: refused, naming the client's own transaction.
    let other = NewTransaction {
        id: TxId::generate(),
        ..request("alice", Some(("order-1", 2)))
    };
    assert_eq!(
        store.insert_new(&other).await.err(),
        Some(StoreError::IdempotencyConflict { existing: id })
    );
    // Another client's key of the same spelling is another key.
    let bobs = request("bob", Some(("order-1", 2)));
    assert_ne!(insert(store, &bobs).await, id);
}

/// A client that retries while its first request is still in flight sends the same key twice at
/// once: every copy is answered with the one transaction (created once), none is told the store
/// is unavailable, and a different body under the key is still refused.
pub async fn racing_requests_with_one_key_get_one_transaction<S: TransactionStore>(store: &S) {
    for round in 0..5u8 {
        let key = format!("race-{round}");
        let copies: Vec<NewTransaction> = (0..8)
            .map(|_| NewTransaction {
                id: TxId::generate(),
                ..request("alice", Some((&key, 1)))
            })
            .collect();
        let answers =
            futures::future::join_all(copies.iter().map(|new| store.insert_new(new))).await;
        let mut created = 0;
        let mut ids = std::collections::BTreeSet::new();
        for answer in answers {
            match answer {
                Ok(Inserted::Created(tx)) => {
                    created += 1;
                    ids.insert(tx.id);
                }
                Ok(Inserted::Duplicate(tx)) => {
                    ids.insert(tx.id);
                }
                Err(e) => panic!("round {round}: a copy was refused: {e}"),
            }
        }
        assert_eq!(created, 1, "round {round}: created {created} times");
        assert_eq!(ids.len(), 1, "round {round}: answered with {ids:?}");
        let other = NewTransaction {
            id: TxId::generate(),
            ..request("alice", Some((&key, 2)))
        };
        assert!(
            matches!(
                store.insert_new(&other).await,
                Err(StoreError::IdempotencyConflict { .. })
            ),
            "round {round}: another body under the key was not refused"
        );
    }
}

pub async fn only_an_untouched_request_is_withdrawn<S: TransactionStore>(store: &S) {
    let new = request("alice", Some(("withdraw-me", 1)));
    let id = insert(store, &new).await;
    let claimed = request("alice", None);
    let claimed_id = insert(store, &claimed).await;
    claim(store, claimed_id).await;
    let tx = |id| async move { fetch(store, id).await };
    assert_eq!(
        store.discard_unpublished(&tx(claimed_id).await).await,
        Ok(false)
    );
    assert_eq!(store.discard_unpublished(&tx(id).await).await, Ok(true));
    assert_eq!(store.get(id).await, Ok(None));
    // Its key is free again.
    insert(
        store,
        &NewTransaction {
            id: TxId::generate(),
            ..new
        },
    )
    .await;
}

pub async fn one_lease_at_a_time<S: TransactionStore>(store: &S) {
    let id = insert(store, &request("alice", None)).await;
    let token = claim(store, id).await;
    assert!(matches!(
        store.claim_for_signing(id, Duration::from_secs(60)).await,
        Ok(Claim::Held)
    ));
    // Releasing with someone else's token does nothing; with ours, frees it.
    store
        .release_claim(id, &LeaseToken("not-ours".into()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        store.claim_for_signing(id, Duration::from_secs(60)).await,
        Ok(Claim::Held)
    ));
    store
        .release_claim(id, &token)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    claim(store, id).await;
    assert!(matches!(
        store
            .claim_for_signing(TxId::generate(), Duration::from_secs(60))
            .await,
        Ok(Claim::Missing)
    ));
}

pub async fn nonces_are_taken_once_in_order<S: TransactionStore>(store: &S) {
    let account = account(1);
    let first = insert(store, &request("alice", None)).await;
    let token = claim(store, first).await;
    assert_eq!(
        store.reserve_nonce(first, &token, account).await,
        Ok(NonceReservation::Uninitialized)
    );
    store
        .seed_nonce(account, 5)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Seeding again is a no-op.
    store
        .seed_nonce(account, 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.reserve_nonce(first, &token, account).await,
        Ok(NonceReservation::Assigned(5))
    );
    // Once per transaction: a second reservation is a lost race.
    assert!(conflict(store.reserve_nonce(first, &token, account).await));
    let second = insert(store, &request("alice", None)).await;
    claim(store, second).await;
    // Without the lease: refused, and the counter does not move.
    assert!(conflict(
        store
            .reserve_nonce(second, &LeaseToken("stale".into()), account)
            .await
    ));
    let third = insert(store, &request("alice", None)).await;
    let third_token = claim(store, third).await;
    assert_eq!(
        store.reserve_nonce(third, &third_token, account).await,
        Ok(NonceReservation::Assigned(6))
    );
    // Re-syncing only ever raises the counter.
    assert_eq!(store.resync_nonce(account, 3).await, Ok(None));
    assert_eq!(store.resync_nonce(account, 10).await, Ok(Some(7)));
    assert_eq!(store.resync_nonce(self::account(2), 10).await, Ok(None));
}

pub async fn statuses_only_move_forward<S: TransactionStore>(store: &S) {
    let account = account(3);
    let id = insert(store, &request("alice", None)).await;
    // Nothing to broadcast before it is signed.
    assert!(conflict(store.record_broadcast(id).await));
    let tx = sign(store, id, account, 0xa1).await;
    assert_eq!(status(store, id).await, Status::Signed);
    assert!(matches!(
        store.claim_for_signing(id, Duration::from_secs(60)).await,
        Ok(Claim::AlreadySigned(_))
    ));
    store
        .record_broadcast(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A replacement only of the current hash, at the same nonce.
    let replacement = signed(tx.nonce, tx.from, 0xa2);
    assert!(conflict(
        store
            .record_replacement(id, B256::repeat_byte(0xff), &replacement)
            .await
    ));
    store
        .record_replacement(id, tx.hash, &replacement)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A stale consumer's retry can't pull a broadcast transaction back.
    let retry = tx_shared::ports::RetryRecord {
        reason: "stale".into(),
        attempt: 2,
        next_attempt_at: OffsetDateTime::now_utc(),
        backoff_ceiling: Duration::from_secs(4),
    };
    assert!(conflict(store.record_retry(id, &retry).await));
    store
        .record_inclusion(
            id,
            Inclusion {
                block_number: 7,
                succeeded: true,
            },
            replacement.hash,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let done = store.get(id).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.as_ref().map(|tx| tx.status), Some(Status::Confirmed));
    assert_eq!(
        done.as_ref()
            .and_then(|tx| tx.inclusion)
            .map(|i| i.block_number),
        Some(7)
    );
    assert_eq!(
        done.map(|tx| tx.all_hashes()),
        Some(vec![tx.hash, replacement.hash])
    );
    // Final is final.
    assert!(conflict(
        store.record_needs_review(id, "late", u32::MAX).await
    ));
    assert!(conflict(store.record_reverted_unsent(id, "late").await));
    // A late send of a duplicate does not pull it back to `broadcast`.
    assert!(conflict(store.record_broadcast(id).await));
    assert_eq!(status(store, id).await, Status::Confirmed);
}

pub async fn waits_note_their_reason_once_and_yield_to_an_operator<S: TransactionStore>(store: &S) {
    let id = insert(store, &request("alice", None)).await;
    let later = OffsetDateTime::now_utc() + Duration::from_secs(60);
    // The same wait, checked again and again, its figures moving with the market.
    for asked in [3, 4, 5] {
        store
            .record_wait(
                id,
                &format!("insufficient_funds: needs {asked} wei"),
                later,
                0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    store
        .record_wait(id, "fee_above_cap: wait", later, 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tx = fetch(store, id).await;
    assert_eq!(tx.status, Status::Retrying);
    assert_eq!(tx.attempts, 0, "a wait is not an attempt");
    assert_eq!(tx.history.len(), 2, "once per reason: {:?}", tx.history);
    // An operator's retry starts generation 1: a waiting message of generation 0 is refused.
    store
        .record_admin_retry(id, Status::Retrying, AdminRetry::SkipWait, "ops")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(conflict(
        store.record_wait(id, "fee_above_cap: wait", later, 0).await
    ));
    store
        .record_wait(id, "fee_above_cap: wait", later, 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

pub async fn a_dead_letter_counts_once_and_not_against_a_newer_generation<S: TransactionStore>(
    store: &S,
) {
    let id = insert(store, &request("alice", None)).await;
    store
        .record_dead_letter(id, "sign-dlq", "m-1", 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(store, id).await, Status::NeedsReview);
    let seen = store
        .get(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|tx| tx.history.len());
    // The same message again (kept messages come back): nothing new.
    store
        .record_dead_letter(id, "sign-dlq", "m-1", 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store
            .get(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|tx| tx.history.len()),
        seen
    );
    // Retried by an operator; then a dead letter from before the retry: noted, not reviewed.
    store
        .record_admin_retry(id, Status::NeedsReview, AdminRetry::ResignFresh, "ops")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .record_dead_letter(id, "sign-dlq", "m-2", 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tx = fetch(store, id).await;
    assert_eq!((tx.status, tx.dead_lettered), (Status::Retrying, true));
    assert!(matches!(
        store
            .record_dead_letter(TxId::generate(), "q", "m", 0)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn an_operators_retry_is_guarded_by_what_was_seen<S: TransactionStore>(store: &S) {
    let account = account(4);
    let id = insert(store, &request("alice", None)).await;
    let tx = sign(store, id, account, 0xb1).await;
    store
        .record_needs_review(id, "node refused", u32::MAX)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Decided on a status it no longer has: refused.
    assert!(conflict(
        store
            .record_admin_retry(id, Status::Reverted, AdminRetry::ResendSigned, "ops")
            .await
    ));
    store
        .record_admin_retry(id, Status::NeedsReview, AdminRetry::ResendSigned, "ops")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let resent = fetch(store, id).await;
    assert_eq!((resent.status, resent.generation), (Status::Retrying, 1));
    assert_eq!(resent.signed.map(|s| s.hash), Some(tx.hash));
    // Twice in a row: the second saw `needs_review`, which is gone.
    assert!(conflict(
        store
            .record_admin_retry(id, Status::NeedsReview, AdminRetry::ResendSigned, "ops")
            .await
    ));
    // Signing afresh forgets the old signature and nonce.
    store
        .record_needs_review(id, "again", u32::MAX)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .record_admin_retry(id, Status::NeedsReview, AdminRetry::ResignFresh, "ops")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let fresh = fetch(store, id).await;
    assert_eq!(
        (fresh.nonce, fresh.signed.is_none(), fresh.generation),
        (None, true, 2)
    );
    claim(store, id).await;
}

/// A lost nonce: only the signature judged, in a status that can still be sent, goes back to
/// signing, unsigned and one generation on; its hash stays in the history.
pub async fn a_lost_nonce_goes_back_to_signing_once<S: TransactionStore>(store: &S) {
    let account = account(6);
    let id = insert(store, &request("alice", None)).await;
    let tx = sign(store, id, account, 0xc1).await;
    store
        .record_broadcast(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Judged on another signature (a replacement came between): refused.
    let other = SignedTx {
        hash: B256::repeat_byte(0xc2),
        ..tx.clone()
    };
    assert!(conflict(store.record_nonce_lost(id, &other, 9).await));
    store
        .record_nonce_lost(id, &tx, 9)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let lost = fetch(store, id).await;
    assert_eq!(
        (
            lost.status,
            lost.nonce,
            lost.signed.is_none(),
            lost.generation
        ),
        (Status::Retrying, None, true, 1)
    );
    assert_eq!(lost.all_hashes(), vec![tx.hash]);
    assert!(lost.attempt_hashes().is_empty());
    assert!(
        lost.history
            .iter()
            .any(|e| e.event == Event::NonceLost && e.tx_hash == Some(tx.hash))
    );
    // Twice: the signature is gone, so the second is refused.
    assert!(conflict(store.record_nonce_lost(id, &tx, 9).await));
    // Signed again at a fresh nonce: only the new hash is the attempt's.
    let again = sign(store, id, account, 0xc3).await;
    let resigned = fetch(store, id).await;
    assert_eq!(resigned.all_hashes(), vec![tx.hash, again.hash]);
    assert_eq!(resigned.attempt_hashes(), vec![again.hash]);
    // A final transaction is never sent back.
    store
        .record_broadcast(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mined = Inclusion {
        block_number: 3,
        succeeded: true,
    };
    store
        .record_inclusion(id, mined, again.hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(conflict(store.record_nonce_lost(id, &again, 9).await));
}

/// The watchdog's view: who holds which nonce, the counter and its repairs, and a final
/// transaction sent back to being followed.
pub async fn the_watchdog_sees_held_nonces_and_repairs_the_counter<S: TransactionStore>(store: &S) {
    let account = account(7);
    assert_eq!(store.nonce_counter(account).await, Ok(None));
    let first = insert(store, &request("alice", None)).await;
    let a = sign(store, first, account, 0xd1).await;
    let second = insert(store, &request("bob", None)).await;
    let b = sign(store, second, account, 0xd2).await;
    let counter = store
        .nonce_counter(account)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no counter"));
    assert_eq!(counter.next, 2);
    assert!(counter.reserved_at.is_some());
    // Held nonces, lowest first, from a nonce on (the index may lag: poll briefly).
    let mut held = Vec::new();
    for _ in 0..50 {
        held = store
            .nonce_holders(account, 0, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if held.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ids: Vec<_> = held.iter().map(|tx| (tx.id, tx.nonce)).collect();
    assert_eq!(ids, vec![(first, Some(a.nonce)), (second, Some(b.nonce))]);
    let from_one = store
        .nonce_holders(account, 1, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        from_one.iter().map(|tx| tx.id).collect::<Vec<_>>(),
        vec![second]
    );
    // Another account's nonces are its own.
    assert!(
        store
            .nonce_holders(self::account(8), 0, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    // A rewind only from the value read.
    assert_eq!(store.rewind_nonce(account, 5, 1).await, Ok(false));
    assert_eq!(store.rewind_nonce(account, 2, 1).await, Ok(true));
    assert_eq!(
        store
            .nonce_counter(account)
            .await
            .map(|c| c.map(|c| c.next)),
        Ok(Some(1))
    );
    // A confirmed transaction goes back to being followed, once, and only at its nonce.
    store
        .record_broadcast(first)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mined = Inclusion {
        block_number: 4,
        succeeded: true,
    };
    store
        .record_inclusion(first, mined, a.hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(conflict(store.record_reorged(first, a.nonce + 1, 0).await));
    store
        .record_reorged(first, a.nonce, 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let back = fetch(store, first).await;
    assert_eq!((back.status, back.inclusion), (Status::Broadcast, None));
    assert!(back.history.iter().any(|e| e.event == Event::Reorged));
    assert!(conflict(store.record_reorged(first, a.nonce, 0).await));
    // A lost nonce leaves the index with its holder.
    store
        .record_nonce_lost(second, &b, 9)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut after = Vec::new();
    for _ in 0..50 {
        after = store
            .nonce_holders(account, 0, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if after.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        after.iter().map(|tx| tx.id).collect::<Vec<_>>(),
        vec![first]
    );
}

/// A verdict of an older generation can't undo an operator's retry.
pub async fn a_review_decided_in_an_older_generation_is_refused<S: TransactionStore>(store: &S) {
    let id = insert(store, &request("alice", None)).await;
    store
        .record_needs_review(id, "first verdict", 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .record_admin_retry(id, Status::NeedsReview, AdminRetry::ResignFresh, "ops")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A duplicate of the first generation gives up late: refused.
    assert!(conflict(
        store.record_needs_review(id, "stale verdict", 0).await
    ));
    assert_eq!(status(store, id).await, Status::Retrying);
    // The retry's own generation may.
    store
        .record_needs_review(id, "second verdict", 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(store, id).await, Status::NeedsReview);
}

pub async fn listings_are_scoped_and_paged<S: TransactionStore>(store: &S) {
    let carol = format!("carol-{:08x}", rand::random::<u32>());
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(insert(store, &request(&carol, None)).await);
    }
    insert(store, &request("dave", None)).await;
    let mut query = ListQuery {
        client: Some(client(&carol)),
        limit: 2,
        ..ListQuery::default()
    };
    let first = store.list(&query).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        first.items.iter().map(|tx| tx.id).collect::<Vec<_>>(),
        vec![mine[2], mine[1]],
        "newest first"
    );
    query.cursor = first.next_cursor.clone();
    assert!(query.cursor.is_some());
    let second = store.list(&query).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        second.items.iter().map(|tx| tx.id).collect::<Vec<_>>(),
        vec![mine[0]]
    );
    assert_eq!(second.next_cursor, None);
    let counts = store
        .count_by_status(
            1_000,
            CountScope {
                client: Some(&client(&carol)),
                chain_id: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        counts
            .counts
            .iter()
            .find(|(s, _)| *s == Status::Received)
            .map(|(_, n)| *n),
        Some(3)
    );
    assert_eq!(
        counts.counts.iter().map(|(_, n)| n).sum::<u64>(),
        3,
        "only the client's own"
    );
    // By chain and by lane (the address that took the transaction's nonce).
    let lane = account(5);
    let on_lane = insert(store, &request(&carol, None)).await;
    sign(store, on_lane, lane, 0x51).await;
    let elsewhere = insert(
        store,
        &NewTransaction {
            chain_id: 8453,
            ..request(&carol, None)
        },
    )
    .await;
    let listed = |query: ListQuery| async move {
        store
            .list(&query)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .iter()
            .map(|tx| tx.id)
            .collect::<Vec<_>>()
    };
    let mine_only = ListQuery {
        client: Some(client(&carol)),
        limit: 10,
        ..ListQuery::default()
    };
    assert_eq!(
        listed(ListQuery {
            lane: Some(lane.address),
            ..mine_only.clone()
        })
        .await,
        vec![on_lane]
    );
    assert_eq!(
        listed(ListQuery {
            chain_id: Some(8453),
            ..mine_only.clone()
        })
        .await,
        vec![elsewhere]
    );
    assert_eq!(
        listed(ListQuery {
            chain_id: Some(31337),
            ..mine_only
        })
        .await
        .len(),
        4,
        "the three and the one on the lane"
    );
    // Counts by chain, of a client's (exactly) and of everyone's (at least carol's: other tests
    // share the table).
    let carols = client(&carol);
    for (client, chain_id, at_least, exact) in [
        (Some(&carols), 8453, 1, true),
        (Some(&carols), 31337, 4, true),
        (None, 8453, 1, false),
    ] {
        let counts = store
            .count_by_status(
                1_000,
                CountScope {
                    client,
                    chain_id: Some(chain_id),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let total: u64 = counts.counts.iter().map(|(_, n)| n).sum();
        assert!(
            total >= at_least && (!exact || total == at_least),
            "{client:?} on {chain_id}: {counts:?}"
        );
    }
    let forged = ListQuery {
        cursor: Some("not a cursor".into()),
        ..query
    };
    assert!(matches!(
        store.list(&forged).await,
        Err(StoreError::InvalidCursor(_))
    ));
}

pub async fn a_lane_report_is_kept_beside_its_counter_and_creates_none<S: TransactionStore>(
    store: &S,
) {
    use tx_shared::lanes::{LaneReport, LaneState};
    let account = account(3);
    let report = LaneReport {
        mined: 4,
        state: LaneState::Underfunded,
        balance_wei: u128::MAX,
        // Whole seconds: the store keeps RFC 3339 with what precision it likes.
        at: time::OffsetDateTime::from_unix_timestamp(1_800_000_000)
            .unwrap_or_else(|e| panic!("{e}")),
    };
    // No counter: nothing is written, and seeding still works.
    assert_eq!(store.report_lane(account, &report).await, Ok(()));
    assert_eq!(store.nonce_counter(account).await, Ok(None));
    store
        .seed_nonce(account, 9)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.report_lane(account, &report).await, Ok(()));
    let counter = store
        .nonce_counter(account)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no counter"));
    assert_eq!((counter.next, counter.lane), (9, Some(report)));
    // Taking a nonce keeps the report.
    let id = insert(store, &request("alice", None)).await;
    let token = claim(store, id).await;
    assert_eq!(
        store.reserve_nonce(id, &token, account).await,
        Ok(NonceReservation::Assigned(9))
    );
    let after = store.nonce_counter(account).await.ok().flatten();
    assert_eq!(after.and_then(|c| c.lane), Some(report));
    // A watch that saw the lane earlier, written late, does not undo the newer view.
    let older = LaneReport {
        state: LaneState::Stalled,
        at: report.at - time::Duration::seconds(60),
        ..report
    };
    assert_eq!(store.report_lane(account, &older).await, Ok(()));
    let kept = store.nonce_counter(account).await.ok().flatten();
    assert_eq!(kept.and_then(|c| c.lane), Some(report));
}

pub async fn progress_adds_up_per_chain_and_minute<S: TransactionStore>(store: &S) {
    use tx_shared::ports::MinuteProgress;
    let chain = u64::from(rand::random::<u32>()) + 1_000_000;
    let minute = OffsetDateTime::now_utc().unix_timestamp() / 60;
    let step = |confirmed: u64, seconds: f64| MinuteProgress {
        counts: [("Confirmed".to_owned(), confirmed)].into(),
        seconds: [("BroadcastToConfirmedSeconds".to_owned(), (seconds, 1))].into(),
    };
    assert_eq!(
        store.progress(chain, minute - 60..minute + 1).await,
        Ok(vec![])
    );
    for (at, confirmed, seconds) in [(minute, 2, 1.5), (minute, 3, 2.5), (minute - 5, 1, 4.0)] {
        store
            .add_progress(chain, at, &step(confirmed, seconds))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    store
        .add_progress(chain + 1, minute, &step(7, 1.0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let kept = store
        .progress(chain, minute - 60..minute + 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        kept,
        vec![
            (minute - 5, step(1, 4.0)),
            (
                minute,
                MinuteProgress {
                    counts: [("Confirmed".to_owned(), 5)].into(),
                    seconds: [("BroadcastToConfirmedSeconds".to_owned(), (4.0, 2))].into(),
                }
            ),
        ]
    );
    // Nothing to add writes nothing; a range that is empty (or backwards) reads nothing.
    store
        .add_progress(chain, minute - 1, &MinuteProgress::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.progress(chain, minute..minute - 3).await, Ok(vec![]));
    // Only the minutes asked for, at most 100 of the latest.
    assert_eq!(
        store
            .progress(chain, minute - 3..minute)
            .await
            .map(|m| m.len()),
        Ok(0)
    );
    assert_eq!(
        store
            .progress(chain, minute - 1000..minute + 1)
            .await
            .map(|m| m.len()),
        Ok(2)
    );
}

pub async fn the_nodes_last_probed_are_kept_per_chain<S: TransactionStore>(store: &S) {
    use tx_shared::ports::NodeHealth;
    // A chain id of this run's own: the table is shared by every test.
    let chain = u64::from(rand::random::<u32>()) + 1_000_000;
    assert_eq!(store.nodes_health(chain).await, Ok(None));
    let nodes = vec![
        NodeHealth {
            node: "primary".into(),
            healthy: true,
        },
        NodeHealth {
            node: "node-2".into(),
            healthy: false,
        },
    ];
    store
        .report_nodes(chain, &nodes)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (kept, at) = store
        .nodes_health(chain)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("nothing kept"));
    assert_eq!(kept, nodes);
    assert!(OffsetDateTime::now_utc() - at < time::Duration::minutes(1));
    assert_eq!(store.nodes_health(chain + 1).await, Ok(None));
}

fn webhook_endpoint(n: u8) -> tx_shared::webhooks::Endpoint {
    let events = vec!["confirmed".to_owned()];
    tx_shared::webhooks::Endpoint::register(
        &tx_shared::webhooks::NewEndpoint {
            url: &format!("https://hooks{n}.example.com/"),
            events: &events,
            description: None,
        },
        tx_shared::webhooks::AddressPolicy::PUBLIC_ONLY,
        1_800_000_000,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Two changes of a client's endpoints at once can't lose one another: each is written only
/// over the version it read.
pub async fn webhook_endpoints_change_only_from_the_version_read<S: WebhookStore>(store: &S) {
    let alice = client("alice");
    let empty = store
        .endpoints(&alice)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(empty, Registry::default());
    let mut first = empty.clone();
    first.endpoints.push(webhook_endpoint(1));
    let mut racing = empty.clone();
    racing.endpoints.push(webhook_endpoint(2));
    assert_eq!(store.save_endpoints(&alice, &first).await.ok(), Some(true));
    assert_eq!(
        store.save_endpoints(&alice, &racing).await.ok(),
        Some(false)
    );
    let stored = store
        .endpoints(&alice)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored.version, 1);
    assert_eq!(stored.endpoints, first.endpoints);
    // The secret is kept whole (it signs every delivery).
    assert_eq!(
        stored.endpoints[0].secrets_in_force(0),
        first.endpoints[0].secrets_in_force(0)
    );
    let mut second = stored.clone();
    second.endpoints.push(webhook_endpoint(3));
    assert_eq!(store.save_endpoints(&alice, &second).await.ok(), Some(true));
    assert_eq!(
        store.save_endpoints(&alice, &stored).await.ok(),
        Some(false)
    );
    let stored = store
        .endpoints(&alice)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((stored.version, stored.endpoints.len()), (2, 2));
    // Another client's are its own.
    let bob = store
        .endpoints(&client("bob"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(bob.endpoints.is_empty());
}

/// A transaction's log keeps each event once however often the stream shows it, every attempt
/// in order, and counts what it can no longer keep.
pub async fn a_delivery_log_keeps_events_once_and_counts_beyond_its_limits<S: WebhookStore>(
    store: &S,
) {
    use tx_shared::webhooks::{
        Attempt, AttemptOutcome, EventKind, LoggedEvent, MAX_LOGGED_ATTEMPTS, MAX_LOGGED_EVENTS,
    };
    let tx = TxId::generate();
    assert_eq!(
        store.deliveries(tx).await.unwrap_or_else(|e| panic!("{e}")),
        Default::default()
    );
    let endpoint = webhook_endpoint(1).id;
    let event = |i: u32| LoggedEvent {
        id: format!("evt_{i:032x}"),
        kind: EventKind::Broadcast,
        at_ms: 1_000 + i64::from(i),
        endpoints: vec![endpoint.clone()],
        body: format!("{{\"n\":{i}}}"),
    };
    for i in 0..MAX_LOGGED_EVENTS {
        store
            .log_event(tx, &event(i))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // The same change, read again.
        store
            .log_event(tx, &event(i))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    store
        .log_event(tx, &event(MAX_LOGGED_EVENTS))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let attempt = |n: u32| Attempt {
        event_id: event(0).id,
        endpoint_id: endpoint.clone(),
        attempt: n,
        at_ms: 2_000 + i64::from(n),
        outcome: AttemptOutcome::Failed,
        status_code: Some(500),
        latency_ms: 12,
        error: Some("the endpoint answered 500".into()),
        redelivery: n == 2,
    };
    for n in 1..=MAX_LOGGED_ATTEMPTS + 2 {
        store
            .log_attempt(tx, &attempt(n))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let log = store.deliveries(tx).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.events.len(), MAX_LOGGED_EVENTS as usize);
    assert_eq!(log.events[0], event(0));
    assert!(log.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    assert_eq!(log.unlogged_events, 1);
    assert_eq!(log.attempts.len(), MAX_LOGGED_ATTEMPTS as usize);
    assert_eq!(log.attempts[0], attempt(1));
    assert_eq!(log.attempts.last(), Some(&attempt(MAX_LOGGED_ATTEMPTS)));
    assert_eq!(log.unlogged_attempts, 2);
    // Another transaction's log is its own.
    let other = store
        .deliveries(TxId::generate())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(other.events.is_empty() && other.attempts.is_empty());
}
