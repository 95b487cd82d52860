//! End to end: HTTP request → DynamoDB → SNS → SQS → signer (KMS) → SQS → broadcaster → anvil.

use std::collections::BTreeSet;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::Provider;
use futures::future::join_all;
use integration_tests::{ADD_WEIGHT, TestStack, add_weight_data};

const MINED_WITHIN: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_post_becomes_a_mined_transaction_from_the_kms_address_to_the_target() {
    let stack = TestStack::start("mined").await;
    let data = add_weight_data(Address::repeat_byte(0x11), 42);

    let (status, accepted) = stack.post(ADD_WEIGHT, &data, None).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["status"], "received");
    let id = accepted["transaction_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let tx = stack.wait_for_status(&id, "confirmed", MINED_WITHIN).await;
    let hash: B256 = tx["tx_hash"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {tx}"));
    let mined = stack
        .node
        .get_transaction_by_hash(hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{hash} is not on chain"));
    let receipt = stack
        .node
        .get_transaction_receipt(hash)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{hash} has no receipt"));
    assert!(receipt.status(), "the call must succeed");
    assert_eq!(
        receipt.from, stack.provisioned.signer_address,
        "signed by the KMS key"
    );
    assert_eq!(receipt.to, Some(stack.provisioned.target_contract));
    let input: &Bytes = alloy::consensus::Transaction::input(&mined);
    assert_eq!(
        input.to_string(),
        data,
        "input is exactly the submitted data"
    );
    assert_eq!(alloy::consensus::Transaction::nonce(&mined), 0);
    assert_eq!(mined.inner.signer(), stack.provisioned.signer_address);

    // The record tells the whole story.
    assert_eq!(tx["message_type"], ADD_WEIGHT);
    assert_eq!(tx["function_signature"], "add_weight(address,uint256)");
    assert_eq!(tx["data"], data);
    assert_eq!(tx["nonce"], 0);
    assert_eq!(
        tx["signer_address"],
        stack.provisioned.signer_address.to_string()
    );
    assert_eq!(tx["to"], stack.provisioned.target_contract.to_string());
    assert_eq!(tx["block_number"], receipt.block_number.unwrap_or_default());
    assert!(tx["created_at"].is_string() && tx["updated_at"].is_string());

    // Health names the same signer and chain.
    let (status, health) = stack.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(
        health["signer_address"],
        stack.provisioned.signer_address.to_string()
    );
    assert_eq!(health["chain_id"], stack.provisioned.chain_id);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_posts_get_fifty_distinct_gap_free_nonces_and_all_are_mined() {
    let stack = TestStack::start("fifty").await;
    let ids: Vec<String> = join_all((0..50u64).map(|i| {
        let stack = &stack;
        async move {
            stack
                .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x22), i))
                .await
        }
    }))
    .await;
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        50,
        "50 distinct transaction ids"
    );

    let mut nonces = Vec::new();
    let mut hashes = BTreeSet::new();
    for id in &ids {
        let tx = stack
            .wait_for_status(id, "confirmed", Duration::from_secs(180))
            .await;
        nonces.push(
            tx["nonce"]
                .as_u64()
                .unwrap_or_else(|| panic!("no nonce: {tx}")),
        );
        hashes.insert(tx["tx_hash"].as_str().unwrap_or_default().to_owned());
    }
    nonces.sort_unstable();
    assert_eq!(
        nonces,
        (0..50).collect::<Vec<u64>>(),
        "distinct and gap-free"
    );
    assert_eq!(hashes.len(), 50);
    let on_chain = stack
        .node
        .get_transaction_count(stack.provisioned.signer_address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        on_chain, 50,
        "exactly 50 transactions from the signer were mined"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotent_repeat_returns_the_same_id_and_creates_nothing() {
    let stack = TestStack::start("idem").await;
    let data = add_weight_data(Address::repeat_byte(0x33), 7);

    let (first_status, first) = stack.post(ADD_WEIGHT, &data, Some("order-1")).await;
    let (second_status, second) = stack.post(ADD_WEIGHT, &data, Some("order-1")).await;
    assert_eq!(
        (first_status, second_status),
        (200, 200),
        "{first} {second}"
    );
    assert_eq!(first["transaction_id"], second["transaction_id"]);

    let id = first["transaction_id"].as_str().unwrap_or_default();
    stack.wait_for_status(id, "confirmed", MINED_WITHIN).await;
    let (_, repeat) = stack.post(ADD_WEIGHT, &data, Some("order-1")).await;
    assert_eq!(repeat["transaction_id"], first["transaction_id"]);
    assert_eq!(
        repeat["status"], "confirmed",
        "a late repeat reports the current status"
    );

    // The same key with a different request is refused, not silently answered.
    let other = add_weight_data(Address::repeat_byte(0x33), 8);
    let (status, refused) = stack.post(ADD_WEIGHT, &other, Some("order-1")).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "idempotency_key_reused");

    let (_, listing) = stack.get("/transactions").await;
    assert_eq!(
        listing["transactions"].as_array().map(Vec::len),
        Some(1),
        "{listing}"
    );
    let count = stack
        .node
        .get_transaction_count(stack.provisioned.signer_address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count, 1, "one transaction on chain");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listing_is_newest_first_filtered_by_status_and_paginated() {
    let stack = TestStack::start("list").await;
    let mut ids = Vec::new();
    for i in 0..5u64 {
        ids.push(
            stack
                .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x44), i))
                .await,
        );
    }
    for id in &ids {
        stack.wait_for_status(id, "confirmed", MINED_WITHIN).await;
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/transactions?limit=2&status=confirmed".to_owned(),
            Some(c) => format!("/transactions?limit=2&status=confirmed&cursor={c}"),
        };
        let (status, page) = stack.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["transactions"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|t| t["transaction_id"].as_str().unwrap_or_default().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(seen.len() <= 5, "pagination must end: {seen:?}");
    }
    assert_eq!(seen, newest_first);

    // Filters: message type (any spelling), date range, search by id and by hash; counts.
    let (_, typed) = stack
        .get("/transactions?message_type=add_weight(address%20a,uint256%20b)")
        .await;
    assert_eq!(
        typed["transactions"].as_array().map(Vec::len),
        Some(5),
        "{typed}"
    );
    let (_, other_type) = stack.get("/transactions?message_type=ping()").await;
    assert_eq!(other_type["transactions"].as_array().map(Vec::len), Some(0));
    let today = time::OffsetDateTime::now_utc().date();
    let (_, in_range) = stack
        .get(&format!("/transactions?from={today}&to={today}"))
        .await;
    assert_eq!(
        in_range["transactions"].as_array().map(Vec::len),
        Some(5),
        "{in_range}"
    );
    let (_, before) = stack
        .get(&format!(
            "/transactions?to={}",
            today.previous_day().unwrap_or(today)
        ))
        .await;
    assert_eq!(
        before["transactions"].as_array().map(Vec::len),
        Some(0),
        "{before}"
    );
    let (_, by_id) = stack.get(&format!("/transactions?q={}", ids[2])).await;
    assert_eq!(by_id["transactions"][0]["transaction_id"], ids[2].as_str());
    let hash = stack.transaction(&ids[3]).await["tx_hash"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, by_hash) = stack.get(&format!("/transactions?q={hash}")).await;
    assert_eq!(
        by_hash["transactions"].as_array().map(Vec::len),
        Some(1),
        "{by_hash}"
    );
    assert_eq!(
        by_hash["transactions"][0]["transaction_id"],
        ids[3].as_str()
    );
    let (_, stats) = stack.get("/transactions/stats").await;
    assert_eq!(
        (
            stats["passed"].as_u64(),
            stats["failed"].as_u64(),
            stats["pending"].as_u64()
        ),
        (Some(5), Some(0), Some(0)),
        "{stats}"
    );

    let (_, received) = stack.get("/transactions?status=received").await;
    assert_eq!(received["transactions"].as_array().map(Vec::len), Some(0));
    let (status, bad) = stack.get("/transactions?cursor=garbage").await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );
    let (status, missing) = stack
        .get(&format!(
            "/transactions/{}",
            "0190a000-0000-7000-8000-000000000000"
        ))
        .await;
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_publish_answers_5xx_and_leaves_nothing_behind() {
    let mut stack = TestStack::start_with("nopublish", Default::default(), 0).await;
    if let Some(running) = stack.running.take() {
        running.shutdown().await;
    }
    // The same stack, but the API publishes to a topic that does not exist: a real SNS error.
    let mut broken = stack.provisioned.clone();
    broken.topic_arn = format!("{}-missing", broken.topic_arn);
    let options = devstack::RunnerOptions {
        api_addr: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        pollers_per_queue: 0,
        api_keys: stack.api_keys.clone(),
        ..Default::default()
    };
    let running = devstack::start(&stack.sdk, &broken, &options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stack.api_url = running.api_url();
    stack.client = integration_tests::api_client(&stack.api_url, &stack.api_keys);
    stack.running = Some(running);

    let data = add_weight_data(Address::repeat_byte(0x55), 1);
    let (status, body) = stack.post(ADD_WEIGHT, &data, Some("will-fail")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "not_queued");
    assert!(
        !body.to_string().contains("arn:"),
        "no internals in the answer: {body}"
    );

    let (_, listing) = stack.get("/transactions").await;
    assert_eq!(
        listing["transactions"].as_array().map(Vec::len),
        Some(0),
        "nothing half-written: {listing}"
    );
    stack.stop().await;
}
