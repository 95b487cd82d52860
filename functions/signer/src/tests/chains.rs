//! Several chains: a transaction is signed by its own chain's part (its node, its key, its
//! chain id in the signature), and one for a chain no longer declared waits, taking nothing.

use tx_shared::ports::{Account, NonceCounter};

use super::*;

const BASE: u64 = 8453;
const BASE_KEY: Address = Address::repeat_byte(0xba);

/// anvil (the default) and base, over one table.
fn two_chains() -> ByChain<TestSigner> {
    let anvil = allow_all();
    let base = Signer {
        store: anvil.store.clone(),
        keys: KeyPool::one(FakeKey::at(BASE_KEY)),
        chain_id: BASE,
        ..allow_all()
    };
    tx_fakes::set(&base.node.chain_id, Ok(BASE));
    ByChain::new(vec![(31337, anvil), (BASE, base)]).unwrap_or_else(|| panic!("two chains"))
}

#[tokio::test]
async fn a_transaction_is_signed_by_its_own_chains_key_node_and_id() {
    let chains = two_chains();
    let id = tx_fakes::received_on(&chains.first().store, BASE).await;
    // Delivered to whichever part polls the queue: the default one here.
    let outcome = chains
        .first()
        .sign_message(Some(&chains), &TxMessage::new(id), 1)
        .await;
    let Ok(Outcome::Signed(signed)) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(signed.from, BASE_KEY);
    let base = chains.get(BASE).unwrap_or_else(|| panic!("base"));
    let signatures = base.keys.keys()[0].signed();
    assert_eq!(signatures.len(), 1);
    assert_eq!(signatures[0].chain_id, BASE, "EIP-155: the chain's own id");
    assert!(chains.first().keys.keys()[0].signed().is_empty());
    // Its nonce is base's lane's, not anvil's.
    let counter = |chain_id| {
        base.store.nonce_counter(Account {
            chain_id,
            address: BASE_KEY,
        })
    };
    assert_eq!(counter(BASE).await.map(|c| c.map(|c| c.next)), Ok(Some(1)));
    assert_eq!(counter(31337).await.map(|c| c.map(|c| c.next)), Ok(None));
}

#[tokio::test]
async fn a_transaction_for_a_chain_not_declared_waits_and_takes_nothing() {
    let chains = two_chains();
    let id = tx_fakes::received_on(&chains.first().store, 137).await;
    let outcome = chains
        .first()
        .sign_message(Some(&chains), &TxMessage::new(id), 1)
        .await;
    assert_eq!(outcome, Ok(Outcome::Waiting));
    let tx = stored(chains.first(), id).await;
    assert_eq!(
        (tx.status, tx.nonce, tx.attempts),
        (Status::Retrying, None, 0)
    );
    assert!(
        tx.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("chain_not_served: the transaction is for chain 137")),
        "{:?}",
        tx.last_error
    );
    for (_, part) in chains.iter() {
        assert!(part.keys.keys()[0].signed().is_empty());
    }
}
