//! Several chains from one deployment: a burst across two chains (two anvils with different
//! chain ids, two lanes each) ends with every call mined once on the chain it asked for, and
//! no nonce gap on any lane of either.

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

    let all: Vec<String> = ids.iter().map(|(id, _)| id.clone()).collect();
    let lanes = integration_tests::confirmed_nonces(&stack, &all).await;
    // Each on the chain it asked for.
    for (id, chain) in &ids {
        assert_eq!(stack.transaction(id).await["chain_id"], *chain, "{id}");
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
    for ((chain, lane), nonces) in &lanes {
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

/// A chain's nodes kept in Secrets Manager are read at start-up, checked like a declaration's,
/// and no error shows the secret's value.
#[tokio::test]
async fn nodes_kept_in_a_secret_are_read_at_start_up_and_never_shown() {
    use tx_shared::adapters::secrets::read_chain_nodes;
    use tx_shared::config::Env;
    let sdk = tx_shared::aws::load_config(tx_shared::aws::AwsTimeouts::HANDLER).await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = integration_tests::unique_prefix("nodes-secret");
    let keyed = "https://eth.example/v2/s3cr3t-key";
    let put = |secret: String, value: String| {
        let client = client.clone();
        async move {
            client
                .create_secret()
                .name(secret)
                .secret_string(value)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{}", tx_shared::aws::describe(&e)))
                .version_id
                .unwrap_or_default()
        }
    };
    let good_version = put(
        format!("{name}/good"),
        json!([{ "url": rpc_url(), "label": "primary" }, { "url": keyed, "weight": 2 }])
            .to_string(),
    )
    .await;
    put(
        format!("{name}/bad"),
        format!(r#"[{{"url": "{keyed}", "weight": 0}}, {{"url": "{keyed}"}}]"#),
    )
    .await;
    put(format!("{name}/garbled"), format!(r#"[{{"url": "{keyed}""#)).await;
    let chains_with = |secret: &str| {
        Env::from_pairs([(
            "CHAINS",
            json!([{ "id": 31_337, "nodes_secret": secret, "send_to": 2, "keys": ["k"] }])
                .to_string(),
        )])
        .chains()
        .unwrap_or_else(|e| panic!("{e}"))
    };

    let mut chains = chains_with(&format!("{name}/good"));
    read_chain_nodes(&mut chains, &client)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let nodes = chains
        .default_chain()
        .nodes()
        .unwrap_or_else(|e| panic!("{e}"));
    let labels: Vec<(String, u32)> = nodes
        .iter()
        .map(|(label, weight, _)| (label, weight))
        .collect();
    assert_eq!(
        labels,
        vec![("primary".to_owned(), 1), ("node-2".to_owned(), 2)]
    );
    assert_eq!(nodes.send_to, 2);
    // The nodes as read serve the chain: a pool connects and asks them.
    let pool = tx_shared::adapters::pool::NodePool::connect(31_337, nodes, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!format!("{pool:?}").contains("s3cr3t"));

    // A version the declaration names is the one read; an unknown one is an error.
    for (version, found) in [
        (good_version, true),
        ("00000000-0000-0000-0000-000000000000".to_owned(), false),
    ] {
        let mut chains = chains_with(&format!("{name}/good"));
        for chain in chains.iter_mut() {
            if let tx_shared::config::ChainNodes::InSecret { version: v, .. } = &mut chain.nodes {
                *v = Some(version.clone());
            }
        }
        let read = read_chain_nodes(&mut chains, &client).await;
        assert_eq!(read.is_ok(), found, "{version}: {read:?}");
    }

    for (secret, expected) in [
        ("missing", "can't be read"),
        ("bad", "weight"),
        ("garbled", "column"),
    ] {
        let mut chains = chains_with(&format!("{name}/{secret}"));
        let error = read_chain_nodes(&mut chains, &client)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("chain 31337: `nodes_secret`"),
            "{secret}: {error}"
        );
        assert!(error.contains(expected), "{secret}: {error}");
        assert!(!error.contains("s3cr3t"), "{secret}: {error}");
    }
}
