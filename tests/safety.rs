//! Safety against the emulator and anvil: each client sees only its own transactions and
//! idempotency keys; the signer re-checks what it signs; what a transaction may spend is capped
//! at its first signature.

use std::time::Duration;

use alloy::primitives::{Address, Bytes};
use devstack::RunnerOptions;
use integration_tests::{ADD_WEIGHT, TestStack, add_weight_data, client_http};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tx_shared::adapters::sns::SnsPublisher;
use tx_shared::auth::ApiKeys;
use tx_shared::domain::{NewTransaction, TxId, TxMessage};
use tx_shared::ports::{Intake as _, RequestPublisher};
use tx_shared::validation::MessageTypePolicy;

const ALICE: &str = "alice-key-0123456789abcdef";
const BOB: &str = "bob-key-0123456789abcdef";
const ADMIN: &str = "safety-admin-token-0123456789";

fn keys(raw: &str) -> ApiKeys {
    ApiKeys::parse(raw).unwrap_or_else(|e| panic!("{e}"))
}

async fn get_json(http: &reqwest::Client, url: String, admin: bool) -> (u16, Value) {
    let mut request = http.get(url);
    if admin {
        request = request.bearer_auth(ADMIN);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("GET: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_as(
    http: &reqwest::Client,
    api: &str,
    weight: u64,
    idempotency_key: &str,
) -> (u16, Value) {
    let body = json!({ "message_type": ADD_WEIGHT, "data": add_weight_data(Address::repeat_byte(0x5a), weight) });
    let response = http
        .post(format!("{api}/transaction/broadcast"))
        .header("content-type", "application/json")
        .header("Idempotency-Key", idempotency_key)
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn ids(listing: &Value) -> Vec<String> {
    listing["transactions"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|tx| tx["transaction_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_client_sees_only_its_own_and_idempotency_keys_are_its_own() {
    let options = RunnerOptions {
        api_keys: keys(&format!("alice:{ALICE},bob:{BOB}")),
        admin_token: ADMIN.into(),
        ..RunnerOptions::default()
    };
    // The API only: the records stay `received`, which is all reading needs.
    let stack = TestStack::start_with("scoping", options, 0).await;
    let api = &stack.api_url;
    let alice = client_http(&keys(&format!("alice:{ALICE}")));
    let bob = client_http(&keys(&format!("bob:{BOB}")));

    // The same key, two clients, two different requests: two transactions, no 422.
    let (status, a) = post_as(&alice, api, 1, "order-1").await;
    assert_eq!(status, 200, "{a}");
    let (status, b) = post_as(&bob, api, 2, "order-1").await;
    assert_eq!(status, 200, "{b}");
    let (a, b) = (
        a["transaction_id"].as_str().unwrap_or_default().to_owned(),
        b["transaction_id"].as_str().unwrap_or_default().to_owned(),
    );
    assert_ne!(a, b);
    // A repeat is still idempotent within a client.
    let (status, again) = post_as(&alice, api, 1, "order-1").await;
    assert_eq!(
        (status, again["transaction_id"].as_str()),
        (200, Some(a.as_str()))
    );
    let (status, reused) = post_as(&alice, api, 3, "order-1").await;
    assert_eq!(status, 422, "{reused}");
    assert!(
        !reused.to_string().contains(&b),
        "names only alice's own: {reused}"
    );

    // Reads: bob's transaction does not exist for alice, by id, by search or in a listing.
    let (status, body) = get_json(&alice, format!("{api}/transactions/{b}"), false).await;
    assert_eq!(status, 404, "{body}");
    assert!(!body.to_string().contains("bob"), "{body}");
    let (_, found) = get_json(&alice, format!("{api}/transactions?q={b}"), false).await;
    assert!(ids(&found).is_empty(), "{found}");
    let (status, listing) = get_json(&alice, format!("{api}/transactions?limit=100"), false).await;
    assert_eq!(status, 200, "{listing}");
    assert_eq!(ids(&listing), vec![a.clone()]);
    let (_, stats) = get_json(&alice, format!("{api}/transactions/stats"), false).await;
    assert_eq!(stats["pending"], 1, "{stats}");

    // A page at a time: a client's cursor still shows only its own; a forged one is a 400,
    // and so is another client's.
    let (_, more) = post_as(&bob, api, 4, "order-2").await;
    let (_, first) = get_json(&bob, format!("{api}/transactions?limit=1"), false).await;
    assert_eq!(ids(&first).len(), 1, "{first}");
    let bobs_cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!bobs_cursor.is_empty(), "bob has a second page: {first}");
    let (_, second) = get_json(
        &bob,
        format!("{api}/transactions?limit=1&cursor={bobs_cursor}"),
        false,
    )
    .await;
    let mut bobs: Vec<String> = ids(&first).into_iter().chain(ids(&second)).collect();
    bobs.sort();
    let mut expected = vec![
        b.clone(),
        more["transaction_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    ];
    expected.sort();
    assert_eq!(bobs, expected);
    let (status, theirs) = get_json(
        &alice,
        format!("{api}/transactions?cursor={bobs_cursor}"),
        false,
    )
    .await;
    assert_eq!(
        (status, theirs["error"]["code"].as_str()),
        (400, Some("invalid_query")),
        "{theirs}"
    );
    let (status, forged) = get_json(
        &alice,
        format!("{api}/transactions?cursor=eyJwayI6IklERU0jYm9iI29yZGVyLTEiLCJpZCI6IngiLCJraW5kIjoidHgifQ"),
        false,
    )
    .await;
    assert_eq!(
        (status, forged["error"]["code"].as_str()),
        (400, Some("invalid_query")),
        "{forged}"
    );

    // Operators see everyone's.
    let (_, all) = get_json(&alice, format!("{api}/transactions?limit=100"), true).await;
    let all = ids(&all);
    assert!(all.contains(&a) && all.contains(&b), "{all:?}");
    let (status, view) = get_json(&alice, format!("{api}/transactions/{b}"), true).await;
    assert_eq!((status, view["client_id"].as_str()), (200, Some("bob")));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_signer_refuses_what_reached_the_table_without_the_allowlist() {
    let options = RunnerOptions {
        policy: MessageTypePolicy::allow_only([ADD_WEIGHT]).unwrap_or_else(|e| panic!("{e}")),
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_with("signer-allowlist", options, 2).await;
    let (store, _, _) = stack.adapters();
    // `transferOwnership(address)`, written to the table and published as the API would.
    let data: Bytes = alloy::primitives::hex::decode(
        "f2fde38b0000000000000000000000000000000000000000000000000000000000000bad",
    )
    .map(Bytes::from)
    .unwrap_or_else(|e| panic!("{e}"));
    let id = TxId::generate();
    store
        .insert_new(&NewTransaction {
            id,
            message_type: "transferOwnership(address)".into(),
            function_signature: "transferOwnership(address)".into(),
            data,
            chain_id: stack.provisioned.chain_id,
            client: "local".parse().unwrap_or_else(|e| panic!("{e}")),
            idempotency: None,
            created_at: OffsetDateTime::now_utc(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    SnsPublisher::new(
        aws_sdk_sns::Client::new(&stack.sdk),
        &stack.provisioned.topic_arn,
    )
    .publish(&TxMessage::new(id))
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let operator = integration_tests::http_client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let view = loop {
        let response = operator
            .get(format!("{}/transactions/{id}", stack.api_url))
            .bearer_auth(&stack.admin_token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let view: Value = response.json().await.unwrap_or(Value::Null);
        if view["status"] == "needs_review" {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not refused in time: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let reason = view["last_error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("refused to sign") && reason.contains("message_type_not_allowed"),
        "{view}"
    );
    // Unsigned, and no nonce was taken for it.
    assert!(
        view["nonce"].is_null() && view["tx_hash"].is_null(),
        "{view}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spend_caps_apply_at_the_first_signature() {
    // The call needs about 26k gas with the margin: a 25k cap refuses it for good.
    let options = RunnerOptions {
        caps: signer::SpendCaps {
            max_gas_limit: 25_000,
            ..signer::SpendCaps::default()
        },
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_with("gas-cap", options, 2).await;
    let view = stack
        .submit_until_error(
            Address::repeat_byte(0x61),
            "needs_review",
            "gas_limit_above_cap",
            Duration::from_secs(60),
        )
        .await;
    assert!(view["nonce"].is_null(), "no nonce is taken: {view}");
    stack.stop().await;

    // A fee cap below what the network asks: the transaction waits, its attempts untouched.
    let options = RunnerOptions {
        caps: signer::SpendCaps {
            max_fee_per_gas: 1,
            ..signer::SpendCaps::default()
        },
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_with("fee-cap", options, 2).await;
    let view = stack
        .submit_until_error(
            Address::repeat_byte(0x62),
            "retrying",
            "fee_above_cap",
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(
        view["attempts"], 0,
        "waiting is not a failed attempt: {view}"
    );
    assert!(
        view["nonce"].is_null() && view["tx_hash"].is_null(),
        "{view}"
    );
    assert!(view["next_attempt_at"].is_string(), "{view}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unfunded_signer_waits_without_burning_attempts_and_resumes_when_funded() {
    let stack = TestStack::start("unfunded").await;
    let signer = stack.provisioned.signer_address.to_string();
    let set_balance = |wei: &'static str| {
        let signer = signer.clone();
        async move {
            integration_tests::rpc(
                &integration_tests::http_client(),
                &integration_tests::rpc_url(),
                "anvil_setBalance",
                json!([signer, wei]),
            )
            .await
            .unwrap_or_else(|e| panic!("anvil_setBalance: {e}"))
        }
    };
    set_balance("0x0").await;
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x63), 1))
        .await;
    let waiting = stack
        .wait_until(&id, Duration::from_secs(60), |tx| {
            tx["status"] == "retrying"
                && tx["last_error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("insufficient_funds"))
        })
        .await;
    assert_eq!(
        waiting["attempts"], 0,
        "a wait is not a failed attempt: {waiting}"
    );
    assert_eq!(waiting["dead_lettered"], false, "{waiting}");

    // Funded again, an operator skips the rest of the wait and it goes through.
    set_balance("0x56bc75e2d63100000").await;
    let retried = stack
        .http
        .post(format!("{}/admin/transactions/{id}/retry", stack.api_url))
        .bearer_auth(&stack.admin_token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(retried.status().as_u16(), 200);
    let done = stack
        .wait_for_status(&id, "confirmed", Duration::from_secs(60))
        .await;
    assert_eq!(done["attempts"], 0, "{done}");
    stack.stop().await;
}
