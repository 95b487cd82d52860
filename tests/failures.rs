//! A 200 is a promise: every failure below is injected for real (the fault-injecting proxy in
//! front of anvil, anvil's own cheat codes, a lost message), and every transaction still ends
//! where it must.

use std::collections::BTreeSet;
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use devstack::RunnerOptions;
use futures::StreamExt;
use integration_tests::{
    ADD_WEIGHT, OwnAnvil, TestStack, add_weight_data, poll_until, proxy_in_front_of,
};
use rpc_proxy::ProxyConfig;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tx_shared::backoff::Backoff;

fn backoff(base: u64, cap: u64, attempts: u32) -> Backoff {
    Backoff::new(
        Duration::from_secs(base),
        2.0,
        Duration::from_secs(cap),
        attempts,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Submits an `add_weight` call and plays the signer up to its nonce: claims it and takes the
/// account's first nonce, 0. Returns its id, as text and parsed.
async fn first_nonce_taken(stack: &TestStack, byte: u8) -> (String, tx_shared::domain::TxId) {
    use tx_shared::ports::{Account, Claim, NonceCounter, NonceReservation, SigningLease};
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(byte), 1))
        .await;
    let tx_id = id.parse().unwrap_or_else(|e| panic!("{e}"));
    let (store, _, _) = stack.adapters();
    let account = Account {
        chain_id: stack.provisioned.chain_id,
        address: stack.provisioned.signer_address,
    };
    let Ok(Claim::Granted { token, .. }) = store
        .claim_for_signing(tx_id, Duration::from_secs(60))
        .await
    else {
        panic!("could not claim the transaction");
    };
    store
        .seed_nonce(account, 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.reserve_nonce(tx_id, &token, account).await,
        Ok(NonceReservation::Assigned(0))
    );
    (id, tx_id)
}

fn history_events(tx: &Value) -> Vec<String> {
    tx["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|e| e["event"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn parse_time(value: &Value) -> OffsetDateTime {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The challenge's node, time-scaled a thousandfold: 95% of calls take 20–30 ms, 1% take
/// 30–45 ms, the rest fail (HTTP 5xx, JSON-RPC errors, hangs past the client timeout, dropped
/// connections).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_transactions_through_the_challenge_node_all_confirm_once() {
    let anvil = integration_tests::rpc_url();
    let node = ProxyConfig {
        hang_ms: 2_000_000, // held 2 s: past the 1 s client timeout below
        seed: Some(7),
        ..ProxyConfig::challenge().with_time_scale(0.001)
    };
    let proxy = proxy_in_front_of(&anvil, node).await;
    let options = RunnerOptions {
        node_url: Some(proxy.url()),
        // Scaled, the node's slowest answers take 45 ms; a loaded 2-core machine adds more.
        rpc_timeout: Duration::from_secs(1),
        backoff: backoff(1, 4, 12),
        // Lambda's deadlines, scaled as infra/main.tf derives them from the node's timeout
        // (calls x timeout + a margin, the margin scaled down too): a record that can't finish
        // is returned alone before its invocation ends.
        timeouts: devstack::FunctionTimeouts {
            signer: Duration::from_secs(signer::NODE_CALLS_PER_RECORD + 3),
            broadcaster: Duration::from_secs(broadcaster::NODE_CALLS_PER_RECORD + 3),
            dead_letter: Duration::from_secs(5),
            webhooks: Duration::from_secs(15),
        },
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_with("challenge", options, 4).await;

    let ids: Vec<String> = futures::stream::iter(0..300u64)
        .map(|i| {
            let stack = &stack;
            async move {
                stack
                    .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x77), i))
                    .await
            }
        })
        .buffer_unordered(25)
        .collect()
        .await;

    let mut nonces = Vec::new();
    let mut included = BTreeSet::new();
    for id in &ids {
        let tx = stack
            .wait_for_status(id, "confirmed", Duration::from_secs(300))
            .await;
        nonces.push(
            tx["nonce"]
                .as_u64()
                .unwrap_or_else(|| panic!("no nonce: {tx}")),
        );
        let hashes = tx["hashes"].as_array().cloned().unwrap_or_default();
        let replaced = history_events(&tx)
            .iter()
            .filter(|e| *e == "replaced")
            .count();
        assert_eq!(
            hashes.len(),
            1 + replaced,
            "a second payload only as a recorded replacement: {tx}"
        );
        included.insert(tx["tx_hash"].as_str().unwrap_or_default().to_owned());
    }
    nonces.sort_unstable();
    assert_eq!(
        nonces,
        (0..300).collect::<Vec<u64>>(),
        "one nonce each, distinct, no gaps"
    );
    assert_eq!(included.len(), 300);
    let sent = stack
        .node
        .get_transaction_count(stack.provisioned.signer_address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sent, 300,
        "exactly 300 transactions from the signer were mined"
    );
    let stats = proxy.stats();
    assert!(
        stats.faults.total() > 0,
        "the node must actually have failed: {stats:?}"
    );
    stack.stop().await;
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_always_failing_node_ends_in_review_with_growing_jittered_delays_and_a_dead_letter() {
    let proxy = integration_tests::refusing_sends(&integration_tests::rpc_url()).await;
    let attempts = 5;
    let options = RunnerOptions {
        node_url: Some(proxy.url()),
        backoff: backoff(1, 16, attempts),
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_with("alwaysfail", options, 2).await;
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x78), 1))
        .await;

    let tx = stack
        .wait_for_status(&id, "needs_review", Duration::from_secs(90))
        .await;
    assert!(
        tx["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("gave up after 5 attempts")),
        "{tx}"
    );
    let retries: Vec<&Value> = tx["history"]
        .as_array()
        .map(|h| h.iter().filter(|e| e["event"] == "retry").collect())
        .unwrap_or_default();
    assert_eq!(
        retries.len(),
        attempts as usize - 1,
        "one retry per failed delivery but the last: {tx}"
    );
    let mut previous_ceiling = 0;
    for (i, retry) in retries.iter().enumerate() {
        assert_eq!(retry["attempt"], i + 1);
        let ceiling = retry["backoff_ceiling_ms"].as_u64().unwrap_or_default();
        assert!(ceiling > previous_ceiling, "ceilings grow: {retries:?}");
        previous_ceiling = ceiling;
        let delay = parse_time(&retry["next_attempt_at"]) - parse_time(&retry["at"]);
        assert!(
            delay <= Duration::from_millis(ceiling) + Duration::from_secs(1),
            "delay within its ceiling: {retry}"
        );
        // The next delivery came no earlier than scheduled.
        if let Some(next) = retries.get(i + 1) {
            let waited = parse_time(&next["at"]) - parse_time(&retry["at"]);
            assert!(
                waited + Duration::from_millis(500) >= delay,
                "redelivered before its delay: {retry} {next}"
            );
        }
    }
    assert!(proxy.stats().faults.http_5xx >= u64::from(attempts));

    // Its message sits in the dead-letter queue, and the dead-letter consumer has seen it.
    let flagged = stack
        .wait_until(&id, Duration::from_secs(60), |tx| {
            tx["dead_lettered"] == true
        })
        .await;
    assert!(
        history_events(&flagged).contains(&"dead_lettered".to_owned()),
        "{flagged}"
    );
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let counts = sqs
        .get_queue_attributes()
        .queue_url(&stack.provisioned.broadcast_dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .attributes
        .unwrap_or_default();
    let in_dlq: u64 = counts.values().filter_map(|v| v.parse::<u64>().ok()).sum();
    assert_eq!(
        in_dlq, 1,
        "the message is kept in the dead-letter queue: {counts:?}"
    );
    stack.stop().await;
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_dropped_from_the_pool_is_sent_again_with_the_same_bytes() {
    let anvil = OwnAnvil::spawn(&["--no-mining"]).await;
    let stack = TestStack::start_on("dropped", RunnerOptions::default(), 2, &anvil.url).await;
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x79), 1))
        .await;
    let tx = stack
        .wait_for_status(&id, "broadcast", Duration::from_secs(30))
        .await;
    let hash = tx["tx_hash"].as_str().unwrap_or_default().to_owned();

    anvil.call("anvil_dropTransaction", json!([hash])).await;
    let dropped = anvil.call("eth_getTransactionByHash", json!([hash])).await;
    assert!(dropped.is_null(), "anvil dropped it: {dropped}");

    // Mine as a chain would; the broadcaster notices the drop and re-sends.
    let done = mine_until(&anvil, &stack, &id, "confirmed").await;
    assert_eq!(
        done["tx_hash"], hash,
        "the identical signed bytes were re-sent"
    );
    assert_eq!(done["hashes"].as_array().map(Vec::len), Some(1));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_stuck_below_a_base_fee_spike_is_replaced_with_higher_fees() {
    let anvil = OwnAnvil::spawn(&["--no-mining"]).await;
    let stack = TestStack::start_on("basefee", RunnerOptions::default(), 2, &anvil.url).await;
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x7b), 1))
        .await;
    let first = stack
        .wait_for_status(&id, "broadcast", Duration::from_secs(30))
        .await;
    let first_hash = first["tx_hash"].as_str().unwrap_or_default().to_owned();

    // The next block's base fee jumps 100-fold: our fee cap no longer covers it.
    let block = anvil
        .call("eth_getBlockByNumber", json!(["latest", false]))
        .await;
    let base_fee = u128::from_str_radix(
        block["baseFeePerGas"]
            .as_str()
            .unwrap_or("0x0")
            .trim_start_matches("0x"),
        16,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    anvil
        .call(
            "anvil_setNextBlockBaseFeePerGas",
            json!([format!("{:#x}", base_fee.max(1) * 100)]),
        )
        .await;
    anvil.mine().await;
    let receipt = anvil
        .call("eth_getTransactionReceipt", json!([first_hash]))
        .await;
    assert!(
        receipt.is_null(),
        "not includable under the spike: {receipt}"
    );

    let done = mine_until(&anvil, &stack, &id, "confirmed").await;
    assert!(
        history_events(&done).contains(&"replaced".to_owned()),
        "{done}"
    );
    let hashes = done["hashes"].as_array().cloned().unwrap_or_default();
    assert!(hashes.len() >= 2, "{done}");
    assert_eq!(hashes[0], first_hash);
    assert_ne!(
        done["tx_hash"], first_hash,
        "confirmed through the replacement"
    );
    assert_eq!(done["nonce"], first["nonce"], "at the same nonce");
    let mined: B256 = done["tx_hash"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let mined_tx = stack
        .node
        .get_transaction_by_hash(mined)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("replacement not on chain"));
    let fee_cap = alloy::consensus::Transaction::max_fee_per_gas(&mined_tx);
    let old_fee_cap: u128 = first["history"][0]["detail"]
        .as_str()
        .and_then(|d| d.split("max fee ").nth(1))
        .and_then(|d| d.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fee in the history: {first}"));
    assert!(
        fee_cap * 100 >= old_fee_cap * 110,
        "bumped by at least 10%: {old_fee_cap} -> {fee_cap}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reverting_target_ends_reverted_and_is_not_retried() {
    let anvil = OwnAnvil::spawn(&["--no-mining"]).await;
    let stack = TestStack::start_on("revert", RunnerOptions::default(), 2, &anvil.url).await;
    let target = stack.provisioned.target_contract.to_string();
    let revert_code = "0x60006000fd"; // PUSH1 0 PUSH1 0 REVERT

    // Reverts after it was sent: mined with a failed receipt.
    let sent = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x7c), 1))
        .await;
    stack
        .wait_for_status(&sent, "broadcast", Duration::from_secs(30))
        .await;
    anvil
        .call("anvil_setCode", json!([target, revert_code]))
        .await;
    let reverted = mine_until(&anvil, &stack, &sent, "reverted").await;
    assert!(reverted["block_number"].is_u64(), "{reverted}");

    // Reverts already when estimated: never sent, no nonce taken.
    let unsent = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x7c), 2))
        .await;
    let tx = stack
        .wait_for_status(&unsent, "reverted", Duration::from_secs(30))
        .await;
    assert!(tx["nonce"].is_null(), "{tx}");
    assert!(
        tx["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("revert")),
        "{tx}"
    );
    assert_eq!(tx["attempts"], 0, "not retried: {tx}");

    // Nothing more is scheduled for either: final means final.
    for id in [&sent, &unsent] {
        let tx = stack.transaction(id).await;
        assert!(tx["next_attempt_at"].is_null(), "{tx}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweeper_delivers_a_transaction_whose_message_was_lost() {
    // API only: the request is stored and published, then its message is lost.
    let mut stack = TestStack::start_with("sweep", RunnerOptions::default(), 0).await;
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x7d), 1))
        .await;
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let mut lost = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while lost == 0 && tokio::time::Instant::now() < deadline {
        let messages = sqs
            .receive_message()
            .queue_url(&stack.provisioned.sign_queue_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .messages
            .unwrap_or_default();
        for message in messages {
            sqs.delete_message()
                .queue_url(&stack.provisioned.sign_queue_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e:?}"));
            lost += 1;
        }
    }
    assert_eq!(lost, 1, "the request's message was published, then lost");

    // Now the consumers and a sweeper with a short grace period run.
    stack
        .restart(RunnerOptions {
            pollers_per_queue: 2,
            sweep_interval: Some(Duration::from_secs(1)),
            sweep_grace: Duration::from_secs(2),
            ..RunnerOptions::default()
        })
        .await;
    let tx = stack
        .wait_for_status(&id, "confirmed", Duration::from_secs(60))
        .await;
    assert!(history_events(&tx).contains(&"swept".to_owned()), "{tx}");
    let count = stack
        .node
        .get_transaction_count(stack.provisioned.signer_address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count, 1);
    stack.stop().await;
}

/// Mines a block every poll until the transaction reaches `status`, a final one (so it is
/// still there when read back).
async fn mine_until(anvil: &OwnAnvil, stack: &TestStack, id: &str, status: &str) -> Value {
    let reached = poll_until(Duration::from_secs(60), || async {
        anvil.mine().await;
        stack.transaction(id).await["status"] == status
    })
    .await;
    let tx = stack.transaction(id).await;
    assert!(reached, "{id} did not reach `{status}`: {tx}");
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nonce_that_will_never_be_sent_is_filled_so_later_nonces_move() {
    use tx_shared::ports::Transitions;

    // API only: this test plays a signer that takes a nonce and then fails for good.
    let mut stack = TestStack::start_with("filler", RunnerOptions::default(), 0).await;
    let (stuck, stuck_id) = first_nonce_taken(&stack, 0x7e).await;
    let (store, key, node) = stack.adapters();
    let account = tx_shared::ports::Account {
        chain_id: stack.provisioned.chain_id,
        address: stack.provisioned.signer_address,
    };
    store
        .record_needs_review(stuck_id, "signing key disabled (simulated)", u32::MAX)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    tx_shared::nonce_filler::fill_for(&store, &node, &key, account.chain_id, stuck_id, 0).await;
    let filled = stack.transaction(&stuck).await;
    assert!(
        history_events(&filled).contains(&"nonce_filled".to_owned()),
        "{filled}"
    );
    assert_eq!(filled["status"], "needs_review");

    // The next transaction takes nonce 1 and is not stuck behind the gap.
    stack
        .restart(RunnerOptions {
            pollers_per_queue: 2,
            ..RunnerOptions::default()
        })
        .await;
    let next = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x7e), 2))
        .await;
    let done = stack
        .wait_for_status(&next, "confirmed", Duration::from_secs(60))
        .await;
    assert_eq!(done["nonce"], 1, "{done}");
    let mined = stack
        .node
        .get_transaction_count(stack.provisioned.signer_address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mined, 2, "the filler and the next transaction");
    // The stuck one's own message found it under review and left it alone.
    assert_eq!(stack.transaction(&stuck).await["status"], "needs_review");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nonce_taken_by_another_sender_is_signed_again_and_confirmed() {
    let mut stack = TestStack::start_with("foreign", RunnerOptions::default(), 2).await;
    let first = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x61), 1))
        .await;
    stack
        .wait_for_status(&first, "confirmed", Duration::from_secs(60))
        .await;
    // The consumers stop; the next request waits for them, and the counter says nonce 1.
    stack
        .restart(RunnerOptions {
            pollers_per_queue: 0,
            ..RunnerOptions::default()
        })
        .await;
    let second = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x61), 2))
        .await;
    // Meanwhile another sender uses nonces 1 and 2 of the key.
    let signer = stack.provisioned.signer_address.to_string();
    integration_tests::rpc(
        &integration_tests::http_client(),
        &integration_tests::rpc_url(),
        "anvil_setNonce",
        json!([signer, "0x3"]),
    )
    .await
    .unwrap_or_else(|e| panic!("anvil_setNonce: {e}"));
    // A few blocks on: the nonces are used deep enough to tell who used them.
    for _ in 0..4 {
        integration_tests::rpc(
            &integration_tests::http_client(),
            &integration_tests::rpc_url(),
            "evm_mine",
            json!([]),
        )
        .await
        .unwrap_or_else(|e| panic!("evm_mine: {e}"));
    }
    // No watchdog here (it would raise the counter before the signer takes nonce 1): this is
    // the broadcaster's own answer to "nonce too low".
    stack
        .restart(RunnerOptions {
            pollers_per_queue: 2,
            sweep_interval: None,
            ..RunnerOptions::default()
        })
        .await;
    let done = stack
        .wait_for_status(&second, "confirmed", Duration::from_secs(90))
        .await;
    assert_eq!(
        done["nonce"], 3,
        "signed again at the chain's next nonce: {done}"
    );
    assert!(
        history_events(&done).contains(&"nonce_lost".to_owned()),
        "{done}"
    );
    assert_eq!(
        done["hashes"].as_array().map(Vec::len),
        Some(2),
        "the abandoned attempt's hash is kept: {done}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmed_transaction_reorganised_away_is_sent_again_and_confirmed() {
    let anvil = OwnAnvil::spawn(&[]).await;
    let options = RunnerOptions {
        sweep_interval: Some(Duration::from_secs(1)),
        sweep_grace: Duration::from_secs(1),
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_on("reorg", options, 2, &anvil.url).await;
    // The chain as it was before the transaction: the block that will include it is the one
    // the reorganisation takes away.
    let snapshot = anvil.call("evm_snapshot", json!([])).await;
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x62), 1))
        .await;
    let confirmed = stack
        .wait_for_status(&id, "confirmed", Duration::from_secs(60))
        .await;
    let hash = confirmed["tx_hash"].as_str().unwrap_or_default().to_owned();
    anvil.call("evm_revert", json!([snapshot])).await;
    let gone = anvil.call("eth_getTransactionReceipt", json!([hash])).await;
    assert!(gone.is_null(), "the reorganisation took it: {gone}");
    // The new chain grows past the height of the block that is gone.
    for _ in 0..2 {
        anvil.mine().await;
    }

    // The watchdog sees a confirmed transaction whose nonce the chain has not mined; the
    // broadcaster sends the same bytes again, and it is confirmed on the chain as it is now.
    let again = stack
        .wait_until(&id, Duration::from_secs(90), |tx| {
            tx["status"] == "confirmed" && history_events(tx).contains(&"reorged".to_owned())
        })
        .await;
    assert_eq!(
        again["tx_hash"], hash,
        "the identical signed bytes: {again}"
    );
    let receipt = anvil.call("eth_getTransactionReceipt", json!([hash])).await;
    assert!(!receipt.is_null(), "on the chain again: {again}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nonce_nobody_holds_is_filled_by_the_watchdog_so_later_nonces_move() {
    // API only: this test plays a signer that takes nonce 0 and loses it, and no filler.
    let mut stack = TestStack::start_with("hole", RunnerOptions::default(), 0).await;
    let (lost, lost_id) = first_nonce_taken(&stack, 0x63).await;
    let (store, _, _) = stack.adapters();
    // An operator's retry of it (reviewed, never signed) forgets nonce 0: nobody holds it.
    use tx_shared::ports::Transitions;
    store
        .record_needs_review(lost_id, "signing key disabled (simulated)", u32::MAX)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .record_admin_retry(
            lost_id,
            tx_shared::domain::Status::NeedsReview,
            tx_shared::ports::AdminRetry::ResignFresh,
            "ops",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The pipeline and the watchdog run: the retried transaction takes nonce 1 and would wait
    // behind the hole at 0 forever.
    stack
        .restart(RunnerOptions {
            pollers_per_queue: 2,
            sweep_interval: Some(Duration::from_secs(1)),
            sweep_grace: Duration::from_secs(1),
            ..RunnerOptions::default()
        })
        .await;
    let done = stack
        .wait_for_status(&lost, "confirmed", Duration::from_secs(90))
        .await;
    assert_eq!(done["nonce"], 1, "{done}");
    let mined = stack
        .node
        .get_transaction_count(stack.provisioned.signer_address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        mined, 2,
        "the watchdog's filler at 0, then the transaction at 1"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_lies_about_receipts_confirms_nothing_until_it_tells_the_truth() {
    let proxy = proxy_in_front_of(
        &integration_tests::rpc_url(),
        ProxyConfig {
            forge_receipt_block_hash: true,
            ..ProxyConfig::default()
        },
    )
    .await;
    let options = RunnerOptions {
        node_url: Some(proxy.url()),
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_with("lying", options, 2).await;
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x64), 1))
        .await;
    // Mined, and the node keeps answering its receipt from a block that is not the chain's.
    let lied = poll_until(Duration::from_secs(30), || async {
        proxy.stats().forged_receipts >= 3 || stack.transaction(&id).await["status"] == "confirmed"
    })
    .await;
    assert!(
        lied,
        "the proxy never forged a receipt: {:?}",
        proxy.stats()
    );
    let meanwhile = stack.transaction(&id).await;
    assert_eq!(
        meanwhile["status"], "broadcast",
        "confirmed on a receipt from a block that is not the chain's: {meanwhile}"
    );

    proxy
        .update(|c| c.forge_receipt_block_hash = false)
        .unwrap_or_else(|e| panic!("{e}"));
    let done = stack
        .wait_for_status(&id, "confirmed", Duration::from_secs(30))
        .await;
    let receipt = integration_tests::rpc(
        &integration_tests::http_client(),
        &integration_tests::rpc_url(),
        "eth_getTransactionReceipt",
        json!([done["tx_hash"]]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let block = u64::from_str_radix(
        receipt["blockNumber"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done["block_number"], block, "the chain's own block: {done}");
    stack.stop().await;
    proxy.shutdown().await;
}
