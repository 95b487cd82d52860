//! The admin retry against the emulator and anvil: authentication, every decision it makes, and
//! the double-retry race.

use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::Provider;
use devstack::RunnerOptions;
use integration_tests::{ADD_WEIGHT, TestStack, add_weight_data};
use rpc_proxy::{ProxyConfig, ProxyHandle};
use serde_json::Value;
use tx_shared::backoff::Backoff;

const TOKEN: &str = "test-admin-token";

/// A stack whose node refuses every `eth_sendRawTransaction` until healed, so transactions end
/// `needs_review` quickly.
async fn failing_stack(test: &str) -> (TestStack, ProxyHandle) {
    let proxy = integration_tests::refusing_sends(&integration_tests::rpc_url()).await;
    let options = RunnerOptions {
        node_url: Some(proxy.url()),
        backoff: Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(2), 2)
            .unwrap_or_else(|e| panic!("{e}")),
        admin_token: TOKEN.into(),
        ..RunnerOptions::default()
    };
    (TestStack::start_with(test, options, 2).await, proxy)
}

async fn heal(proxy: &ProxyHandle) {
    proxy
        .set_config(ProxyConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn retry(stack: &TestStack, id: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = stack
        .http
        .post(format!("{}/admin/transactions/{id}/retry", stack.api_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn retry_entries(tx: &Value) -> Vec<String> {
    tx["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter(|e| e["event"] == "retry_requested")
                .filter_map(|e| e["detail"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_needs_review_transaction_is_resent_with_its_open_nonce_and_confirms_once_even_when_retried_twice()
 {
    let (stack, proxy) = failing_stack("retry-resend").await;
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x51), 1))
        .await;
    let failed = stack
        .wait_for_status(&id, "needs_review", Duration::from_secs(60))
        .await;

    // No credentials, wrong credentials: refused, and nothing changes.
    let (status, body) = retry(&stack, &id, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, body) = retry(&stack, &id, Some("wrong")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let after = stack.transaction(&id).await;
    assert_eq!(after["status"], "needs_review", "nothing changed: {after}");
    assert!(
        retry_entries(&after).is_empty(),
        "no retry was recorded: {after}"
    );

    heal(&proxy).await;
    // Two retries at once: one re-sends, the other at most skips a wait; one broadcast.
    let (first, second) = tokio::join!(
        retry(&stack, &id, Some(TOKEN)),
        retry(&stack, &id, Some(TOKEN))
    );
    let statuses = [first.0, second.0];
    assert!(statuses.contains(&200), "{first:?} {second:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{first:?} {second:?}"
    );
    let actions: Vec<&str> = [&first, &second]
        .iter()
        .filter_map(|(_, b)| b["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"resend_signed"),
        "the nonce is open: {actions:?}"
    );

    let done = stack
        .wait_for_status(&id, "confirmed", Duration::from_secs(60))
        .await;
    assert_eq!(done["tx_hash"], failed["tx_hash"], "the same signed bytes");
    assert_eq!(done["nonce"], failed["nonce"]);
    let who = retry_entries(&done);
    assert!(
        !who.is_empty() && who.iter().all(|d| d.starts_with("by admin (bearer token)")),
        "{who:?}"
    );
    let mined = stack
        .node
        .get_transaction_count(stack.provisioned.signer_address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mined, 1, "one broadcast, however many retries");

    // Confirmed: nothing to retry.
    let (status, body) = retry(&stack, &id, Some(TOKEN)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("retry_refused")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already confirmed"))
    );
    stack.stop().await;
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_whose_nonce_is_gone_is_signed_again_with_a_fresh_nonce() {
    let (stack, proxy) = failing_stack("retry-resign").await;
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x52), 1))
        .await;
    let failed = stack
        .wait_for_status(&id, "needs_review", Duration::from_secs(60))
        .await;
    assert_eq!(failed["nonce"], 0);

    // Its nonce is consumed by something else (here: a filler sent straight to anvil).
    let (store, key, node) = stack.adapters();
    let tx_id = id.parse().unwrap_or_else(|e| panic!("{e}"));
    tx_shared::nonce_filler::fill_for(&store, &node, &key, stack.provisioned.chain_id, tx_id, 0)
        .await;

    heal(&proxy).await;
    // The retry asks no node: the bytes go back to the broadcaster, which finds their nonce
    // taken by another transaction and, once that is two blocks deep, signs again.
    let (status, body) = retry(&stack, &id, Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"], "resend_signed");
    for _ in 0..4 {
        integration_tests::rpc(
            &integration_tests::http_client(),
            &integration_tests::rpc_url(),
            "evm_mine",
            serde_json::json!([]),
        )
        .await
        .unwrap_or_else(|e| panic!("evm_mine: {e}"));
    }
    let done = stack
        .wait_for_status(&id, "confirmed", Duration::from_secs(60))
        .await;
    assert_eq!(done["nonce"], 1, "a fresh nonce: {done}");
    assert_ne!(done["tx_hash"], failed["tx_hash"], "a fresh signature");
    let events: Vec<&str> = done["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert!(events.contains(&"nonce_lost"), "{done}");
    let hashes = done["hashes"].as_array().cloned().unwrap_or_default();
    assert!(
        hashes.contains(&failed["tx_hash"]),
        "the old hash stays in the history: {done}"
    );
    stack.stop().await;
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_goes_to_the_front_of_the_line_and_in_flight_ones_are_refused() {
    // API only: the test looks at the queues itself.
    let options = RunnerOptions {
        admin_token: TOKEN.into(),
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_with("retry-front", options, 0).await;
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x53), 1))
        .await;
    let (status, body) = retry(&stack, &id, Some(TOKEN)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("retry_refused")),
        "received is in flight: {body}"
    );
    let (status, _) = retry(&stack, "01900000-0000-7000-8000-000000000000", Some(TOKEN)).await;
    assert_eq!(status, 404);

    // Make it `needs_review` as the dead-letter consumer would, then retry it.
    let store = tx_shared::adapters::dynamo::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &stack.provisioned.table_name,
    );
    tx_shared::ports::Transitions::record_needs_review(
        &store,
        id.parse().unwrap_or_else(|e| panic!("{e}")),
        "test",
        0,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = retry(&stack, &id, Some(TOKEN)).await;
    assert_eq!(
        (status, body["action"].as_str()),
        (200, Some("resign_fresh_nonce")),
        "{body}"
    );

    // The re-drive sits in the priority queue, not behind the main queue's backlog.
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let priority = sqs
        .receive_message()
        .queue_url(&stack.provisioned.sign_priority_queue_url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .messages
        .unwrap_or_default();
    assert_eq!(priority.len(), 1);
    assert!(priority[0].body().unwrap_or_default().contains(&id));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retrying_transaction_skips_its_wait_and_a_reverted_one_is_signed_again() {
    use integration_tests::OwnAnvil;

    let anvil = OwnAnvil::spawn(&[]).await;
    let proxy = integration_tests::refusing_sends(&anvil.url).await;
    let options = RunnerOptions {
        node_url: Some(proxy.url()),
        // A long wait that only a skip can cut short.
        backoff: Backoff::new(Duration::from_secs(600), 2.0, Duration::from_secs(600), 5)
            .unwrap_or_else(|e| panic!("{e}")),
        admin_token: TOKEN.into(),
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_on("retry-skip", options, 2, &anvil.url).await;

    let waiting = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x54), 1))
        .await;
    let retrying = stack
        .wait_for_status(&waiting, "retrying", Duration::from_secs(30))
        .await;
    assert!(retrying["next_attempt_at"].is_string(), "{retrying}");
    heal(&proxy).await;
    let (status, body) = retry(&stack, &waiting, Some(TOKEN)).await;
    assert_eq!(
        (status, body["action"].as_str()),
        (200, Some("skip_wait")),
        "{body}"
    );
    stack
        .wait_for_status(&waiting, "confirmed", Duration::from_secs(30))
        .await;

    // A call that reverts ends `reverted`; once the target is fixed, a retry signs it again.
    let target = stack.provisioned.target_contract.to_string();
    anvil
        .call("anvil_setCode", serde_json::json!([target, "0x60006000fd"]))
        .await;
    let reverting = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x54), 2))
        .await;
    stack
        .wait_for_status(&reverting, "reverted", Duration::from_secs(30))
        .await;
    anvil
        .call("anvil_setCode", serde_json::json!([target, "0x00"]))
        .await;
    let (status, body) = retry(&stack, &reverting, Some(TOKEN)).await;
    assert_eq!(
        (status, body["action"].as_str()),
        (200, Some("resign_fresh_nonce")),
        "{body}"
    );
    let done = stack
        .wait_for_status(&reverting, "confirmed", Duration::from_secs(30))
        .await;
    assert_eq!(done["nonce"], 1, "{done}");
    stack.stop().await;
    proxy.shutdown().await;
}
