//! Several chains: a transaction is sent to and followed on its own chain's nodes, and one
//! for a chain no longer declared waits (an alarm), never sent to another chain's node.

use super::*;

const BASE: u64 = 8453;

/// anvil (the default) and base, over one table.
fn two_chains() -> ByChain<TestBroadcaster> {
    let anvil = broadcaster();
    let base = Broadcaster {
        store: anvil.store.clone(),
        chain_id: BASE,
        ..broadcaster()
    };
    ByChain::new(vec![(31337, anvil), (BASE, base)]).unwrap_or_else(|| panic!("two chains"))
}

#[tokio::test]
async fn a_transaction_is_sent_to_its_own_chains_node() {
    let chains = two_chains();
    let (id, signed) = tx_fakes::signed_on(
        &chains.first().store,
        BASE,
        0,
        Bytes::from(vec![0x02, 0x0b]),
    )
    .await;
    let outcome = chains
        .first()
        .process_routed(Some(&chains), delivery(id, 1, 0))
        .await;
    assert_eq!(outcome, Ok(Outcome::AwaitingReceipt));
    let base = chains.get(BASE).unwrap_or_else(|| panic!("base"));
    assert_eq!(base.node.sent(), vec![signed.raw]);
    assert!(
        chains.first().node.sent().is_empty(),
        "never to another chain's node"
    );
    // Its receipt checks go on through the same queue, and come back to base's part.
    assert_eq!(status(base, id).await.status, Status::Broadcast);
}

#[tokio::test]
async fn a_transaction_for_a_chain_not_declared_waits_unsent() {
    let chains = two_chains();
    let (id, _) =
        tx_fakes::signed_on(&chains.first().store, 137, 0, Bytes::from(vec![0x02, 0x0c])).await;
    let outcome = chains
        .first()
        .process_routed(Some(&chains), delivery(id, 1, 0))
        .await;
    assert_eq!(outcome, Ok(Outcome::Waiting));
    for (_, part) in chains.iter() {
        assert!(part.node.sent().is_empty());
    }
    let tx = status(chains.first(), id).await;
    // A wait, not an attempt: it keeps its signature for when the chain is declared again.
    assert_eq!(
        (tx.status, tx.attempts, tx.signed.is_some()),
        (Status::Retrying, 0, true),
        "{:?}",
        tx.history
    );
    assert!(
        tx.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("chain_not_served: the transaction is for chain 137")),
        "{:?}",
        tx.last_error
    );
}
