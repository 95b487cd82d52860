//! The webhook routes on the in-memory store (whose contract with DynamoDB is
//! `tests/store_contract.rs`): who may do what, what is refused and how, and that a secret is
//! shown once.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tx_fakes::RecordingQueue;
use tx_shared::adapters::memory::MemoryStore;
use tx_shared::lanes::KeyPool;

use super::*;
use crate::tests::call;

const ALICE: &str = "alice-key-0123456789";
const BOB: &str = "bob-key-0123456789ab";
const ADMIN: &str = "admin-token-0123456789";

struct NoKey;

impl TransactionSigner for NoKey {
    async fn address(&self) -> Result<Address, tx_shared::ports::SignError> {
        Ok(Address::repeat_byte(0xa1))
    }
    async fn sign(
        &self,
        _: alloy::consensus::TxEip1559,
    ) -> Result<tx_shared::ports::Signature, tx_shared::ports::SignError> {
        Err(tx_shared::ports::SignError::Failed("not here".into()))
    }
}

type WebhooksApp = App<MemoryStore, RecordingQueue, NoKey>;

fn app() -> Arc<WebhooksApp> {
    let chain = ServedChain::new(31337, MessageTypePolicy::allow_all(), KeyPool::one(NoKey));
    Arc::new(
        App::new(
            MemoryStore::new(),
            RecordingQueue::default(),
            ByChain::one(31337, chain),
            None,
        )
        .with_auth(Authenticator::Local(LocalAuth {
            api_keys: tx_shared::auth::ApiKeys::parse(&format!("alice:{ALICE},bob:{BOB}"))
                .unwrap_or_else(|e| panic!("{e}")),
            admin_token: ADMIN.into(),
        })),
    )
}

fn request(method: &str, uri: &str, who: &str, body: Option<Value>) -> Request<Body> {
    let request = Request::builder().method(method).uri(uri);
    let request = if who == ADMIN {
        request.header("authorization", format!("Bearer {ADMIN}"))
    } else {
        request.header("x-api-key", who)
    };
    match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn register(app: &Arc<WebhooksApp>, who: &str, url: &str) -> (StatusCode, Value) {
    call(
        app,
        request(
            "POST",
            "/webhooks",
            who,
            Some(json!({ "url": url, "events": ["confirmed", "accepted"] })),
        ),
    )
    .await
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_client_registers_an_endpoint_and_sees_its_secret_once() {
    let app = app();
    let (status, created) = register(&app, ALICE, "https://hooks.example.com/tx").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(created["events"], json!(["accepted", "confirmed"]));
    assert_eq!(created["previous_secret_expires_at"], Value::Null);
    let (status, listed) = call(&app, request("GET", "/webhooks", ALICE, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["endpoints"][0]["id"], created["id"]);
    assert!(
        !listed.to_string().contains(&secret),
        "a listing showed the secret"
    );
    // Another client's listing is its own.
    let (_, bobs) = call(&app, request("GET", "/webhooks", BOB, None)).await;
    assert_eq!(bobs["endpoints"], json!([]));
}

#[tokio::test]
async fn a_wrong_registration_is_refused_with_what_is_wrong_and_stores_nothing() {
    let app = app();
    for (body, status, expected) in [
        (
            json!({"url": "http://hooks.example.com/"}),
            400,
            "invalid_body",
        ),
        (
            json!({"url": "https://a.com/", "events": ["confirmed"], "urls": 1}),
            400,
            "invalid_body",
        ),
        (
            json!({"url": 1, "events": ["confirmed"]}),
            400,
            "invalid_body",
        ),
        (
            json!({"url": "http://hooks.example.com/", "events": ["confirmed"]}),
            422,
            "invalid_url",
        ),
        (
            json!({"url": "https://10.0.0.1/", "events": ["confirmed"]}),
            422,
            "url_not_allowed",
        ),
        (
            json!({"url": "https://169.254.169.254/", "events": ["confirmed"]}),
            422,
            "url_not_allowed",
        ),
        (
            json!({"url": "https://localhost:8080/", "events": ["confirmed"]}),
            422,
            "url_not_allowed",
        ),
        (
            json!({"url": "https://a.com/", "events": []}),
            422,
            "invalid_events",
        ),
        (
            json!({"url": "https://a.com/", "events": ["settled"]}),
            422,
            "invalid_events",
        ),
        (
            json!({"url": "https://a.com/", "events": ["confirmed"], "description": "x".repeat(201)}),
            422,
            "invalid_description",
        ),
        (json!(["https://a.com/"]), 400, "body_not_object"),
    ] {
        let (got, answer) = call(
            &app,
            request("POST", "/webhooks", ALICE, Some(body.clone())),
        )
        .await;
        assert_eq!(
            (got.as_u16(), code(&answer)),
            (status, expected),
            "{body}: {answer}"
        );
    }
    let not_json = Request::post("/webhooks")
        .header("x-api-key", ALICE)
        .header("content-type", "text/plain")
        .body(Body::from("{}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        call(&app, not_json).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let (_, listed) = call(&app, request("GET", "/webhooks", ALICE, None)).await;
    assert_eq!(listed["endpoints"], json!([]));
}

#[tokio::test]
async fn a_client_has_at_most_ten_endpoints_and_operators_none() {
    let app = app();
    for n in 0..10 {
        let (status, _) = register(&app, ALICE, &format!("https://hooks{n}.example.com/")).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, answer) = register(&app, ALICE, "https://one-more.example.com/").await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNPROCESSABLE_ENTITY, "too_many_endpoints")
    );
    let (status, answer) = register(&app, ADMIN, "https://hooks.example.com/").await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let (status, _) = call(&app, request("GET", "/webhooks", ADMIN, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_rotation_answers_a_new_secret_and_how_long_the_old_one_signs() {
    let app = app();
    let (_, created) = register(&app, ALICE, "https://hooks.example.com/").await;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let uri = format!("/webhooks/{id}/rotate");
    // No body: the default overlap, a day.
    let (status, rotated) = call(&app, request("POST", &uri, ALICE, None)).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(rotated["secret"], created["secret"]);
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    let (_, listed) = call(&app, request("GET", "/webhooks", ALICE, None)).await;
    assert_eq!(
        listed["endpoints"][0]["previous_secret_expires_at"],
        rotated["previous_secret_expires_at"]
    );
    let (status, now) = call(
        &app,
        request("POST", &uri, ALICE, Some(json!({"overlap_seconds": 0}))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(now["previous_secret_expires_at"], Value::Null);
    for (body, status, expected) in [
        (json!({"overlap_seconds": 604_801}), 422, "invalid_overlap"),
        (json!({"overlap_seconds": -1}), 400, "invalid_body"),
        (json!({"overlap": 1}), 400, "invalid_body"),
    ] {
        let (got, answer) = call(&app, request("POST", &uri, ALICE, Some(body.clone()))).await;
        assert_eq!((got.as_u16(), code(&answer)), (status, expected), "{body}");
    }
    // Another client's endpoint is as absent as one that never was.
    let (status, answer) = call(&app, request("POST", &uri, BOB, None)).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

#[tokio::test]
async fn an_endpoint_is_removed_once_and_only_by_its_client() {
    let app = app();
    let (_, created) = register(&app, ALICE, "https://hooks.example.com/").await;
    let uri = format!("/webhooks/{}", created["id"].as_str().unwrap_or_default());
    assert_eq!(
        call(&app, request("DELETE", &uri, BOB, None)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, request("DELETE", &uri, ALICE, None)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, request("DELETE", &uri, ALICE, None)).await.0,
        StatusCode::NOT_FOUND
    );
    for bad in [
        "/webhooks/nope",
        "/webhooks/we_XYZ",
        "/webhooks/we_0123456789abcdef0123456789abcdeF",
    ] {
        let (status, answer) = call(&app, request("DELETE", bad, ALICE, None)).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::BAD_REQUEST, "invalid_endpoint_id"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn deliveries_are_the_transactions_clients_and_operators_and_redelivery_is_operators() {
    let app = app();
    let submitted = Request::post("/transaction/broadcast")
        .header("content-type", "application/json")
        .header("x-api-key", ALICE)
        .body(Body::from(
            json!({"message_type": "ping()", "data": "0x5c36b186"}).to_string(),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, accepted) = call(&app, submitted).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let id = accepted["transaction_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let uri = format!("/transactions/{id}/deliveries");
    let (status, log) = call(&app, request("GET", &uri, ALICE, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        log,
        json!({"events": [], "attempts": [], "unlogged_events": 0, "unlogged_attempts": 0})
    );
    assert_eq!(
        call(&app, request("GET", &uri, ADMIN, None)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, request("GET", &uri, BOB, None)).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, answer) = call(
        &app,
        request("GET", "/transactions/nope/deliveries", ALICE, None),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::BAD_REQUEST, "invalid_transaction_id")
    );
    let redeliver = format!("/admin/transactions/{id}/redeliver");
    let (status, _) = call(&app, request("POST", &redeliver, ALICE, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = call(
        &app,
        request(
            "POST",
            &redeliver,
            ADMIN,
            Some(json!({"event_id": "evt_nope"})),
        ),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::BAD_REQUEST, "invalid_body")
    );
    // No webhook queue in this app: re-delivery can't be queued, and says so without details.
    let (status, answer) = call(&app, request("POST", &redeliver, ADMIN, None)).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable")
    );
}
