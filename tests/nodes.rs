//! Several nodes for one chain: a burst goes on when nodes die, hang or serve another chain,
//! and every call runs once.

use std::collections::BTreeSet;
use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::Provider;
use devstack::RunnerOptions;
use futures::StreamExt;
use integration_tests::{ADD_WEIGHT, OwnAnvil, TestStack, add_weight_data, proxy_in_front_of};
use rpc_proxy::ProxyConfig;
use tx_shared::backoff::Backoff;

async fn proxy(upstream: &str) -> rpc_proxy::ProxyHandle {
    proxy_in_front_of(upstream, ProxyConfig::default()).await
}

fn options(node_url: String, more_node_urls: Vec<String>, send_to: usize) -> RunnerOptions {
    RunnerOptions {
        node_url: Some(node_url),
        more_node_urls,
        send_to,
        rpc_timeout: Duration::from_secs(2),
        backoff: Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(4), 12)
            .unwrap_or_else(|e| panic!("{e}")),
        ..RunnerOptions::default()
    }
}

/// Submits `count` calls, `concurrently` at a time, calling `midway` after the first half.
async fn burst(stack: &TestStack, count: u64, byte: u8, midway: impl AsyncFnOnce()) -> Vec<String> {
    let submit = |range: std::ops::Range<u64>| {
        futures::stream::iter(range)
            .map(|i| async move {
                stack
                    .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(byte), i))
                    .await
            })
            .buffer_unordered(8)
            .collect::<Vec<String>>()
    };
    let mut ids = submit(0..count / 2).await;
    midway().await;
    ids.extend(submit(count / 2..count).await);
    ids
}

/// Every transaction confirmed once, at nonces 0..count, and the signer sent exactly that many.
async fn all_confirmed_once(stack: &TestStack, ids: &[String]) {
    let mut nonces = BTreeSet::new();
    for id in ids {
        let tx = stack
            .wait_for_status(id, "confirmed", Duration::from_secs(180))
            .await;
        let history = tx["history"].as_array().cloned().unwrap_or_default();
        assert!(
            history.iter().all(|e| e["event"] != "needs_review"),
            "never reviewed: {tx}"
        );
        nonces.insert(
            tx["nonce"]
                .as_u64()
                .unwrap_or_else(|| panic!("no nonce: {tx}")),
        );
    }
    let count = ids.len() as u64;
    assert_eq!(nonces, (0..count).collect(), "one nonce each, no gaps");
    let sent = stack
        .node
        .get_transaction_count(stack.provisioned.signer_address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sent, count, "each call mined exactly once");
}

#[tokio::test]
async fn a_burst_goes_on_when_one_node_is_killed_and_another_hangs_mid_way() {
    let anvil = integration_tests::rpc_url();
    let (doomed, hanging) = (proxy(&anvil).await, proxy(&anvil).await);
    let stack = TestStack::start_with(
        "nodes-failover",
        options(doomed.url(), vec![hanging.url(), anvil.clone()], 2),
        4,
    )
    .await;
    let ids = burst(&stack, 30, 0x31, async || {
        // Mid-burst: one node goes away for good, another stops answering at all.
        hanging
            .update(|c| {
                c.hang_probability = 1.0;
                c.hang_ms = 600_000;
            })
            .unwrap_or_else(|e| panic!("{e}"));
        doomed.shutdown().await;
    })
    .await;
    all_confirmed_once(&stack, &ids).await;
    assert!(
        hanging.stats().faults.total() > 0,
        "the hanging node must have been asked, and hung: {:?}",
        hanging.stats()
    );
    stack.stop().await;
    hanging.shutdown().await;
}

#[tokio::test]
async fn a_node_serving_another_chain_is_asked_nothing_but_its_chain() {
    let anvil = integration_tests::rpc_url();
    let elsewhere = OwnAnvil::spawn_on_chain(5, &[]).await;
    let watched = proxy(&elsewhere.url).await;
    let stack = TestStack::start_with(
        "nodes-wrong-chain",
        options(watched.url(), vec![anvil.clone()], 2),
        4,
    )
    .await;
    let ids = burst(&stack, 6, 0x32, async || {}).await;
    all_confirmed_once(&stack, &ids).await;
    let asked: Vec<String> = watched.stats().calls_by_method.into_keys().collect();
    assert_eq!(asked, vec!["eth_chainId"], "only its chain was asked");
    stack.stop().await;
    watched.shutdown().await;
}
