//! Several chains from one deployment: a burst across two chains (two anvils with different
//! chain ids, two lanes each) ends with every call mined once on the chain it asked for, and
//! no nonce gap on any lane of either.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use devstack::RunnerOptions;
use futures::StreamExt;
use integration_tests::{ADD_WEIGHT, OwnAnvil, TestStack, add_weight_data, http_client, rpc_url};
use serde_json::{Value, json};

const SECOND: u64 = 31_338;

#[tokio::test]
async fn a_burst_across_two_chains_lands_on_each_with_no_nonce_gap_on_any_lane() {
    let second = OwnAnvil::spawn_on_chain(SECOND, &[]).await;
    let options = RunnerOptions {
        lanes: 2,
        ..RunnerOptions::default()
    };
    let stack =
        TestStack::start_on_chains("chains-burst", options, 4, &rpc_url(), &[&second.url]).await;
    // By id and by name, and without a chain (the default one), all at once.
    let asked: Vec<Option<Value>> = (0..36)
        .map(|i| match i % 3 {
            0 => None,
            1 => Some(json!(SECOND)),
            _ => Some(json!("chain-31338")),
        })
        .collect();
    let ids: Vec<(String, u64)> = futures::stream::iter(asked.into_iter().enumerate())
        .map(|(i, chain)| {
            let stack = &stack;
            async move {
                let data = add_weight_data(Address::repeat_byte(0x3c), i as u64);
                match chain {
                    None => (stack.submit(ADD_WEIGHT, &data).await, 31_337),
                    Some(chain) => (stack.submit_to(chain, ADD_WEIGHT, &data).await, SECOND),
                }
            }
        })
        .buffer_unordered(12)
        .collect()
        .await;

    let mut lanes: BTreeMap<(u64, Address), Vec<u64>> = BTreeMap::new();
    for (id, chain) in &ids {
        let tx = stack
            .wait_for_status(id, "confirmed", Duration::from_secs(120))
            .await;
        assert_eq!(tx["chain_id"], *chain, "{tx}");
        let lane: Address = tx["signer_address"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no lane: {tx}"));
        let nonce = tx["nonce"]
            .as_u64()
            .unwrap_or_else(|| panic!("no nonce: {tx}"));
        lanes.entry((*chain, lane)).or_default().push(nonce);
    }
    let second_chain = &stack.provisioned.more_chains[0];
    let expected: Vec<(u64, Address)> = {
        let mut all: Vec<(u64, Address)> = stack
            .provisioned
            .signer_addresses
            .iter()
            .map(|a| (31_337, *a))
            .chain(second_chain.signer_addresses.iter().map(|a| (SECOND, *a)))
            .collect();
        all.sort();
        all
    };
    assert_eq!(
        lanes.keys().copied().collect::<Vec<_>>(),
        expected,
        "every lane of both chains took work"
    );
    let second_node = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_reqwest(
            http_client(),
            second.url.parse().unwrap_or_else(|e| panic!("{e}")),
        )
        .root()
        .clone();
    for ((chain, lane), nonces) in &mut lanes {
        nonces.sort_unstable();
        let count = nonces.len() as u64;
        assert_eq!(
            nonces,
            &(0..count).collect::<Vec<_>>(),
            "{chain}/{lane}: no gap"
        );
        let (own, other) = if *chain == SECOND {
            (&second_node, &stack.node)
        } else {
            (&stack.node, &second_node)
        };
        let mined = |node: &alloy::providers::RootProvider| {
            let node = node.clone();
            let lane = *lane;
            async move {
                node.get_transaction_count(lane)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        assert_eq!(
            mined(own).await,
            count,
            "{chain}/{lane}: each call mined once"
        );
        assert_eq!(
            mined(other).await,
            0,
            "{chain}/{lane}: nothing on the other chain"
        );
    }
    // `/health` shows both chains, the default first, each with its two lanes.
    let (_, health) = stack.get("/health").await;
    let shown: Vec<(u64, usize)> = health["chains"]
        .as_array()
        .map(|chains| {
            chains
                .iter()
                .map(|c| {
                    (
                        c["chain_id"].as_u64().unwrap_or_default(),
                        c["lanes"].as_array().map_or(0, Vec::len),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(shown, vec![(31_337, 2), (SECOND, 2)], "{health}");
    stack.stop().await;
}
