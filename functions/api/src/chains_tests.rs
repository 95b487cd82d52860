//! Several chains from one deployment: a request names its chain or gets the default one,
//! each chain keeps its own allowlist, and views, lists and `/health` tell the chains apart.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tx_fakes::RecordingQueue;
use tx_shared::adapters::memory::MemoryStore;
use tx_shared::lanes::KeyPool;

use super::*;
use crate::tests::call;

const KEY: &str = "alice-key-0123456789";
const PING: &str = "0x5c36b186";

/// A key that only has an address.
struct At(Address);

impl TransactionSigner for At {
    async fn address(&self) -> Result<Address, tx_shared::ports::SignError> {
        Ok(self.0)
    }
    async fn sign(
        &self,
        _: alloy::consensus::TxEip1559,
    ) -> Result<tx_shared::ports::Signature, tx_shared::ports::SignError> {
        Err(tx_shared::ports::SignError::Failed("not here".into()))
    }
}

type ChainsApp = App<MemoryStore, RecordingQueue, At>;

/// anvil (the default, anything allowed) and base (only `ping()`), a lane each.
fn two_chains() -> Arc<ChainsApp> {
    let anvil = ServedChain::new(
        31337,
        MessageTypePolicy::allow_all(),
        KeyPool::one(At(Address::repeat_byte(0xa1))),
    );
    let base = ServedChain::new(
        8453,
        MessageTypePolicy::allow_only(["ping()"]).unwrap_or_else(|e| panic!("{e}")),
        KeyPool::one(At(Address::repeat_byte(0xb1))),
    );
    let chains =
        ByChain::new(vec![(31337, anvil), (8453, base)]).unwrap_or_else(|| panic!("two chains"));
    Arc::new(
        App::new(MemoryStore::new(), RecordingQueue::default(), chains, None).with_auth(
            Authenticator::Local(LocalAuth {
                api_keys: tx_shared::auth::ApiKeys::parse(&format!("alice:{KEY}"))
                    .unwrap_or_else(|e| panic!("{e}")),
                admin_token: "admin-token-0123456789".into(),
            }),
        ),
    )
}

fn post(body: Value, idempotency_key: Option<&str>) -> Request<Body> {
    let request = Request::post("/transaction/broadcast")
        .header("content-type", "application/json")
        .header("x-api-key", KEY);
    idempotency_key
        .iter()
        .fold(request, |r, key| r.header("idempotency-key", *key))
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("x-api-key", KEY)
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Sends a ping to `chain` (none: no `chain` field); the stored transaction's chain.
async fn chain_of_ping(app: &Arc<ChainsApp>, chain: Option<Value>) -> u64 {
    let mut body = json!({ "message_type": "ping()", "data": PING });
    if let Some(chain) = chain {
        body["chain"] = chain;
    }
    let (status, json) = call(app, post(body, None)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let id = json["transaction_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, view) = call(app, get(&format!("/transactions/{id}"))).await;
    view["chain_id"].as_u64().unwrap_or_default()
}

#[tokio::test]
async fn a_request_goes_to_the_chain_it_names_or_to_the_default_one() {
    let app = two_chains();
    assert_eq!(chain_of_ping(&app, None).await, 31337);
    for named in [json!(8453), json!("base"), json!("BASE"), json!("8453")] {
        assert_eq!(
            chain_of_ping(&app, Some(named.clone())).await,
            8453,
            "{named}"
        );
    }
    assert_eq!(chain_of_ping(&app, Some(json!("anvil"))).await, 31337);
}

#[tokio::test]
async fn an_unknown_chain_is_422_and_a_chain_that_is_no_chain_is_400() {
    let app = two_chains();
    for asked in [
        json!(1),
        json!("ethereum"),
        json!(""),
        json!("x".repeat(10_000)),
    ] {
        let body = json!({ "message_type": "ping()", "data": PING, "chain": asked });
        let (status, json) = call(&app, post(body, None)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
        assert_eq!(json["error"]["code"], "unknown_chain", "{json}");
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.ends_with("this deployment serves 31337 (anvil), 8453 (base)"),
            "{message}"
        );
        assert!(
            message.len() < 200,
            "the client's text is bounded: {message}"
        );
    }
    for asked in [
        json!(true),
        json!(null),
        json!(-1),
        json!(1.5),
        json!([8453]),
    ] {
        let body = json!({ "message_type": "ping()", "data": PING, "chain": asked });
        let (status, json) = call(&app, post(body, None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{asked}: {json}");
        assert_eq!(json["error"]["code"], "invalid_field_type", "{json}");
    }
    assert!(app.publisher.enqueued().is_empty(), "nothing was accepted");
}

#[tokio::test]
async fn each_chain_keeps_its_own_allowlist() {
    let app = two_chains();
    let add_weight = json!({
        "message_type": "add_weight(address,uint256)",
        "data": "0x1c41742f0000000000000000000000001111111111111111111111111111111111111111000000000000000000000000000000000000000000000000000000000000002a",
    });
    let (status, _) = call(&app, post(add_weight.clone(), None)).await;
    assert_eq!(status, StatusCode::OK, "anvil allows it");
    let mut on_base = add_weight;
    on_base["chain"] = json!("base");
    let (status, json) = call(&app, post(on_base, None)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json["error"]["code"], "message_type_not_allowed");
}

#[tokio::test]
async fn an_idempotency_key_names_one_request_on_one_chain() {
    let app = two_chains();
    let ping = json!({ "message_type": "ping()", "data": PING });
    let (status, first) = call(&app, post(ping.clone(), Some("k-1"))).await;
    assert_eq!(status, StatusCode::OK);
    // The same request again: the same transaction; named by the default chain's id, too.
    let mut named_default = ping.clone();
    named_default["chain"] = json!(31337);
    for again in [ping.clone(), named_default] {
        let (status, json) = call(&app, post(again, Some("k-1"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["transaction_id"], first["transaction_id"]);
    }
    // The same call on another chain is another request: the key can't name both.
    let mut on_base = ping;
    on_base["chain"] = json!("base");
    let (status, json) = call(&app, post(on_base, Some("k-1"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(json["error"]["code"], "idempotency_key_reused", "{json}");
}

#[tokio::test]
async fn a_key_never_names_a_request_on_another_chain_after_the_default_moves() {
    let before = two_chains();
    let ping = json!({ "message_type": "ping()", "data": PING });
    let (status, _) = call(&before, post(ping.clone(), Some("k-2"))).await;
    assert_eq!(status, StatusCode::OK);
    // The same table, served with base as the default chain: the same body and key now mean
    // base, and the stored request is anvil's.
    let served = |id: u64, policy| ServedChain::new(id, policy, KeyPool::one(At(Address::ZERO)));
    let chains = ByChain::new(vec![
        (8453, served(8453, MessageTypePolicy::allow_all())),
        (31337, served(31337, MessageTypePolicy::allow_all())),
    ])
    .unwrap_or_else(|| panic!("two chains"));
    let after = Arc::new(
        App::new(
            before.store.clone(),
            RecordingQueue::default(),
            chains,
            None,
        )
        .with_auth(before.auth.clone()),
    );
    let (status, json) = call(&after, post(ping, Some("k-2"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(json["error"]["code"], "idempotency_key_reused", "{json}");
}

#[tokio::test]
async fn lists_filter_by_chain_and_by_lane() {
    let app = two_chains();
    chain_of_ping(&app, None).await;
    chain_of_ping(&app, Some(json!("base"))).await;
    let listed = |uri: &'static str| {
        let app = app.clone();
        async move {
            let (status, json) = call(&app, get(uri)).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {json}");
            json["transactions"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|t| t["chain_id"].as_u64().unwrap_or_default())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }
    };
    assert_eq!(listed("/transactions?chain=base").await, vec![8453]);
    assert_eq!(listed("/transactions?chain=31337").await, vec![31337]);
    // A chain no longer served is still listed by its id.
    assert!(listed("/transactions?chain=1").await.is_empty());
    // Nothing took a nonce yet: no transaction is on a lane.
    let lane = format!("/transactions?lane={}", Address::repeat_byte(0xa1));
    let (status, json) = call(&app, get(&lane)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["transactions"], json!([]));
    // The counts too.
    for (uri, pending) in [
        ("/transactions/stats", 2),
        ("/transactions/stats?chain=base", 1),
        ("/transactions/stats?chain=8453", 1),
        ("/transactions/stats?chain=1", 0),
    ] {
        let (status, json) = call(&app, get(uri)).await;
        assert_eq!(
            (status, json["pending"].as_u64()),
            (StatusCode::OK, Some(pending)),
            "{uri}: {json}"
        );
    }
    for bad in [
        "/transactions?chain=ethereum",
        "/transactions?lane=0x12",
        "/transactions/stats?chain=ethereum",
        "/transactions/stats?status=confirmed",
    ] {
        let (status, json) = call(&app, get(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {json}");
        assert_eq!(json["error"]["code"], "invalid_query");
    }
}

#[tokio::test]
async fn health_reports_every_chain_the_default_first() {
    let app = two_chains();
    let (status, json) = call(
        &app,
        Request::get("/health")
            .body(Body::empty())
            .unwrap_or_default(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["chain_id"], 31337);
    assert_eq!(
        json["signer_address"],
        Address::repeat_byte(0xa1).to_string()
    );
    let chains: Vec<(Value, Value, Value)> = json["chains"]
        .as_array()
        .map(|chains| {
            chains
                .iter()
                .map(|c| {
                    (
                        c["chain_id"].clone(),
                        c["name"].clone(),
                        c["default"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        chains,
        vec![
            (json!(31337), json!("anvil"), json!(true)),
            (json!(8453), json!("base"), json!(false)),
        ]
    );
    assert_eq!(
        json["chains"][1]["lanes"][0]["address"],
        Address::repeat_byte(0xb1).to_string()
    );
}
