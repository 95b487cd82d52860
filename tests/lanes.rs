//! Lanes: several keys on one chain. A burst spreads over them with no nonce gap on any, and a
//! lane the watchdog finds underfunded takes no new work.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use devstack::RunnerOptions;
use futures::StreamExt;
use integration_tests::{ADD_WEIGHT, TestStack, add_weight_data, poll_until};
use tx_shared::lanes::LaneState;
use tx_shared::ports::{Account, NonceCounter};

fn two_lanes() -> RunnerOptions {
    RunnerOptions {
        lanes: 2,
        // The watchdog runs often, so lanes are reported soon.
        sweep_interval: Some(Duration::from_secs(1)),
        ..RunnerOptions::default()
    }
}

async fn submit_burst(stack: &TestStack, count: u64, byte: u8) -> Vec<String> {
    futures::stream::iter(0..count)
        .map(|i| async move {
            stack
                .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(byte), i))
                .await
        })
        .buffer_unordered(10)
        .collect()
        .await
}

/// Each transaction confirmed; their nonces by lane (one chain).
async fn confirmed_by_lane(stack: &TestStack, ids: &[String]) -> BTreeMap<Address, Vec<u64>> {
    integration_tests::confirmed_nonces(stack, ids)
        .await
        .into_iter()
        .map(|((_, lane), nonces)| (lane, nonces))
        .collect()
}

#[tokio::test]
async fn a_burst_spreads_over_two_lanes_with_no_nonce_gap_on_either() {
    let stack = TestStack::start_with("lanes-burst", two_lanes(), 4).await;
    let ids = submit_burst(&stack, 30, 0x41).await;
    let lanes = confirmed_by_lane(&stack, &ids).await;
    assert_eq!(
        lanes.keys().copied().collect::<Vec<_>>(),
        {
            let mut both = stack.provisioned.signer_addresses.clone();
            both.sort();
            both
        },
        "both lanes took work"
    );
    for (lane, nonces) in &lanes {
        let count = nonces.len() as u64;
        assert_eq!(nonces, &(0..count).collect::<Vec<_>>(), "{lane}: no gap");
        let mined = stack
            .node
            .get_transaction_count(*lane)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mined, count, "{lane}: each call mined once");
    }
    stack.stop().await;
}

#[tokio::test]
async fn a_lane_the_watchdog_finds_underfunded_takes_no_new_work() {
    let stack = TestStack::start_with("lanes-underfunded", two_lanes(), 4).await;
    let [_, drained] = stack.provisioned.signer_addresses[..] else {
        panic!("two lanes");
    };
    let _: serde_json::Value = stack
        .node
        .raw_request("anvil_setBalance".into(), (drained, U256::ZERO))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (store, _, _) = stack.adapters();
    let account = Account {
        chain_id: stack.provisioned.chain_id,
        address: drained,
    };
    let reported = poll_until(Duration::from_secs(30), || async {
        store
            .nonce_counter(account)
            .await
            .ok()
            .flatten()
            .and_then(|c| c.lane)
            .is_some_and(|lane| lane.state == LaneState::Underfunded)
    })
    .await;
    assert!(reported, "the watchdog reported the drained lane");
    // Health tells it too, beside the nodes the watchdog probed.
    let (status, health) = stack.get("/health").await;
    assert_eq!(status, 200, "{health}");
    let chain = &health["chains"][0];
    let drained_lane = chain["lanes"]
        .as_array()
        .and_then(|lanes| lanes.iter().find(|l| l["address"] == drained.to_string()))
        .cloned()
        .unwrap_or_else(|| panic!("no drained lane in {health}"));
    assert_eq!(drained_lane["state"], "underfunded", "{health}");
    assert_eq!(drained_lane["balance_wei"], "0", "{health}");
    assert_eq!(chain["nodes"][0]["healthy"], true, "{health}");
    let ids = submit_burst(&stack, 8, 0x42).await;
    let lanes = confirmed_by_lane(&stack, &ids).await;
    assert!(!lanes.contains_key(&drained), "{lanes:?}");
    stack.stop().await;
}
